//! The `priced_sessions` and `price_adjustments` read tables: each session's first price (or why
//! it could not be priced), its current price after every adjustment, and the adjustments; bulk
//! re-rating reads the current prices and the readings from here.

use chrono::{DateTime, Utc};
use joule_store::{ProjectionError, StoredEvent};
use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};

use super::ReadError;
use crate::SCHEMA;
use crate::domain::priced_session::{PricedSessionEvent, Rerated, WireLine, wire_lines};

/// Projects a committed `PricedSession` event (`tenant_id`: the tenant it was recorded for).
pub async fn project(
    conn: &mut PgConnection,
    event: &StoredEvent,
    tenant_id: &str,
) -> Result<(), ProjectionError> {
    match event.read::<PricedSessionEvent>()? {
        PricedSessionEvent::SessionPriced {
            session_id,
            charger_id,
            tariff_id,
            account_id,
            token_uid,
            energy_wh,
            started_at,
            stopped_at,
            priced_at,
            breakdown,
            tariff_version,
            tariff_source,
            connector_id,
            metering,
        } => {
            let lines = wire_lines(&breakdown);
            // Kept for bulk re-rating, which prices from this table: the readings shape the
            // curve and the idle time exactly as the first pricing used them.
            let metering = (!metering.samples.is_empty() || metering.charging_ended_at.is_some())
                .then_some(Json(&metering));
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.priced_sessions
                   (session_id, tenant_id, status, charger_id, account_id, token_uid, tariff_id, currency,
                    energy_wh, started_at, stopped_at, total_excl_vat, total_incl_vat, breakdown, recorded_at,
                    tariff_version, tariff_source, connector_id, time_zone,
                    current_total_excl_vat, current_total_incl_vat, current_lines, metering)
                 VALUES ($1, $2, 'priced', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                         $15, $16, $17, $18, $11, $12, $19, $20)
                 ON CONFLICT (session_id) DO NOTHING"
            ))
            .bind(session_id.to_string())
            .bind(tenant_id)
            .bind(charger_id.to_string())
            .bind(account_id)
            .bind(token_uid)
            .bind(tariff_id.to_string())
            .bind(breakdown.currency.code())
            .bind(energy_wh)
            .bind(started_at)
            .bind(stopped_at)
            .bind(breakdown.total_excl_vat)
            .bind(breakdown.total_incl_vat)
            .bind(Json(&*breakdown))
            .bind(priced_at)
            .bind(i32::try_from(tariff_version).unwrap_or(i32::MAX))
            .bind(tariff_source)
            .bind(i32::try_from(connector_id).unwrap_or(i32::MAX))
            .bind(&breakdown.time_zone)
            .bind(Json(&lines))
            .bind(metering)
            .execute(conn)
            .await?;
        }
        PricedSessionEvent::SessionRerated(r) => record_adjustment(conn, &r).await?,
        PricedSessionEvent::PricingFailed {
            session_id,
            charger_id,
            reason,
            failed_at,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.priced_sessions (session_id, tenant_id, status, charger_id, reason, recorded_at)
                 VALUES ($1, $2, 'failed', $3, $4, $5)
                 ON CONFLICT (session_id) DO NOTHING"
            ))
            .bind(session_id.to_string())
            .bind(tenant_id)
            .bind(charger_id)
            .bind(reason)
            .bind(failed_at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// Records an adjustment once, and the session's current price after it.
async fn record_adjustment(conn: &mut PgConnection, r: &Rerated) -> Result<(), sqlx::Error> {
    let (delta_excl, delta_incl) = r.delta();
    let lines: Vec<_> = r.reversed_lines.iter().chain(&r.new_lines).collect();
    let inserted = sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.price_adjustments (adjustment_id, session_id, rerating_id, tariff_id,
             tariff_version, reason, delta_excl_vat, delta_incl_vat, total_excl_vat, total_incl_vat,
             lines, adjusted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (adjustment_id) DO NOTHING"
    ))
    .bind(&r.adjustment_id)
    .bind(r.session_id.to_string())
    .bind(&r.rerating_id)
    .bind(r.tariff_id.to_string())
    .bind(i32::try_from(r.tariff_version).unwrap_or(i32::MAX))
    .bind(&r.reason)
    .bind(delta_excl)
    .bind(delta_incl)
    .bind(r.total_excl_vat.amount)
    .bind(r.total_incl_vat.amount)
    .bind(Json(&lines))
    .bind(r.rerated_at)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        sqlx::query(&format!(
            "UPDATE {SCHEMA}.priced_sessions
                SET current_total_excl_vat = $2, current_total_incl_vat = $3, current_lines = $4,
                    energy_wh = $5, adjustments = adjustments + 1
              WHERE session_id = $1"
        ))
        .bind(r.session_id.to_string())
        .bind(r.total_excl_vat.amount)
        .bind(r.total_incl_vat.amount)
        .bind(Json(&r.new_lines))
        .bind(r.energy_wh)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether the session already has a pricing outcome (priced or failed). Read from the events, so
/// that it holds before the relay projected it.
pub async fn session_settled(pool: &PgPool, session_id: &str) -> Result<bool, ReadError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {SCHEMA}.events WHERE aggregate_type = 'PricedSession' AND aggregate_id = $1)"
    ))
    .bind(session_id)
    .fetch_one(pool)
    .await?)
}

/// A priced session as the read table has it: the first price and the current one.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPricedSession {
    pub session_id: String,
    /// `priced` or `failed`.
    pub status: String,
    pub tariff_id: String,
    pub tariff_version: u32,
    pub tariff_source: String,
    pub currency: String,
    /// The first price (none for a failed session).
    pub breakdown: Option<joule_tariff::PricedSession>,
    /// Why it could not be priced.
    pub reason: String,
    /// After the latest adjustment (the first price's totals before any).
    pub total_excl_vat: Option<Decimal>,
    pub total_incl_vat: Option<Decimal>,
    pub adjustments: Vec<StoredAdjustment>,
}

/// An adjustment of a session's price.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAdjustment {
    pub adjustment_id: String,
    pub rerating_id: String,
    pub reason: String,
    pub tariff_version: u32,
    pub delta_excl_vat: Decimal,
    pub delta_incl_vat: Decimal,
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub adjusted_at: DateTime<Utc>,
}

/// The tenant's priced session with its first price and every adjustment since.
pub async fn priced_session(
    pool: &PgPool,
    tenant_id: &str,
    session_id: &str,
) -> Result<Option<StoredPricedSession>, ReadError> {
    let Some(row) = sqlx::query(&format!(
        "SELECT status, tenant_id, tariff_id, tariff_version, tariff_source, currency, breakdown, reason,
                current_total_excl_vat, current_total_incl_vat, total_excl_vat, total_incl_vat
           FROM {SCHEMA}.priced_sessions WHERE session_id = $1"
    ))
    .bind(session_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    if row.try_get::<String, _>("tenant_id")? != tenant_id {
        return Ok(None);
    }
    let breakdown: Option<Json<joule_tariff::PricedSession>> = row.try_get("breakdown")?;
    let adjustments = sqlx::query(&format!(
        "SELECT adjustment_id, rerating_id, reason, tariff_version, delta_excl_vat, delta_incl_vat,
                total_excl_vat, total_incl_vat, adjusted_at
           FROM {SCHEMA}.price_adjustments WHERE session_id = $1 ORDER BY adjusted_at, adjustment_id"
    ))
    .bind(session_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|a| {
        Ok(StoredAdjustment {
            adjustment_id: a.try_get("adjustment_id")?,
            rerating_id: a.try_get("rerating_id")?,
            reason: a.try_get("reason")?,
            tariff_version: u32::try_from(a.try_get::<i32, _>("tariff_version")?).unwrap_or(0),
            delta_excl_vat: a.try_get("delta_excl_vat")?,
            delta_incl_vat: a.try_get("delta_incl_vat")?,
            total_excl_vat: a.try_get("total_excl_vat")?,
            total_incl_vat: a.try_get("total_incl_vat")?,
            adjusted_at: a.try_get("adjusted_at")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let current_excl: Option<Decimal> = row.try_get("current_total_excl_vat")?;
    let current_incl: Option<Decimal> = row.try_get("current_total_incl_vat")?;
    Ok(Some(StoredPricedSession {
        session_id: session_id.to_owned(),
        status: row.try_get("status")?,
        tariff_id: row
            .try_get::<Option<String>, _>("tariff_id")?
            .unwrap_or_default(),
        tariff_version: row
            .try_get::<Option<i32>, _>("tariff_version")?
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0),
        tariff_source: row
            .try_get::<Option<String>, _>("tariff_source")?
            .unwrap_or_default(),
        currency: row
            .try_get::<Option<String>, _>("currency")?
            .unwrap_or_default(),
        breakdown: breakdown.map(|b| b.0),
        reason: row
            .try_get::<Option<String>, _>("reason")?
            .unwrap_or_default(),
        total_excl_vat: current_excl.or(row.try_get("total_excl_vat")?),
        total_incl_vat: current_incl.or(row.try_get("total_incl_vat")?),
        adjustments,
    }))
}

/// A priced session's current price (after every adjustment), as `GetRunningCost` answers it once
/// the session is priced.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalPrice {
    pub session_id: String,
    pub account_id: String,
    pub charger_id: String,
    pub token_uid: String,
    pub connector_id: u32,
    pub tariff_id: String,
    /// Of the latest adjustment, else of the first price.
    pub tariff_version: u32,
    pub currency: String,
    pub energy_wh: Decimal,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub lines: Vec<WireLine>,
}

/// The tenant's session's current price, if it is priced (not when its pricing failed).
pub async fn final_price(
    pool: &PgPool,
    tenant_id: &str,
    session_id: &str,
) -> Result<Option<FinalPrice>, ReadError> {
    let Some(r) = sqlx::query(&format!(
        "SELECT p.account_id, p.charger_id, p.token_uid, p.connector_id, p.tariff_id, p.currency,
                p.energy_wh, p.started_at, p.stopped_at, p.breakdown, p.current_lines,
                COALESCE(p.current_total_excl_vat, p.total_excl_vat) AS total_excl_vat,
                COALESCE(p.current_total_incl_vat, p.total_incl_vat) AS total_incl_vat,
                COALESCE((SELECT a.tariff_version FROM {SCHEMA}.price_adjustments a
                           WHERE a.session_id = p.session_id
                           ORDER BY a.adjusted_at DESC, a.adjustment_id DESC LIMIT 1),
                         p.tariff_version, 1) AS tariff_version
           FROM {SCHEMA}.priced_sessions p
          WHERE p.session_id = $1 AND p.tenant_id = $2 AND p.status = 'priced'"
    ))
    .bind(session_id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let lines = match r.try_get::<Option<Json<Vec<WireLine>>>, _>("current_lines")? {
        Some(Json(lines)) => lines,
        // Priced before current prices were kept, and never adjusted: the first price's lines.
        None => r
            .try_get::<Option<Json<joule_tariff::PricedSession>>, _>("breakdown")?
            .map(|Json(b)| wire_lines(&b))
            .unwrap_or_default(),
    };
    let missing = |column: &str| {
        ReadError::decode(
            format!("priced session {session_id}"),
            format!("{column} is empty"),
        )
    };
    Ok(Some(FinalPrice {
        session_id: session_id.to_owned(),
        account_id: r.try_get("account_id")?,
        charger_id: r.try_get("charger_id")?,
        token_uid: r.try_get("token_uid")?,
        connector_id: r
            .try_get::<Option<i32>, _>("connector_id")?
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0),
        tariff_id: r
            .try_get::<Option<String>, _>("tariff_id")?
            .unwrap_or_default(),
        tariff_version: u32::try_from(r.try_get::<i32, _>("tariff_version")?).unwrap_or(0),
        currency: r
            .try_get::<Option<String>, _>("currency")?
            .unwrap_or_default(),
        energy_wh: r
            .try_get::<Option<Decimal>, _>("energy_wh")?
            .ok_or_else(|| missing("energy_wh"))?,
        started_at: r
            .try_get::<Option<DateTime<Utc>>, _>("started_at")?
            .ok_or_else(|| missing("started_at"))?,
        stopped_at: r
            .try_get::<Option<DateTime<Utc>>, _>("stopped_at")?
            .ok_or_else(|| missing("stopped_at"))?,
        total_excl_vat: r
            .try_get::<Option<Decimal>, _>("total_excl_vat")?
            .ok_or_else(|| missing("total_excl_vat"))?,
        total_incl_vat: r
            .try_get::<Option<Decimal>, _>("total_incl_vat")?
            .ok_or_else(|| missing("total_incl_vat"))?,
        lines,
    }))
}
