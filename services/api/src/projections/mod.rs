//! The registry's read side.
//!
//! - [`outbox`]: the outbox handler: each stored registry event updates the read tables (in the
//!   relay's transaction) and is published on REGISTRY.
//! - [`read`]: the read tables (sites, chargers, accounts, tokens) and the queries the routes
//!   answer from.

pub mod outbox;
pub mod read;
