//! The running cost of sessions in progress: one row per session in `running_costs` (the tariff
//! chosen at the start, the readings so far, the latest `SessionMetered.sequence` and the latest
//! estimate), and the pure estimate over it.
//!
//! The tariff version is chosen once, at the start, exactly as final pricing chooses it
//! ([`crate::choice`]), and its OCPI JSON is kept on the row: an estimate (`GetRunningCost`,
//! `EstimateSessionCost`, which the gateway calls while a charger waits) is one primary-key read and
//! the engine, with no other query.
//!
//! Rows stay after the session completes (`completed`), so a late estimate still answers; a session
//! whose tariff cannot be found keeps a row with `unpriced_reason`, so its readings are skipped at
//! once instead of being retried one by one.

use chrono::{DateTime, Utc};
use joule_domain::Energy;
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_tariff::{Customer, Discount, PricedSession as Breakdown, RunningSession, Tz};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use crate::SCHEMA;
use crate::priced_session::{Sample, WireLine, wire_lines};

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

/// `SessionCostUpdated` (and the `RunningCost` answer) of an estimate.
pub fn cost_message(state: &RunningState, latest: &Latest) -> v1::SessionCostUpdated {
    let s = &state.start;
    let tariff = state.tariff.as_ref();
    v1::SessionCostUpdated {
        session_id: s.session_id.clone(),
        account_id: s.account_id.clone(),
        charger_id: s.charger_id.clone(),
        charge_point_id: s.charge_point_id.clone(),
        connector_id: s.connector_id,
        transaction_id: s.transaction_id.clone(),
        tariff_id: tariff.map(|t| t.tariff_id.clone()).unwrap_or_default(),
        tariff_version: tariff.map_or(0, |t| t.tariff_version),
        currency: tariff.map(|t| t.currency.clone()).unwrap_or_default(),
        energy_wh: latest.energy_wh.normalize().to_string(),
        total_excl_vat: latest.total_excl_vat.normalize().to_string(),
        total_incl_vat: latest.total_incl_vat.normalize().to_string(),
        started_at: Some(to_proto(s.started_at)),
        as_of: Some(to_proto(latest.as_of)),
        sequence: latest.sequence,
        token_uid: s.token_uid.clone(),
    }
}

pub fn running_cost(state: &RunningState, latest: &Latest) -> v1::RunningCost {
    v1::RunningCost {
        cost: Some(cost_message(state, latest)),
        lines: latest.lines.iter().map(WireLine::to_proto).collect(),
    }
}

/// Running state is kept this long after the session completed (for late questions about it).
const KEEP_COMPLETED_DAYS: i64 = 7;
/// A session silent this long without completing (its stop was lost) is forgotten too.
const KEEP_SILENT_DAYS: i64 = 30;

/// Deletes the running state of sessions long completed or long silent, hourly until shutdown.
pub async fn run_purge(
    pool: PgPool,
    shutdown: joule_runtime::CancellationToken,
) -> Result<(), std::convert::Infallible> {
    let hourly = std::time::Duration::from_secs(3600);
    joule_runtime::every("pricing-running-costs-purge", hourly, shutdown, || async {
        let now = chrono::Utc::now();
        sqlx::query(&format!(
            "DELETE FROM {SCHEMA}.running_costs
              WHERE (completed AND updated_at < $1) OR updated_at < $2"
        ))
        // The clock is far from chrono's earliest time; the fallback keeps everything.
        .bind(
            now.checked_sub_signed(chrono::Duration::days(KEEP_COMPLETED_DAYS))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
        .bind(
            now.checked_sub_signed(chrono::Duration::days(KEEP_SILENT_DAYS))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
        .execute(&pool)
        .await
        .map(|done| done.rows_affected())
    })
    .await
}

/// The running state of a session.
pub async fn load(pool: &PgPool, session_id: &str) -> Result<Option<RunningState>, sqlx::Error> {
    let Some(r) = sqlx::query(&format!(
        "SELECT * FROM {SCHEMA}.running_costs WHERE session_id = $1"
    ))
    .bind(session_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let tariff = match r.try_get::<Option<String>, _>("tariff_id")? {
        None => None,
        Some(tariff_id) => Some(RunningTariff {
            tariff_id,
            tariff_version: u32::try_from(r.try_get::<i32, _>("tariff_version")?).unwrap_or(0),
            tariff_source: r.try_get("tariff_source")?,
            ocpi_json: r.try_get("tariff_json")?,
            discounts: r.try_get::<Json<Vec<Discount>>, _>("discounts")?.0,
            time_zone: r.try_get("time_zone")?,
            currency: r.try_get("currency")?,
        }),
    };
    Ok(Some(RunningState {
        start: SessionStart {
            session_id: r.try_get("session_id")?,
            tenant_id: r.try_get("tenant_id")?,
            charger_id: r.try_get("charger_id")?,
            charge_point_id: r.try_get("charge_point_id")?,
            connector_id: u32::try_from(r.try_get::<i32, _>("connector_id")?).unwrap_or(0),
            transaction_id: r.try_get("transaction_id")?,
            token_uid: r.try_get("token_uid")?,
            account_id: r.try_get("account_id")?,
            started_at: r.try_get("started_at")?,
            meter_start_wh: r.try_get("meter_start_wh")?,
        },
        tariff,
        unpriced_reason: r.try_get("unpriced_reason")?,
        readings: r.try_get::<Json<Vec<Sample>>, _>("readings")?.0,
        latest: r.try_get::<Option<Json<Latest>>, _>("latest")?.map(|j| j.0),
        completed: r.try_get("completed")?,
    }))
}

/// Records a session's running state unless it is there already (a redelivered start).
pub async fn insert(pool: &PgPool, state: &RunningState) -> Result<(), sqlx::Error> {
    let s = &state.start;
    let t = state.tariff.as_ref();
    sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.running_costs
           (session_id, tenant_id, charger_id, charge_point_id, connector_id, transaction_id, token_uid,
            account_id, started_at, meter_start_wh, tariff_id, tariff_version, tariff_source, tariff_json,
            discounts, time_zone, currency, unpriced_reason, readings, latest, sequence, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21, now())
         ON CONFLICT (session_id) DO NOTHING"
    ))
    .bind(&s.session_id)
    .bind(&s.tenant_id)
    .bind(&s.charger_id)
    .bind(&s.charge_point_id)
    .bind(i32::try_from(s.connector_id).unwrap_or(i32::MAX))
    .bind(&s.transaction_id)
    .bind(&s.token_uid)
    .bind(&s.account_id)
    .bind(s.started_at)
    .bind(s.meter_start_wh)
    .bind(t.map(|t| t.tariff_id.clone()))
    .bind(t.map(|t| i32::try_from(t.tariff_version).unwrap_or(i32::MAX)))
    .bind(t.map(|t| t.tariff_source.clone()))
    .bind(t.map(|t| t.ocpi_json.clone()))
    .bind(t.map(|t| Json(t.discounts.clone())))
    .bind(t.map(|t| t.time_zone.clone()))
    .bind(t.map(|t| t.currency.clone()))
    .bind(&state.unpriced_reason)
    .bind(Json(&state.readings))
    .bind(state.latest.as_ref().map(Json))
    .bind(i64::try_from(state.latest.as_ref().map_or(0, |l| l.sequence)).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores the readings and estimate of a `SessionMetered`, unless a later one is stored already.
pub async fn advance(
    pool: &PgPool,
    session_id: &str,
    meter_start_wh: Option<Decimal>,
    readings: &[Sample],
    latest: &Latest,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {SCHEMA}.running_costs
            SET readings = $2, latest = $3, sequence = $4,
                meter_start_wh = COALESCE(meter_start_wh, $5), updated_at = now()
          WHERE session_id = $1 AND sequence < $4"
    ))
    .bind(session_id)
    .bind(Json(readings))
    .bind(Json(latest))
    .bind(i64::try_from(latest.sequence).unwrap_or(i64::MAX))
    .bind(meter_start_wh)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a session completed: its readings are all in, final pricing takes over.
pub async fn complete(pool: &PgPool, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {SCHEMA}.running_costs SET completed = true, updated_at = now()
          WHERE session_id = $1 AND NOT completed"
    ))
    .bind(session_id)
    .execute(pool)
    .await?;
    Ok(())
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
