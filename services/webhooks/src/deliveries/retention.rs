//! How long the delivery log is kept: a delivery that is done (`succeeded` or `failed`) goes,
//! with its attempts, once its last attempt is older than `webhooks_retention_days`; an event's
//! body goes when no delivery refers to it any more. Pending deliveries are never removed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use joule_runtime::CancellationToken;
use sqlx::PgPool;

use super::PENDING;

const EVERY: Duration = Duration::from_secs(3600);
/// Rows one statement removes, so a first sweep of a large backlog holds no lock for long.
const BATCH: i64 = 5_000;

/// Removes what is older than `cutoff`; how many deliveries and bodies went.
pub async fn sweep(pool: &PgPool, schema: &str, cutoff: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    loop {
        let deliveries = sqlx::query(&format!(
            "DELETE FROM {schema}.deliveries WHERE seq IN (
                 SELECT seq FROM {schema}.deliveries
                 WHERE status <> $1 AND COALESCE(last_attempt_at, created_at) < $2
                 LIMIT $3)"
        ))
        .bind(PENDING)
        .bind(cutoff)
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        removed += deliveries;
        if deliveries < BATCH as u64 {
            break;
        }
    }
    loop {
        let bodies = sqlx::query(&format!(
            "DELETE FROM {schema}.event_bodies WHERE event_id IN (
                 SELECT b.event_id FROM {schema}.event_bodies b
                 WHERE b.created_at < $1
                   AND NOT EXISTS (SELECT 1 FROM {schema}.deliveries d WHERE d.event_id = b.event_id)
                 LIMIT $2)"
        ))
        .bind(cutoff)
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        removed += bodies;
        if bodies < BATCH as u64 {
            return Ok(removed);
        }
    }
}

/// Sweeps now and every hour until shutdown.
pub async fn run(
    pool: PgPool,
    schema: &'static str,
    retention_days: u32,
    shutdown: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    joule_runtime::every("webhooks-retention", EVERY, shutdown, || {
        sweep(
            &pool,
            schema,
            Utc::now() - chrono::Duration::days(i64::from(retention_days)),
        )
    })
    .await
}
