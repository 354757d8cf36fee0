//! Read tables of the registry in schema `api`, written only by the outbox handler
//! ([`crate::projections::outbox`]) and read by the routes.
//!
//! GET-after-POST consistency: the relay projects asynchronously, so a POST handler waits (briefly,
//! see [`wait_for`]) until its row is in the read table before it answers 201. A client that got the
//! 201 therefore finds the record in every GET and list, and in the existence checks of later POSTs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use joule_domain::TenantId;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::SCHEMA;
use crate::extract::{Listed, Page};
use crate::problem::ApiError;

/// A record of a read table, as the API shows it.
pub trait Resource: for<'r> FromRow<'r, PgRow> + Serialize + Send + Unpin + 'static {
    /// Table in [`SCHEMA`].
    const TABLE: &'static str;
    /// Columns selected for the view; `seq` first.
    const COLUMNS: &'static str;
    /// What a 404 calls it.
    const NOUN: &'static str;
    fn seq(&self) -> i64;
    fn id(&self) -> Uuid;
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct SiteView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub name: String,
    pub country: String,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
}

impl Resource for SiteView {
    const TABLE: &'static str = "sites";
    const COLUMNS: &'static str = "seq, id, name, country, time_zone, created_at";
    const NOUN: &'static str = "site";
    fn seq(&self) -> i64 {
        self.seq
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct ChargerView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub charge_point_id: String,
    pub site_id: Uuid,
    pub tariff_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl Resource for ChargerView {
    const TABLE: &'static str = "chargers";
    const COLUMNS: &'static str = "seq, id, charge_point_id, site_id, tariff_id, created_at";
    const NOUN: &'static str = "charger";
    fn seq(&self) -> i64 {
        self.seq
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct AccountView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub name: String,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

impl Resource for AccountView {
    const TABLE: &'static str = "accounts";
    const COLUMNS: &'static str = "seq, id, name, currency, created_at";
    const NOUN: &'static str = "account";
    fn seq(&self) -> i64 {
        self.seq
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct TokenView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub uid: String,
    pub account_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl Resource for TokenView {
    const TABLE: &'static str = "tokens";
    const COLUMNS: &'static str = "seq, id, uid, account_id, created_at";
    const NOUN: &'static str = "token";
    fn seq(&self) -> i64 {
        self.seq
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

pub async fn get<R: Resource>(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<R>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM {SCHEMA}.{} WHERE tenant_id = $1 AND id = $2",
        R::COLUMNS,
        R::TABLE
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Like [`get`], but a miss is a 404 problem.
pub async fn find<R: Resource>(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<R, ApiError> {
    get(pool, tenant, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no {} with id {id}", R::NOUN)))
}

pub async fn list<R: Resource>(
    pool: &PgPool,
    tenant: &TenantId,
    page: &Page,
) -> Result<Listed<R>, ApiError> {
    let after = page.after()?;
    let mut rows: Vec<R> = sqlx::query_as(&format!(
        "SELECT {} FROM {SCHEMA}.{} WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        R::COLUMNS,
        R::TABLE
    ))
    .bind(tenant.as_str())
    .bind(after)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(pool)
    .await
    .map_err(ApiError::internal)?;
    let next_cursor = page.cut(&mut rows, R::seq);
    Ok(Listed {
        data: rows,
        next_cursor,
    })
}

/// How long a POST waits for its projection before it answers anyway.
const PROJECTION_WAIT: Duration = Duration::from_secs(5);

/// Waits until the relay projected `id`. `None` when it did not within [`PROJECTION_WAIT`] (the relay
/// is behind or NATS is down): the command is committed and will be projected and published later.
pub async fn wait_for<R: Resource>(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<R>, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + PROJECTION_WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(row) = get(pool, tenant, id).await? {
            return Ok(Some(row));
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// The time zone of a tenant's site, if the site exists.
pub async fn site_time_zone(
    pool: &PgPool,
    tenant: &TenantId,
    site: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT time_zone FROM {SCHEMA}.sites WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_str())
    .bind(site)
    .fetch_optional(pool)
    .await
}
