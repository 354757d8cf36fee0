//! The gateway's durable consumers, one module each, started with `ctx.consumer(..)` in
//! [`crate::start`]:
//!
//! - [`registry`]: the REGISTRY projection (chargers, passwords, tokens).
//! - [`costs`]: pricing's running and final costs shown on chargers (one durable per kind).

pub mod costs;
pub mod registry;

use joule_bus::HandlerError;

/// A message that can never be processed: parked.
fn rejected(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Rejected(e.to_string())
}

/// A database failure: retried in place (or parked, for an error no retry cures).
fn transient(e: sqlx::Error) -> HandlerError {
    joule_store::consumer_error(e)
}
