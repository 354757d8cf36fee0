//! Pricing a session's facts with the engine, and pricing it again: pure functions, shared by the
//! aggregate and the bulk re-rating run ([`crate::rerate`]) so that both record the very same event.

use chrono::{DateTime, Utc};
use joule_domain::{ChargerId, Energy, Money, SessionId};
use joule_tariff::{Customer, PricedSession as Breakdown, SessionUsage, Tz};
use rust_decimal::Decimal;

use super::commands::{Pricing, SessionFacts};
use super::events::{Metering, Rerated};
use super::lines::{WireLine, wire_lines};

/// Prices a session's facts: the tariff version, then the contract's discounts.
pub fn price(
    session: &SessionFacts,
    pricing: &Pricing,
    time_zone: &str,
) -> Result<Breakdown, String> {
    let time_zone: Tz = time_zone.parse().map_err(|_| {
        format!(
            "charger {} has no valid time zone: {time_zone:?}",
            session.charger_id
        )
    })?;
    let usage = SessionUsage {
        start: session.started_at,
        end: session.stopped_at,
        energy: Energy::from_wh(session.energy_wh),
        time_zone,
        // The readings shape when the energy was drawn (time-of-day and power restrictions); the
        // engine keeps the billed energy exactly `energy_wh`.
        samples: session
            .metering
            .samples
            .iter()
            .map(|s| (s.at, Energy::from_wh(s.register_wh)))
            .collect(),
        charging_end: session.metering.charging_ended_at,
    };
    let mut breakdown =
        joule_tariff::price_session(&pricing.tariff, &usage).map_err(|e| e.to_string())?;
    if !pricing.discounts.is_empty() {
        let customer = Customer {
            account_id: Some(session.account_id.clone()).filter(|a| !a.is_empty()),
            ..Customer::default()
        };
        joule_tariff::apply_discounts(&mut breakdown, &pricing.discounts, &customer);
    }
    Ok(breakdown)
}

/// The facts a session is priced from again, and its current price.
pub struct RerateInput<'a> {
    pub session_id: SessionId,
    pub account_id: &'a str,
    pub charger_id: ChargerId,
    pub token_uid: &'a str,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub energy_wh: Decimal,
    pub time_zone: &'a str,
    pub total_excl_vat: Money,
    pub total_incl_vat: Money,
    pub lines: &'a [WireLine],
}

/// The adjustment of re-pricing `input` with `pricing`, or `None` when the price does not change.
/// The session's readings and end of charging (`metering`) price the curve and the idle time again
/// as they were. Shared by the aggregate and the bulk re-rating run (which reads the readings from
/// `priced_sessions.metering`), so both record the very same event.
pub fn rerate(
    input: &RerateInput<'_>,
    metering: &Metering,
    pricing: &Pricing,
    corrected_energy_wh: Option<Decimal>,
    rerating_id: &str,
    reason: &str,
    rerated_at: DateTime<Utc>,
) -> Result<Option<Rerated>, String> {
    let energy_wh = corrected_energy_wh.unwrap_or(input.energy_wh);
    let facts = SessionFacts {
        session_id: input.session_id,
        charger_id: input.charger_id,
        account_id: input.account_id.to_owned(),
        token_uid: String::new(),
        started_at: input.started_at,
        stopped_at: input.stopped_at,
        energy_wh,
        metering: metering.clone(),
    };
    let breakdown = price(&facts, pricing, input.time_zone)?;
    if breakdown.total_excl_vat == input.total_excl_vat.amount
        && breakdown.total_incl_vat == input.total_incl_vat.amount
    {
        return Ok(None);
    }
    Ok(Some(Rerated {
        adjustment_id: format!("{rerating_id}/{}", input.session_id),
        rerating_id: rerating_id.to_owned(),
        session_id: input.session_id,
        account_id: input.account_id.to_owned(),
        charger_id: input.charger_id,
        token_uid: input.token_uid.to_owned(),
        tariff_id: pricing.tariff_id,
        tariff_version: pricing.tariff_version,
        reason: reason.to_owned(),
        energy_wh,
        previous_total_excl_vat: input.total_excl_vat,
        previous_total_incl_vat: input.total_incl_vat,
        total_excl_vat: Money::new(breakdown.total_excl_vat, breakdown.currency),
        total_incl_vat: Money::new(breakdown.total_incl_vat, breakdown.currency),
        reversed_lines: input.lines.iter().map(WireLine::reversed).collect(),
        new_lines: wire_lines(&breakdown),
        rerated_at,
    }))
}
