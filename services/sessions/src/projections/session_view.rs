//! The session read model (`sessions.session_view`): one row per session, written by the relay
//! from the session's events and by the billing consumers (cost and invoice), read by the gRPC API
//! and by the sweeper (which sessions to look at).
//!
//! Each row names its tenant, the one its session's first event carries, and never changes it;
//! every read the API answers filters by tenant (ADR 032).

use chrono::{DateTime, Utc};
use joule_domain::{Energy, TenantId};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::session::{Reading, StartDetails, StopDetails, TokenRef};

/// The start register as events and the read model carry it; `None` (2.0.1 without a
/// Transaction.Begin sample) until the session completes with a fallback.
fn register(e: Option<Energy>) -> Option<Decimal> {
    e.map(|e| e.wh())
}

pub async fn started(
    conn: &mut PgConnection,
    id: &str,
    tenant: &str,
    s: &StartDetails,
) -> Result<(), sqlx::Error> {
    let holder = s.holder.clone().unwrap_or_default();
    sqlx::query(
        "INSERT INTO sessions.session_view
           (id, charger_id, charge_point_id, connector_id, transaction_id, token_uid, account_id,
            status, started_at, meter_start_wh, last_activity_at, tenant_id,
            fleet_id, driver_id, vehicle_id, cost_centre_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,'active',$8,$9,$10,$11,$12,$13,$14,$15)
         ON CONFLICT (id) DO UPDATE SET
           charger_id = EXCLUDED.charger_id, connector_id = EXCLUDED.connector_id,
           token_uid = EXCLUDED.token_uid, account_id = EXCLUDED.account_id,
           fleet_id = EXCLUDED.fleet_id, driver_id = EXCLUDED.driver_id,
           vehicle_id = EXCLUDED.vehicle_id, cost_centre_id = EXCLUDED.cost_centre_id,
           started_at = EXCLUDED.started_at, meter_start_wh = EXCLUDED.meter_start_wh,
           last_activity_at = GREATEST(sessions.session_view.last_activity_at, EXCLUDED.last_activity_at),
           status = CASE WHEN sessions.session_view.status IN ('completed', 'ended') THEN sessions.session_view.status ELSE 'active' END",
    )
    .bind(id)
    .bind(&s.charger_id)
    .bind(&s.charge_point_id)
    .bind(s.connector_id as i32)
    .bind(&s.transaction_id)
    .bind(&s.token_uid)
    .bind(&s.account_id)
    .bind(s.started_at)
    .bind(register(s.meter_start))
    .bind(s.received_at)
    .bind(tenant)
    .bind(holder.fleet_id.map(|f| f.as_uuid()))
    .bind(holder.driver_id.map(|d| d.as_uuid()))
    .bind(holder.vehicle_id.map(|v| v.as_uuid()))
    .bind(holder.cost_centre_id.map(|c| c.as_uuid()))
    .execute(conn)
    .await?;
    Ok(())
}

/// A stop recorded while 2.0.1 events before it are missing; the sweeper completes it after a
/// while.
pub async fn stop_received(
    conn: &mut PgConnection,
    id: &str,
    tenant: &str,
    stop: &StopDetails,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions.session_view
           (id, charger_id, charge_point_id, transaction_id, status, stopped_at, meter_stop_wh,
            awaiting_since, tenant_id)
         VALUES ($1,$2,$3,$4,'ended',$5,$6,$7,$8)
         ON CONFLICT (id) DO UPDATE SET
           stopped_at = EXCLUDED.stopped_at, meter_stop_wh = EXCLUDED.meter_stop_wh,
           awaiting_since = EXCLUDED.awaiting_since,
           status = CASE WHEN sessions.session_view.status = 'completed' THEN 'completed' ELSE 'ended' END",
    )
    .bind(id)
    .bind(&stop.charger_id)
    .bind(&stop.charge_point_id)
    .bind(&stop.transaction_id)
    .bind(stop.stopped_at)
    .bind(register(stop.meter_stop))
    .bind(stop.received_at)
    .bind(tenant)
    .execute(conn)
    .await?;
    Ok(())
}

/// What a `SessionCompleted` puts in the read model.
pub struct Completed<'a> {
    pub start: Option<&'a StartDetails>,
    pub stop: &'a StopDetails,
    pub started_at: DateTime<Utc>,
    pub meter_start: Energy,
    pub meter_stop: Energy,
    pub energy: Energy,
    pub token: Option<TokenRef>,
    pub flags: &'a [String],
}

pub async fn completed(
    conn: &mut PgConnection,
    id: &str,
    tenant: &str,
    c: Completed<'_>,
) -> Result<(), sqlx::Error> {
    let holder = c.start.and_then(|s| s.holder.clone()).unwrap_or_default();
    sqlx::query(
        "INSERT INTO sessions.session_view
           (id, charger_id, charge_point_id, connector_id, transaction_id, token_uid, account_id,
            status, started_at, stopped_at, meter_start_wh, meter_stop_wh, energy_wh, flags,
            tenant_id, fleet_id, driver_id, vehicle_id, cost_centre_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,'completed',$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)
         ON CONFLICT (id) DO UPDATE SET
           fleet_id = COALESCE(EXCLUDED.fleet_id, sessions.session_view.fleet_id),
           driver_id = COALESCE(EXCLUDED.driver_id, sessions.session_view.driver_id),
           vehicle_id = COALESCE(EXCLUDED.vehicle_id, sessions.session_view.vehicle_id),
           cost_centre_id = COALESCE(EXCLUDED.cost_centre_id, sessions.session_view.cost_centre_id),
           status = 'completed', started_at = EXCLUDED.started_at, stopped_at = EXCLUDED.stopped_at,
           meter_start_wh = EXCLUDED.meter_start_wh, meter_stop_wh = EXCLUDED.meter_stop_wh,
           energy_wh = EXCLUDED.energy_wh, flags = EXCLUDED.flags,
           token_uid = EXCLUDED.token_uid, account_id = EXCLUDED.account_id,
           awaiting_since = NULL",
    )
    .bind(id)
    .bind(&c.stop.charger_id)
    .bind(&c.stop.charge_point_id)
    .bind(c.start.map_or(0, |s| s.connector_id as i32))
    .bind(&c.stop.transaction_id)
    .bind(c.token.as_ref().map_or("", |t| &t.token_uid))
    .bind(c.token.as_ref().map_or("", |t| &t.account_id))
    .bind(c.started_at)
    .bind(c.stop.stopped_at)
    .bind(c.meter_start.wh())
    .bind(c.meter_stop.wh())
    .bind(c.energy.wh())
    .bind(c.flags)
    .bind(tenant)
    .bind(holder.fleet_id.map(|f| f.as_uuid()))
    .bind(holder.driver_id.map(|d| d.as_uuid()))
    .bind(holder.vehicle_id.map(|v| v.as_uuid()))
    .bind(holder.cost_centre_id.map(|c| c.as_uuid()))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn flagged(conn: &mut PgConnection, id: &str, flag: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions.session_view SET flags = array_append(flags, $2)
             WHERE id = $1 AND NOT ($2 = ANY(flags))",
    )
    .bind(id)
    .bind(flag)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session's latest sign of life, as the aggregate counts it (only while open), for the
/// inactivity sweep.
pub async fn readings_recorded(
    conn: &mut PgConnection,
    id: &str,
    readings: &[Reading],
    received_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let Some(at) = received_at.or_else(|| readings.iter().map(|r| r.at).max()) else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE sessions.session_view
         SET last_activity_at = GREATEST(last_activity_at, $2)
         WHERE id = $1 AND status = 'active'",
    )
    .bind(id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session's price, copied from `SessionPriced` (decimals as pricing sent them, cast by the
/// database).
pub async fn set_cost(
    pool: &PgPool,
    session_id: &str,
    excl_vat: &str,
    incl_vat: &str,
    currency: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions.session_view
         SET cost_excl_vat = $2::numeric, cost_incl_vat = $3::numeric, currency = $4
         WHERE id = $1",
    )
    .bind(session_id)
    .bind(excl_vat)
    .bind(incl_vat)
    .bind(currency)
    .execute(pool)
    .await?;
    Ok(())
}

/// The invoice of the sessions it bills, copied from `InvoiceIssued`.
pub async fn set_invoice(
    pool: &PgPool,
    session_ids: &[String],
    invoice_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions.session_view SET invoice_id = $2 WHERE id = ANY($1)")
        .bind(session_ids)
        .bind(invoice_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Stopped sessions waiting for missing events since before `cutoff`, oldest first, with their
/// tenants.
pub async fn overdue(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id FROM sessions.session_view
         WHERE status = 'ended' AND awaiting_since < $1 ORDER BY awaiting_since LIMIT $2",
    )
    .bind(cutoff)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Open sessions without a sign of life since `cutoff`, by id from `after` on, with their
/// tenants.
pub async fn inactive(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id FROM sessions.session_view
         WHERE status = 'active' AND last_activity_at < $1 AND id > $2
         ORDER BY id LIMIT $3",
    )
    .bind(cutoff)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A row as the API reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub seq: i64,
    pub id: String,
    pub charger_id: String,
    pub charge_point_id: String,
    pub connector_id: i32,
    pub transaction_id: String,
    pub token_uid: String,
    pub account_id: String,
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub energy_wh: Option<Decimal>,
    pub cost_excl_vat: Option<Decimal>,
    pub cost_incl_vat: Option<Decimal>,
    pub currency: Option<String>,
    pub invoice_id: Option<String>,
    pub flags: Vec<String>,
    pub fleet_id: Option<Uuid>,
    pub driver_id: Option<Uuid>,
    pub vehicle_id: Option<Uuid>,
    pub cost_centre_id: Option<Uuid>,
}

const COLUMNS: &str = "seq, id, charger_id, charge_point_id, connector_id, transaction_id, token_uid, account_id,
    status, started_at, stopped_at, energy_wh, cost_excl_vat, cost_incl_vat, currency, invoice_id, flags,
    fleet_id, driver_id, vehicle_id, cost_centre_id";

/// Which sessions a list shows: the tenant's, narrowed by each filter given.
#[derive(Debug, Default)]
pub struct SessionFilter<'a> {
    pub charger_id: &'a str,
    pub account_id: &'a str,
    pub fleet_id: Option<Uuid>,
    pub driver_id: Option<Uuid>,
    pub vehicle_id: Option<Uuid>,
    pub status: &'a str,
    pub started_after: Option<DateTime<Utc>>,
    pub started_before: Option<DateTime<Utc>>,
    /// A caller's reach (ADR 038): a fleet manager's fleets and a driver's self. When either is
    /// set, only sessions held by one of these fleets or by this driver (both `None`: no limit).
    pub within_fleets: Option<Vec<Uuid>>,
    pub within_driver: Option<Uuid>,
}

/// Up to `limit` sessions of `tenant` after the one numbered `after` (0: from the first) that
/// `filter` selects, in the order they were first seen.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    after: i64,
    filter: &SessionFilter<'_>,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions.session_view
         WHERE tenant_id = $1 AND seq > $2 AND ($3 = '' OR charger_id = $3)
           AND ($4 = '' OR account_id = $4)
           AND ($6::uuid IS NULL OR fleet_id = $6)
           AND ($7::uuid IS NULL OR driver_id = $7)
           AND ($8::uuid IS NULL OR vehicle_id = $8)
           AND ($9 = '' OR status = $9)
           AND ($10::timestamptz IS NULL OR started_at > $10)
           AND ($11::timestamptz IS NULL OR started_at < $11)
           AND (($12::uuid[] IS NULL AND $13::uuid IS NULL)
                OR fleet_id = ANY($12) OR driver_id = $13)
         ORDER BY seq LIMIT $5"
    ))
    .bind(tenant.as_str())
    .bind(after)
    .bind(filter.charger_id)
    .bind(filter.account_id)
    .bind(limit)
    .bind(filter.fleet_id)
    .bind(filter.driver_id)
    .bind(filter.vehicle_id)
    .bind(filter.status)
    .bind(filter.started_after)
    .bind(filter.started_before)
    .bind(filter.within_fleets.as_deref())
    .bind(filter.within_driver)
    .fetch_all(pool)
    .await
}

/// A session of `tenant`; `None` for another tenant's.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    session_id: &str,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions.session_view WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(session_id)
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await
}

/// The transaction id of a session of `tenant`; `None` when `tenant` has no such session.
pub async fn transaction_id(
    pool: &PgPool,
    tenant: &TenantId,
    session_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT transaction_id FROM sessions.session_view WHERE id = $1 AND tenant_id = $2",
    )
    .bind(session_id)
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await
}

/// Gives the rows whose events named no tenant the deployment's (migration 004); cheap when there
/// are none (a partial index holds exactly those rows).
pub async fn fill_missing_tenant(pool: &PgPool, tenant: &TenantId) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE sessions.session_view SET tenant_id = $1 WHERE tenant_id = ''")
            .bind(tenant.as_str())
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
