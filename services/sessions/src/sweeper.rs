//! Completes sessions that stopped but whose earlier 2.0.1 events never arrived (a `seqNo` gap):
//! after `JOULE_SESSION_EVENT_WAIT_SECS` the session completes with what it has, flagged
//! `sequence_gap`, so that energy is billed rather than left waiting forever. Safe on every
//! replica: the command is idempotent.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::session::{ChargingSession, SessionCommand};

/// Sessions completed per round, so that one round stays short.
const BATCH: i64 = 200;

pub struct Sweeper {
    pub pool: PgPool,
    pub cqrs: Arc<PostgresCqrs<ChargingSession>>,
    pub wait: Duration,
    pub tenant: String,
}

impl Sweeper {
    /// How often to look: often enough that a session waits at most about `wait` plus a quarter.
    fn interval(&self) -> Duration {
        // A quarter of the wait (dividing by 4 cannot fail; the fallback is never taken).
        self.wait
            .checked_div(4)
            .unwrap_or(self.wait)
            .clamp(Duration::from_millis(200), Duration::from_secs(60))
    }

    /// Completes the overdue sessions once; returns how many it completed.
    pub async fn sweep(&self) -> Result<usize, sqlx::Error> {
        // A wait beyond chrono's range means "never": the earliest time then.
        let cutoff = chrono::Duration::from_std(self.wait)
            .ok()
            .and_then(|wait| Utc::now().checked_sub_signed(wait))
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM sessions.session_view
             WHERE status = 'ended' AND awaiting_since < $1 ORDER BY awaiting_since LIMIT $2",
        )
        .bind(cutoff)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut done: usize = 0;
        for id in ids {
            let meta = CommandMeta {
                tenant_id: self.tenant.clone(),
                correlation_id: uuid::Uuid::new_v4().to_string(),
                causation_id: String::new(),
            };
            match joule_store::execute(&self.cqrs, &id, SessionCommand::CompleteOverdue, meta).await
            {
                Ok(()) => done = done.saturating_add(1),
                Err(e) => {
                    tracing::warn!(session_id = %id, error = %e, "cannot complete an overdue session")
                }
            }
        }
        Ok(done)
    }

    pub async fn run(self, shutdown: CancellationToken) -> Result<(), std::io::Error> {
        let mut tick = tokio::time::interval(self.interval());
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            match self.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    sessions = n,
                    "overdue sessions completed without their missing events"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot look for overdue sessions"),
            }
        }
    }
}
