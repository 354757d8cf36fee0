//! What a priced session is asked to do: price the session once, record why it cannot be priced,
//! or price it again after a correction.

use chrono::{DateTime, Utc};
use joule_domain::{ChargerId, SessionId, TariffId};
use joule_tariff::Discount;
use rust_decimal::Decimal;

use super::events::Metering;

/// What pricing needs to know about a completed session, from `SessionCompleted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub session_id: SessionId,
    pub charger_id: ChargerId,
    /// As sessions published it; empty when the session has no known account.
    pub account_id: String,
    pub token_uid: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub energy_wh: Decimal,
    pub metering: Metering,
}

/// Which tariff version priced a session, and why that tariff.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub tariff_id: TariffId,
    pub tariff_version: u32,
    /// `account_contract`, `fleet_contract`, `connector`, `charger`, `site` or `registry`.
    pub tariff_source: String,
    pub tariff: Box<joule_tariff::Tariff>,
    pub discounts: Vec<Discount>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PricedSessionCommand {
    /// Price the session with the charger's tariff, evaluated in the site's zone.
    PriceSession {
        session: SessionFacts,
        charger_id: ChargerId,
        connector_id: u32,
        pricing: Pricing,
        time_zone: String,
        priced_at: DateTime<Utc>,
    },
    /// Record that the session cannot be priced (no tariff for its charger, unusable session data).
    FailPricing {
        session_id: SessionId,
        /// As the message named it: it may be what is unusable.
        charger_id: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    /// Price the session again: with a corrected tariff version, or a corrected meter reading.
    Rerate {
        rerating_id: String,
        pricing: Pricing,
        corrected_energy_wh: Option<Decimal>,
        reason: String,
        rerated_at: DateTime<Utc>,
    },
}
