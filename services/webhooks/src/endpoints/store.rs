//! The `endpoints` table: every query of it but the delivery worker's, each scoped to a tenant.
//! Rows read here never carry the secrets; only [`insert`] and [`rotate`] write them.

use chrono::{DateTime, Utc};
use joule_store::Page;
use sqlx::PgPool;
use uuid::Uuid;

use super::EndpointId;

/// An endpoint as the gRPC layer shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "seq, id, tenant_id, url, event_types, description, enabled, \
     disabled_reason, disabled_at, previous_secret_expires_at, created_at, updated_at";

/// A checked endpoint to register. No `Debug`: it holds the secret.
#[derive(Clone)]
pub struct NewEndpoint {
    pub id: EndpointId,
    pub tenant_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub secret: String,
}

/// Checked changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Why an endpoint disabled by its tenant is.
pub const DISABLED_ON_REQUEST: &str = "disabled on request";

pub async fn insert(
    pool: &PgPool,
    schema: &str,
    new: &NewEndpoint,
    now: DateTime<Utc>,
) -> Result<Endpoint, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO {schema}.endpoints (id, tenant_id, url, event_types, description, enabled, \
         secret, disabled_reason, disabled_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 CASE WHEN $6 THEN '' ELSE '{DISABLED_ON_REQUEST}' END, \
                 CASE WHEN $6 THEN NULL ELSE $8 END, $8, $8) \
         RETURNING {COLUMNS}"
    ))
    .bind(new.id.as_uuid())
    .bind(&new.tenant_id)
    .bind(&new.url)
    .bind(&new.event_types)
    .bind(&new.description)
    .bind(new.enabled)
    .bind(&new.secret)
    .bind(now)
    .fetch_one(pool)
    .await
}

pub async fn get(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {schema}.endpoints WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A page of the tenant's endpoints, oldest first, and the cursor of the next page.
pub async fn list(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    page: Page,
) -> Result<(Vec<Endpoint>, Option<i64>), sqlx::Error> {
    let rows: Vec<Endpoint> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {schema}.endpoints WHERE tenant_id = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3"
    ))
    .bind(tenant)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(pool)
    .await?;
    Ok(page.cut(rows, |e| e.seq))
}

/// Applies `changes`. Enabling a disabled endpoint clears why it was disabled and makes its
/// pending deliveries due now; disabling one records that its tenant asked for it.
pub async fn update(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    id: Uuid,
    changes: &Changes,
    now: DateTime<Utc>,
) -> Result<Option<Endpoint>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let was_enabled: Option<bool> = sqlx::query_scalar(&format!(
        "SELECT enabled FROM {schema}.endpoints WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(was_enabled) = was_enabled else {
        return Ok(None);
    };
    let endpoint: Endpoint = sqlx::query_as(&format!(
        "UPDATE {schema}.endpoints SET \
           url = COALESCE($3, url), \
           event_types = COALESCE($4, event_types), \
           description = COALESCE($5, description), \
           enabled = COALESCE($6, enabled), \
           disabled_reason = CASE WHEN $6 IS NULL OR $6 = enabled THEN disabled_reason \
                                  WHEN $6 THEN '' ELSE '{DISABLED_ON_REQUEST}' END, \
           disabled_at = CASE WHEN $6 IS NULL OR $6 = enabled THEN disabled_at \
                              WHEN $6 THEN NULL ELSE $7 END, \
           failing_since = CASE WHEN $6 AND NOT enabled THEN NULL ELSE failing_since END, \
           updated_at = $7 \
         WHERE tenant_id = $1 AND id = $2 \
         RETURNING {COLUMNS}"
    ))
    .bind(tenant)
    .bind(id)
    .bind(changes.url.as_deref())
    .bind(changes.event_types.as_deref())
    .bind(changes.description.as_deref())
    .bind(changes.enabled)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if !was_enabled && endpoint.enabled {
        sqlx::query(&format!(
            "UPDATE {schema}.deliveries SET next_attempt_at = $2 \
             WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at > $2"
        ))
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Some(endpoint))
}

/// Removes the endpoint with its deliveries and their attempts; `false` when there was none.
pub async fn delete(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(&format!(
        "DELETE FROM {schema}.endpoints WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Makes `secret` the endpoint's signing secret; the one it replaces signs beside it until
/// `previous_until` (`None`, or a time not after `now`: not at all).
pub async fn rotate(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    id: Uuid,
    secret: &str,
    previous_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<Endpoint>, sqlx::Error> {
    let previous_until = previous_until.filter(|t| *t > now);
    sqlx::query_as(&format!(
        "UPDATE {schema}.endpoints SET \
           previous_secret = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE secret END, \
           previous_secret_expires_at = $4, \
           secret = $3, \
           updated_at = $5 \
         WHERE tenant_id = $1 AND id = $2 \
         RETURNING {COLUMNS}"
    ))
    .bind(tenant)
    .bind(id)
    .bind(secret)
    .bind(previous_until)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// The tenant's enabled endpoints that take `event_type`.
pub async fn subscribed(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    event_type: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT id FROM {schema}.endpoints \
         WHERE tenant_id = $1 AND enabled AND event_types && ARRAY[$2, '*']::text[] ORDER BY seq"
    ))
    .bind(tenant)
    .bind(event_type)
    .fetch_all(pool)
    .await
}
