//! The sweeper: retries failed captures whose time has come and resumes operations a crash or an
//! outage left pending (with the same idempotency keys, so nothing happens twice).

use std::sync::Arc;
use std::time::Duration;

use joule_domain::TenantId;
use joule_runtime::BoxError;
use joule_store::CommandMeta;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::SCHEMA;
use crate::engine::Engine;
use crate::ids::IntentId;

/// How often the sweeper looks for failed captures due again and operations left pending.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// An operation pending this long was left by a crash or an outage, not by a running call.
const STALE_PENDING_SECS: f64 = 15.0;

/// Sweeps every [`SWEEP_EVERY`] until `shutdown`.
pub async fn sweep(
    engine: Arc<Engine>,
    pool: PgPool,
    tenant: TenantId,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let due: Vec<(Uuid, bool)> = match sqlx::query_as(&format!(
            "SELECT id, pending_op IS NULL FROM {SCHEMA}.intents
             WHERE (next_capture_at <= now() AND status = 'authorized' AND pending_op IS NULL)
                OR (pending_op IS NOT NULL AND updated_at < now() - make_interval(secs => $1))
             ORDER BY updated_at LIMIT 100"
        ))
        .bind(STALE_PENDING_SECS)
        .fetch_all(&pool)
        .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "sweep query failed");
                continue;
            }
        };
        for (id, retry) in due {
            let id = IntentId::from(id);
            let meta = CommandMeta {
                tenant_id: tenant.to_string(),
                correlation_id: Uuid::new_v4().to_string(),
                causation_id: String::new(),
            };
            let result = if retry {
                engine.retry_capture(id, &meta).await
            } else {
                engine.resume(id, &meta).await
            };
            if let Err(e) = result {
                tracing::warn!(intent = %id, error = %e, "sweep could not finish an intent; next sweep retries");
            }
        }
    }
}
