//! The running cost of sessions in progress: one row per session in `running_costs` ([`store`]: the
//! tariff chosen at the start, the readings so far, the latest `SessionMetered.sequence` and the
//! latest estimate), and the pure estimate over it. The `pricing-running-cost` consumer
//! ([`crate::consumers::running_cost`]) keeps the rows and publishes each estimate.
//!
//! The tariff version is chosen once, at the start, exactly as final pricing chooses it
//! ([`crate::choice`]), and its OCPI JSON is kept on the row: an estimate (`GetRunningCost`,
//! `EstimateSessionCost`, which the gateway calls while a charger waits) is one primary-key read and
//! the engine, with no other query.
//!
//! Rows stay after the session completes (`completed`), so a late estimate still answers; a session
//! whose tariff cannot be found keeps a row with `unpriced_reason`, so its readings are skipped at
//! once instead of being retried one by one.

mod store;

use chrono::{DateTime, Utc};
use joule_domain::Energy;
use joule_tariff::{Customer, Discount, PricedSession as Breakdown, RunningSession, Tz};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::priced_session::{Sample, WireLine, wire_lines};

pub use store::{advance, complete, insert, load, run_purge};

/// Who, where and when: the start of a session, from `SessionStarted` or a self-contained
/// `SessionMetered`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStart {
    pub session_id: String,
    pub tenant_id: String,
    pub charger_id: String,
    pub charge_point_id: String,
    pub connector_id: u32,
    pub transaction_id: String,
    pub token_uid: String,
    pub account_id: String,
    pub started_at: DateTime<Utc>,
    /// `None` when the charger sent no start register.
    pub meter_start_wh: Option<Decimal>,
}

/// The tariff a running session is estimated with.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningTariff {
    pub tariff_id: String,
    pub tariff_version: u32,
    pub tariff_source: String,
    pub ocpi_json: String,
    pub discounts: Vec<Discount>,
    pub time_zone: String,
    pub currency: String,
}

/// The latest estimate of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    /// `SessionMetered.sequence` it answers; 0 for the estimate at the start.
    pub sequence: u64,
    pub energy_wh: Decimal,
    pub as_of: DateTime<Utc>,
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub lines: Vec<WireLine>,
}

/// A row of `running_costs`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningState {
    pub start: SessionStart,
    /// `None` with `unpriced_reason` when no tariff could be chosen.
    pub tariff: Option<RunningTariff>,
    pub unpriced_reason: Option<String>,
    /// Readings so far (registers), oldest first; the start register is `start.meter_start_wh`.
    pub readings: Vec<Sample>,
    pub latest: Option<Latest>,
    pub completed: bool,
}

/// Why an estimate cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EstimateError {
    #[error("no running cost: {0}")]
    Unpriced(String),
    #[error("{0}")]
    Engine(String),
}

/// Readings merged in time order (ties by register), repeats removed.
pub fn merge(readings: &[Sample], more: &[Sample]) -> Vec<Sample> {
    let mut all: Vec<Sample> = readings.iter().chain(more).cloned().collect();
    all.sort_by_key(|s| (s.at, s.register_wh));
    all.dedup();
    all
}

/// When the car stopped drawing energy: the rule sessions applies to
/// `SessionCompleted.charging_ended_at` (`joule_domain::energy::charging_ended_at`), so the estimate
/// bills the idle time the final price will.
pub fn charging_ended_at(
    readings: &[Sample],
    final_wh: Decimal,
    until: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    joule_domain::energy::charging_ended_at(
        readings
            .iter()
            .map(|r| (r.at, Energy::from_wh(r.register_wh))),
        Energy::from_wh(final_wh),
        until,
    )
}

/// What an estimate is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateInput<'a> {
    pub readings: &'a [Sample],
    /// Energy delivered up to `as_of`.
    pub energy_wh: Decimal,
    /// The register that ends the session, when known (an estimate for a stop); else the latest reading.
    pub final_wh: Option<Decimal>,
    pub as_of: DateTime<Utc>,
}

/// The cost of the session as if it stopped at `input.as_of`: the engine's running estimate with the
/// readings so far and the idle time they show, then the contract's discounts.
pub fn estimate(
    state: &RunningState,
    input: &EstimateInput<'_>,
) -> Result<Breakdown, EstimateError> {
    let Some(tariff) = &state.tariff else {
        return Err(EstimateError::Unpriced(
            state
                .unpriced_reason
                .clone()
                .unwrap_or_else(|| "no tariff".into()),
        ));
    };
    let parsed = joule_tariff::Tariff::parse(&tariff.ocpi_json).map_err(|e| {
        EstimateError::Unpriced(format!(
            "stored tariff {} version {} no longer parses: {e}",
            tariff.tariff_id, tariff.tariff_version
        ))
    })?;
    let time_zone: Tz = tariff.time_zone.parse().map_err(|_| {
        EstimateError::Unpriced(format!(
            "charger {} has no valid time zone: {:?}",
            state.start.charger_id, tariff.time_zone
        ))
    })?;
    let final_wh = input
        .final_wh
        .or_else(|| input.readings.last().map(|r| r.register_wh));
    let charging_end = final_wh.and_then(|f| charging_ended_at(input.readings, f, input.as_of));
    let samples = state
        .start
        .meter_start_wh
        .map(|wh| (state.start.started_at, Energy::from_wh(wh)))
        .into_iter()
        .chain(
            input
                .readings
                .iter()
                .map(|r| (r.at, Energy::from_wh(r.register_wh))),
        )
        .collect();
    let session = RunningSession {
        start: state.start.started_at,
        samples,
        energy_so_far: Energy::from_wh(input.energy_wh.max(Decimal::ZERO)),
        charging_end,
        time_zone,
    };
    let mut breakdown = joule_tariff::running_estimate(&parsed, &session, input.as_of)
        .map_err(|e| EstimateError::Engine(e.to_string()))?;
    if !tariff.discounts.is_empty() {
        let customer = Customer {
            account_id: Some(state.start.account_id.clone()).filter(|a| !a.is_empty()),
            ..Customer::default()
        };
        joule_tariff::apply_discounts(&mut breakdown, &tariff.discounts, &customer);
    }
    Ok(breakdown)
}

/// The latest-estimate record of a breakdown.
pub fn latest(sequence: u64, energy_wh: Decimal, as_of: DateTime<Utc>, b: &Breakdown) -> Latest {
    Latest {
        sequence,
        energy_wh,
        as_of,
        total_excl_vat: b.total_excl_vat,
        total_incl_vat: b.total_incl_vat,
        lines: wire_lines(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, h, m, 0).unwrap()
    }

    fn sample(h: u32, m: u32, wh: Decimal) -> Sample {
        Sample {
            at: t(h, m),
            register_wh: wh,
        }
    }

    fn state(tariff_json: &str) -> RunningState {
        RunningState {
            start: SessionStart {
                session_id: "s".into(),
                tenant_id: "default".into(),
                charger_id: "c".into(),
                charge_point_id: "CP".into(),
                connector_id: 1,
                transaction_id: "7".into(),
                token_uid: "TAG".into(),
                account_id: "acct".into(),
                started_at: t(10, 0),
                meter_start_wh: Some(dec!(1000)),
            },
            tariff: Some(RunningTariff {
                tariff_id: "t".into(),
                tariff_version: 1,
                tariff_source: "charger".into(),
                ocpi_json: tariff_json.into(),
                discounts: vec![],
                time_zone: "UTC".into(),
                currency: "EUR".into(),
            }),
            unpriced_reason: None,
            readings: vec![],
            latest: None,
            completed: false,
        }
    }

    const IDLE: &str = r#"{ "id": "i", "currency": "EUR",
        "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 20, "step_size": 1 }] }],
        "joule": { "idle_fee": { "price_per_hour": 12, "vat": 20, "grace_period_seconds": 600, "step_size": 60 } } }"#;

    #[test]
    fn the_estimate_prices_the_energy_so_far_and_the_idle_time_the_readings_show() {
        let s = state(IDLE);
        let readings = merge(
            &[sample(10, 30, dec!(11000)), sample(11, 0, dec!(21000))],
            &[sample(11, 20, dec!(21000)), sample(11, 0, dec!(21000))],
        );
        assert_eq!(readings.len(), 3, "a repeated reading counts once");
        // 20 kWh at 0.30 = 6.00; idle since 11:00, 40 min at 11:40 - 10 min grace = 30 min at 12/h = 6.00.
        let b = estimate(
            &s,
            &EstimateInput {
                readings: &readings,
                energy_wh: dec!(20000),
                final_wh: None,
                as_of: t(11, 40),
            },
        )
        .unwrap();
        assert_eq!((b.total_excl_vat, b.total_incl_vat), (dec!(12), dec!(14.4)));
        // Still charging at the last reading: no idle fee.
        let b = estimate(
            &s,
            &EstimateInput {
                readings: &readings[..2],
                energy_wh: dec!(20000),
                final_wh: None,
                as_of: t(11, 0),
            },
        )
        .unwrap();
        assert_eq!(b.total_excl_vat, dec!(6));
    }

    #[test]
    fn a_session_without_tariff_has_no_estimate() {
        let mut s = state(IDLE);
        s.tariff = None;
        s.unpriced_reason = Some("charger c has no tariff".into());
        let input = EstimateInput {
            readings: &[],
            energy_wh: Decimal::ZERO,
            final_wh: None,
            as_of: t(10, 0),
        };
        assert_eq!(
            estimate(&s, &input),
            Err(EstimateError::Unpriced("charger c has no tariff".into()))
        );
    }
}
