//! The `running_costs` table: one row per session in progress (and for a while after).

use chrono::{DateTime, Utc};
use joule_tariff::Discount;
use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use super::{Latest, RunningState, RunningTariff, SessionStart};
use crate::SCHEMA;
use crate::domain::priced_session::Sample;
use crate::projections::ReadError;

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
pub async fn load(pool: &PgPool, session_id: &str) -> Result<Option<RunningState>, ReadError> {
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
