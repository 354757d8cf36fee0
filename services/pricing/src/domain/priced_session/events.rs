//! What a priced session records, and the version each event type is stored in:
//!
//! | event | version | since the version before |
//! |---|---|---|
//! | `SessionPriced` | 1.1 | `tariff_version`, `tariff_source`, `connector_id` and `metering` were added after 1.0 (read with defaults); [`UPCASTERS`] writes the defaults into a 1.0 event |
//! | `PricingFailed` | 1.0 | |
//! | `SessionRerated` | 2.0 | the four totals are `Money` (amount and currency) instead of decimals beside one `currency`; the upcaster moves the currency into each |

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{ChargerId, Currency, Money, SessionId, TariffId};
use joule_store::Upcaster;
use joule_store::upcast::with_field;
use joule_tariff::PricedSession as Breakdown;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::lines::WireLine;

/// An energy register reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub register_wh: Decimal,
}

/// Where a session ran and how its energy was drawn, from `SessionCompleted`: kept on the priced
/// session so that `SessionPriced` names the charger's transaction and a re-rating prices the same
/// curve and idle time again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metering {
    pub charge_point_id: String,
    pub transaction_id: String,
    /// Register readings, oldest first, the start register at the start time included. Empty:
    /// constant power from start to stop.
    pub samples: Vec<Sample>,
    /// When the car stopped drawing energy; the rest of the session is idle (parking) time.
    pub charging_ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PricedSessionEvent {
    SessionPriced {
        session_id: SessionId,
        charger_id: ChargerId,
        tariff_id: TariffId,
        /// As sessions published it: an account id, or empty when the session has no known account.
        account_id: String,
        token_uid: String,
        energy_wh: Decimal,
        started_at: DateTime<Utc>,
        stopped_at: DateTime<Utc>,
        priced_at: DateTime<Utc>,
        breakdown: Box<Breakdown>,
        tariff_version: u32,
        tariff_source: String,
        connector_id: u32,
        metering: Metering,
    },
    PricingFailed {
        session_id: SessionId,
        /// As `SessionCompleted` named it, kept even when it is no charger id (which may be why
        /// the session could not be priced).
        charger_id: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    SessionRerated(Box<Rerated>),
}

/// A change of a session's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rerated {
    /// Derived from the run and the session: `<rerating_id>/<session_id>`.
    pub adjustment_id: String,
    pub rerating_id: String,
    pub session_id: SessionId,
    /// As the session was priced with it (empty: no known account).
    pub account_id: String,
    pub charger_id: ChargerId,
    pub token_uid: String,
    pub tariff_id: TariffId,
    pub tariff_version: u32,
    pub reason: String,
    /// The energy priced (a meter correction changes it).
    pub energy_wh: Decimal,
    pub previous_total_excl_vat: Money,
    pub previous_total_incl_vat: Money,
    pub total_excl_vat: Money,
    pub total_incl_vat: Money,
    /// What was published before, reversed.
    pub reversed_lines: Vec<WireLine>,
    /// The new price's lines.
    pub new_lines: Vec<WireLine>,
    pub rerated_at: DateTime<Utc>,
}

impl Rerated {
    /// The session's currency.
    pub fn currency(&self) -> Currency {
        self.previous_total_incl_vat.currency
    }

    /// The change of the totals, excluding and including VAT.
    pub fn delta(&self) -> (Decimal, Decimal) {
        // Totals of sessions priced within the request limits (ADR 024) are far inside Decimal's
        // range; saturating keeps a total an older version stored from panicking the relay.
        (
            self.total_excl_vat
                .amount
                .saturating_sub(self.previous_total_excl_vat.amount)
                .normalize(),
            self.total_incl_vat
                .amount
                .saturating_sub(self.previous_total_incl_vat.amount)
                .normalize(),
        )
    }
}

/// The version `SessionRerated` is stored in (the bulk re-rating appends it without the aggregate).
pub const SESSION_RERATED_VERSION: &str = "2.0";

impl DomainEvent for PricedSessionEvent {
    fn event_type(&self) -> String {
        match self {
            PricedSessionEvent::SessionPriced { .. } => "SessionPriced".into(),
            PricedSessionEvent::PricingFailed { .. } => "PricingFailed".into(),
            PricedSessionEvent::SessionRerated(_) => "SessionRerated".into(),
        }
    }

    fn event_version(&self) -> String {
        match self {
            PricedSessionEvent::SessionPriced { .. } => "1.1",
            PricedSessionEvent::PricingFailed { .. } => "1.0",
            PricedSessionEvent::SessionRerated(_) => SESSION_RERATED_VERSION,
        }
        .into()
    }
}

/// `SessionPriced` 1.0 → 1.1: the fields added after the first release, with the defaults 1.0
/// events were read with (no version, source or connector; no readings).
const SESSION_PRICED_1_1: Upcaster = Upcaster {
    event_type: "SessionPriced",
    version: "1.1",
    upcast: |payload| {
        let payload = with_field(payload, "tariff_version", json!(0));
        let payload = with_field(payload, "tariff_source", json!(""));
        let payload = with_field(payload, "connector_id", json!(0));
        with_field(
            payload,
            "metering",
            json!({
                "charge_point_id": "",
                "transaction_id": "",
                "samples": [],
                "charging_ended_at": null
            }),
        )
    },
};

/// `SessionRerated` 1.0 → 2.0: each total becomes `{"amount": .., "currency": ..}` with the
/// event's `currency`, which goes.
const SESSION_RERATED_2_0: Upcaster = Upcaster {
    event_type: "SessionRerated",
    version: SESSION_RERATED_VERSION,
    upcast: totals_as_money,
};

fn totals_as_money(mut payload: Value) -> Value {
    if let Some(rerated) = payload
        .get_mut("SessionRerated")
        .and_then(Value::as_object_mut)
        && let Some(currency) = rerated.remove("currency")
    {
        for field in [
            "previous_total_excl_vat",
            "previous_total_incl_vat",
            "total_excl_vat",
            "total_incl_vat",
        ] {
            if let Some(amount) = rerated.remove(field) {
                rerated.insert(
                    field.to_owned(),
                    json!({ "amount": amount, "currency": currency }),
                );
            }
        }
    }
    payload
}

/// The upcasters of `PricedSession` events, oldest first: for its event store and the relay.
pub const UPCASTERS: &[Upcaster] = &[SESSION_PRICED_1_1, SESSION_RERATED_2_0];
