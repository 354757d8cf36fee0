//! The api's read side.
//!
//! - [`outbox`]: the outbox handler: each stored registry event updates the read tables (in the
//!   relay's transaction) and is published on REGISTRY; tenant and API key events go to
//!   [`identity`] and are published nowhere.
//! - [`read`]: the read tables (sites, chargers, accounts, tokens) and the queries the routes
//!   answer from, limited to a fleet manager's fleets where the record belongs to fleets;
//!   [`fleets`]: the tables of fleets, cost centres, drivers and vehicles.
//! - [`reservations`]: the reservations table, projected by the relay and published nowhere.
//! - [`audit`]: the audit log's table, projected from the `<NS>_AUDIT` stream.

pub mod audit;
pub mod fleets;
pub mod identity;
pub mod outbox;
pub mod read;
pub mod reservations;
