//! Counting a message's attempts, for consumers that wait a while for the registry (a session on a
//! charger registered a moment ago) but must not block their stream for ever.

use std::collections::HashMap;
use std::sync::Mutex;

use joule_bus::Received;

/// Attempts per stream sequence. The bus retries a transient failure in place, which JetStream does
/// not count as a redelivery, so `Received::delivered` alone would never reach a limit.
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
