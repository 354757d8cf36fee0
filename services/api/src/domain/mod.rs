//! The registry: sites, chargers, accounts and tokens, each an event-sourced aggregate in schema `api`.
//!
//! Aggregates decide only what they can decide alone (a charge point or token uid is registered once,
//! because its id is derived from the tenant and that key). Checks that need other records (the site
//! exists, the tariff exists) run in the route before the command, and their outcome travels in the
//! command (the site's time zone), so that the events carry everything consumers need.
//!
//! Sites, accounts and tokens are created once and never change: each is a [`Registration`] of its
//! kind ([`registration`]). A charger also has its password set ([`charger`]).

pub mod account;
pub mod charger;
pub mod registration;
pub mod site;
pub mod token;
pub mod values;

pub use registration::{Record, Registration};
pub use values::{Country, Name, time_zone};

/// Asserts that `stored` (an event as the events table holds it, `{"<Variant>": {...}}`) reads as
/// `E` at `version` and writes back byte for byte: typed ids and values serialise as the strings
/// stored before them.
#[cfg(test)]
fn reads_as_stored<E: cqrs_es::DomainEvent>(stored: serde_json::Value, version: &str) -> E {
    let event: E = serde_json::from_value(stored.clone()).expect("the stored event reads");
    assert_eq!(serde_json::to_value(&event).unwrap(), stored);
    assert_eq!(event.event_version(), version);
    event
}
