//! Pricing's durable consumers, one module each: the REGISTRY's chargers ([`registry`]), completed
//! sessions to price ([`session_completed`]) and sessions in progress to estimate
//! ([`running_cost`]). What they share is here: a message's payload, and counting a message's
//! attempts while the registry lags.

pub mod registry;
pub mod running_cost;
pub mod session_completed;

use std::collections::HashMap;
use std::sync::Mutex;

use joule_bus::{HandlerError, Received};

/// How often a session whose charger or tariff is unknown is retried before it is recorded as
/// unpriceable, so that registry lag is waited out but a missing registration does not block the
/// stream for ever.
pub const MAX_ATTEMPTS: i64 = 20;

/// An infrastructure error: the same message is retried.
fn transient(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Transient(e.to_string())
}

/// A failed read of pricing's tables: a database error as the store classifies it
/// (`joule_store::consumer_error`); something stored that cannot be read is retried, never parked.
fn read_error(e: crate::projections::ReadError) -> HandlerError {
    match e {
        crate::projections::ReadError::Database(e) => joule_store::consumer_error(e),
        e => transient(e),
    }
}

/// Attempts per stream sequence, for consumers that wait a while for the registry (a session on a
/// charger registered a moment ago) but must not block their stream for ever. The bus retries a
/// transient failure in place, which JetStream does not count as a redelivery, so
/// `Received::delivered` alone would never reach a limit.
#[derive(Debug, Default)]
pub struct Attempts(Mutex<HashMap<u64, i64>>);

impl Attempts {
    /// Counts one more attempt at `received`; returns how many there were, redeliveries included.
    pub fn count(&self, received: &Received) -> i64 {
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = attempts.entry(received.stream_sequence).or_insert(0);
        // Deliveries of one message are bounded by the consumer's redelivery limit.
        *n = n.saturating_add(1);
        (*n).max(received.delivered)
    }

    /// Forgets `received` once it is handled.
    pub fn forget(&self, received: &Received) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&received.stream_sequence);
    }
}
