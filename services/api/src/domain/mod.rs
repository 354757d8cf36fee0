//! The registry: sites, chargers, accounts and tokens, each an event-sourced aggregate in schema `api`.
//!
//! Aggregates decide only what they can decide alone (a charge point or token uid is registered once,
//! because its id is derived from the tenant and that key). Checks that need other records (the site
//! exists, the tariff exists) run in the route before the command, and their outcome travels in the
//! command (the site's time zone), so that the events carry everything consumers need.
//!
//! Tenants and their API keys ([`tenant`], [`api_key`], ADR 034) live here too.
//!
//! [`reservation`]: a charger held for a token (OCPP ReserveNow) and the fee it costs (issue 13).
//!
//! Sites and accounts are created once and never change: each is a [`Registration`] of its kind
//! ([`registration`]). A charger also has its password set ([`charger`]).
//!
//! Fleet records (issue 13) are deciders ([`joule_store::Decider`]): an account holds [`fleet`]s
//! and [`cost_centre`]s; a fleet has [`driver`]s and [`vehicle`]s; a [`token`] is assigned to a
//! driver and/or a vehicle of its account's fleets. Their ids are random or keyed per tenant.

pub mod account;
pub mod api_key;
pub mod charger;
pub mod cost_centre;
pub mod driver;
pub mod fleet;
pub mod ids;
pub mod registration;
pub mod reservation;
pub mod site;
pub mod tenant;
pub mod token;
pub mod values;
pub mod vehicle;

pub use ids::{CostCentreId, DriverId, VehicleId};

pub use registration::{Record, Registration};

use hmac::{Hmac, Mac};
use joule_domain::TenantId;
use sha2::Sha256;

/// The key a record's id derives from: `<tenant>/<business key>` for a tenant without an id key
/// (the default tenant, as before ADR 034); otherwise `<tenant>/<HMAC-SHA256(id key, kind/key)>`,
/// which only someone holding the tenant's id key can compute.
pub fn keyed(tenant: &TenantId, id_key: &str, kind: &str, business_key: &str) -> String {
    if id_key.is_empty() {
        return format!("{tenant}/{business_key}");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(id_key.as_bytes()).expect("HMAC takes any key");
    mac.update(kind.as_bytes());
    mac.update(b"/");
    mac.update(business_key.as_bytes());
    let tag: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{tenant}/{tag}")
}
pub use values::{Code, Country, Email, Name, Status, time_zone};

/// The name and status a fleet or cost centre has after a change that gives `name` and/or
/// `status` (the rest kept); `None` when it leaves both as they are, so a repeated change records
/// nothing.
fn renamed(
    (now_name, now_status): (&Name, Status),
    name: Option<Name>,
    status: Option<Status>,
) -> Option<(Name, Status)> {
    let name = name.unwrap_or_else(|| now_name.clone());
    let status = status.unwrap_or(now_status);
    (name != *now_name || status != now_status).then_some((name, status))
}

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

/// Values the fleet records' given/when/then tests share.
#[cfg(test)]
mod fixtures {
    use chrono::{DateTime, Utc};
    use cqrs_es::test::{AggregateResultValidator, TestFramework};
    use joule_domain::{AccountId, FleetId};
    use joule_store::{Decided, Decider};

    /// Given no events, `create` records `created`; answers what the same command does once it
    /// has (a record is created once).
    pub fn created_once<D: Decider>(
        create: D::Command,
        created: D::Event,
    ) -> AggregateResultValidator<Decided<D>>
    where
        D::Command: Clone,
    {
        TestFramework::<Decided<D>>::with(())
            .given_no_previous_events()
            .when(create.clone())
            .then_expect_events(vec![created.clone()]);
        TestFramework::<Decided<D>>::with(())
            .given(vec![created])
            .when(create)
    }

    pub fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    pub fn fleet() -> FleetId {
        "0f7c2a4e-1b3d-4c5e-8f9a-0b1c2d3e4f5a".parse().unwrap()
    }

    pub fn account() -> AccountId {
        "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d".parse().unwrap()
    }
}
