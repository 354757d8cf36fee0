//! The `deliveries`, `event_bodies` and `attempts` tables.

use chrono::{DateTime, Utc};
use joule_store::Page;
use sqlx::PgPool;
use uuid::Uuid;

use super::DeliveryId;

/// A delivery as the gRPC layer shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub seq: i64,
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: String,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "d.seq, d.id, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts, \
     d.last_status_code, d.last_error, d.last_attempt_at, d.next_attempt_at, d.created_at";

/// Records the event's body and one pending delivery of it per endpoint, in one transaction; an
/// (endpoint, event) that has its delivery already gets no second one.
pub async fn enqueue(
    pool: &PgPool,
    schema: &str,
    event_id: &str,
    event_type: &str,
    body: &str,
    endpoints: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let ids: Vec<Uuid> = endpoints
        .iter()
        .map(|e| DeliveryId::derived(&format!("{e}/{event_id}")).as_uuid())
        .collect();
    let mut tx = pool.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO {schema}.event_bodies (event_id, event_type, body, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING"
    ))
    .bind(event_id)
    .bind(event_type)
    .bind(body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let inserted = sqlx::query(&format!(
        "INSERT INTO {schema}.deliveries (id, endpoint_id, event_id, event_type, next_attempt_at, created_at) \
         SELECT id, endpoint_id, $3, $4, $5, $5 FROM UNNEST($1::uuid[], $2::uuid[]) AS t (id, endpoint_id) \
         ON CONFLICT (endpoint_id, event_id) DO NOTHING"
    ))
    .bind(&ids)
    .bind(endpoints)
    .bind(event_id)
    .bind(event_type)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(inserted)
}

/// A page of an endpoint's deliveries, newest first (the cursor is the last row's `seq`; the next
/// page holds the older ones).
pub async fn list(
    pool: &PgPool,
    schema: &str,
    endpoint: Uuid,
    page: Page,
) -> Result<(Vec<Delivery>, Option<i64>), sqlx::Error> {
    let rows: Vec<Delivery> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {schema}.deliveries d \
         WHERE d.endpoint_id = $1 AND ($2 = 0 OR d.seq < $2) ORDER BY d.seq DESC LIMIT $3"
    ))
    .bind(endpoint)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(pool)
    .await?;
    Ok(page.cut(rows, |d| d.seq))
}

/// Queues the tenant's delivery `id` again, due now, with a new retry window.
pub async fn redeliver(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE {schema}.deliveries d SET status = 'pending', next_attempt_at = $3, \
           first_attempt_at = NULL \
         FROM {schema}.endpoints e \
         WHERE d.id = $2 AND e.id = d.endpoint_id AND e.tenant_id = $1 \
         RETURNING {COLUMNS}"
    ))
    .bind(tenant)
    .bind(id)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// A due delivery a worker took, with what it needs to send it. No `Debug`: it holds the secrets.
#[derive(Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub attempts: i32,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub endpoint_id: Uuid,
    pub tenant_id: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub body: String,
}

impl Claimed {
    /// The secrets that sign at `now`: the current one, and the previous one during its overlap.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) =
            (&self.previous_secret, self.previous_secret_expires_at)
            && until > now
        {
            secrets.push(previous);
        }
        secrets
    }
}

/// Takes up to `limit` due deliveries of enabled endpoints and makes them due again only at
/// `lease_until`, so that no other worker takes them while this one sends; `SKIP LOCKED` lets
/// replicas claim at once without waiting for each other.
pub async fn claim(
    pool: &PgPool,
    schema: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH due AS ( \
           SELECT d.id FROM {schema}.deliveries d JOIN {schema}.endpoints e ON e.id = d.endpoint_id \
           WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.enabled \
           ORDER BY d.next_attempt_at LIMIT $3 \
           FOR UPDATE OF d SKIP LOCKED) \
         UPDATE {schema}.deliveries d SET next_attempt_at = $2 \
         FROM due, {schema}.endpoints e, {schema}.event_bodies b \
         WHERE d.id = due.id AND e.id = d.endpoint_id AND b.event_id = d.event_id \
         RETURNING d.id, d.event_id, d.event_type, d.attempts, d.first_attempt_at, \
           e.id AS endpoint_id, e.tenant_id, e.url, e.secret, e.previous_secret, \
           e.previous_secret_expires_at, b.body"
    ))
    .bind(now)
    .bind(lease_until)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One attempt's outcome.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    /// Empty after a 2xx answer.
    pub error: String,
    pub duration_ms: i64,
}

/// What the attempt made of the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Failed,
}

/// Records `attempt` of `claimed` and its `outcome`, and the endpoint's failing state: cleared by
/// a success, else started by this failure when not yet. Returns since when the endpoint has been
/// failing (`None` after a success or when it is gone).
pub async fn record(
    pool: &PgPool,
    schema: &str,
    claimed: &Claimed,
    attempt: &Attempt,
    outcome: Outcome,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let (status, next) = match outcome {
        Outcome::Succeeded => ("succeeded", attempt.at),
        Outcome::RetryAt(next) => ("pending", next),
        Outcome::Failed => ("failed", attempt.at),
    };
    let mut tx = pool.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO {schema}.attempts (delivery_id, attempted_at, status_code, error, duration_ms) \
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM {schema}.deliveries WHERE id = $1)"
    ))
    .bind(claimed.id)
    .bind(attempt.at)
    .bind(attempt.status_code.map(i32::from))
    .bind(&attempt.error)
    .bind(attempt.duration_ms)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "UPDATE {schema}.deliveries SET status = $2, attempts = attempts + 1, \
           first_attempt_at = COALESCE(first_attempt_at, $3), last_attempt_at = $3, \
           last_status_code = $4, last_error = $5, next_attempt_at = $6 \
         WHERE id = $1"
    ))
    .bind(claimed.id)
    .bind(status)
    .bind(attempt.at)
    .bind(attempt.status_code.map(i32::from))
    .bind(&attempt.error)
    .bind(next)
    .execute(&mut *tx)
    .await?;
    let failing_since: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(&format!(
        "UPDATE {schema}.endpoints SET failing_since = \
           CASE WHEN $2 THEN NULL ELSE COALESCE(failing_since, $3) END \
         WHERE id = $1 RETURNING failing_since"
    ))
    .bind(claimed.endpoint_id)
    .bind(outcome == Outcome::Succeeded)
    .bind(attempt.at)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(failing_since.flatten())
}

/// Disables an enabled endpoint for `reason`; `true` when this call disabled it.
pub async fn disable(
    pool: &PgPool,
    schema: &str,
    endpoint: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE {schema}.endpoints SET enabled = false, disabled_reason = $2, disabled_at = $3, \
           updated_at = $3 \
         WHERE id = $1 AND enabled"
    ))
    .bind(endpoint)
    .bind(reason)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
