//! What a tariff records. Every event type is at version 1.0, the shape it was first stored in
//! (`TariffCreated` and `TariffRetired` are also read straight from the event store by
//! [`crate::projections::tariffs`]; a change of their shape needs an upcaster there too).
//!
//! The ids in [`Scope`] and [`Party`] are the caller's, as given: a site, charger or fleet is named
//! by whatever id the operator uses for it, so they stay strings.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::Currency;
use joule_tariff::Discount;
use serde::{Deserialize, Serialize};

/// Where an assignment applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scope {
    Site {
        site_id: String,
    },
    Charger {
        charger_id: String,
    },
    Connector {
        charger_id: String,
        connector_id: u32,
    },
}

/// Whom a contract override is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Party {
    Account {
        account_id: String,
    },
    Fleet {
        fleet_id: String,
        account_ids: Vec<String>,
    },
}

/// A contract override: whose sessions the tariff prices (with which discounts) while it is valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub party: Party,
    pub discounts: Vec<Discount>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub contracted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TariffEvent {
    /// Version 1.
    TariffCreated {
        /// The OCPI Tariff object as given (validated); pricing parses it again when it uses it.
        tariff: serde_json::Value,
        /// The OCPI `id` inside the object, kept as given; Joule's id is the aggregate id.
        ocpi_id: String,
        currency: Currency,
        created_at: DateTime<Utc>,
    },
    TariffVersionPublished {
        version: u32,
        tariff: serde_json::Value,
        valid_from: DateTime<Utc>,
        published_at: DateTime<Utc>,
    },
    TariffVersionCorrected {
        version: u32,
        tariff: serde_json::Value,
        reason: String,
        corrected_at: DateTime<Utc>,
    },
    TariffAssigned {
        scope: Scope,
        assigned_at: DateTime<Utc>,
    },
    /// Stored as the struct variant it was first (`{"TariffContracted": {"party": ..}}`).
    TariffContracted(Contract),
    TariffRetired {
        retired_at: DateTime<Utc>,
    },
}

impl DomainEvent for TariffEvent {
    fn event_type(&self) -> String {
        match self {
            TariffEvent::TariffCreated { .. } => "TariffCreated",
            TariffEvent::TariffVersionPublished { .. } => "TariffVersionPublished",
            TariffEvent::TariffVersionCorrected { .. } => "TariffVersionCorrected",
            TariffEvent::TariffAssigned { .. } => "TariffAssigned",
            TariffEvent::TariffContracted(_) => "TariffContracted",
            TariffEvent::TariffRetired { .. } => "TariffRetired",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}
