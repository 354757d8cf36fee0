//! Completes sessions that would otherwise wait forever, so that their energy is billed:
//! - sessions that stopped but whose earlier 2.0.1 events never arrived (a `seqNo` gap): after
//!   `JOULE_SESSION_EVENT_WAIT_SECS` the session completes with what it has, flagged `sequence_gap`;
//! - open sessions without a message for `JOULE_SESSION_INACTIVITY_SECS` (a lost stop, a stop the
//!   matching could not place, a charger gone): closed from the last reading, flagged
//!   `closed_for_inactivity` (ADR 027).
//!
//! The read model only proposes candidates; each session's aggregate decides, so the sweep is safe
//! on every replica and with a read model a little behind: the commands are idempotent. Each
//! command carries its session's tenant (the read model's), so the events it records do too.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::domain::session::{ChargingSession, SessionCommand};
use crate::projections::session_view;

/// Sessions completed per round, so that one round stays short.
const BATCH: i64 = 200;

#[derive(Clone)]
pub struct Sweeper {
    pub pool: PgPool,
    pub cqrs: Arc<PostgresCqrs<ChargingSession>>,
    pub wait: Duration,
    /// `None`: open sessions are never closed for inactivity.
    pub inactivity: Option<Duration>,
    /// The deployment's tenant, for a session whose row names none yet.
    pub tenant: String,
}

impl Sweeper {
    /// How often to look: often enough that a session waits at most about `wait` plus a quarter.
    fn interval(&self) -> Duration {
        let shortest = self.inactivity.map_or(self.wait, |i| i.min(self.wait));
        // A quarter of the shortest wait (dividing by 4 cannot fail; the fallback is never taken).
        shortest
            .checked_div(4)
            .unwrap_or(shortest)
            .clamp(Duration::from_millis(200), Duration::from_secs(60))
    }

    fn meta(&self, tenant: &str) -> CommandMeta {
        let tenant = if tenant.is_empty() {
            &self.tenant
        } else {
            tenant
        };
        CommandMeta {
            tenant_id: tenant.to_owned(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            causation_id: String::new(),
        }
    }

    /// Closes the open sessions without a message since `inactivity`, up to [`BATCH`] per call,
    /// from `after` (a session id) on; returns how many it looked at (their aggregates decide
    /// whether to close) and where the next call goes on (`None`: from the start). Walking by id rather than by age keeps a
    /// candidate that its aggregate finds still active (its read model row is behind) from
    /// holding back the others.
    pub async fn sweep_inactive(
        &self,
        after: Option<String>,
    ) -> Result<(usize, Option<String>), sqlx::Error> {
        let Some(inactivity) = self.inactivity else {
            return Ok((0, None));
        };
        let now = Utc::now();
        let limit = chrono::Duration::from_std(inactivity).unwrap_or(chrono::Duration::MAX);
        let cutoff = now
            .checked_sub_signed(limit)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let ids =
            session_view::inactive(&self.pool, cutoff, &after.unwrap_or_default(), BATCH).await?;
        let next = (ids.len() as i64 == BATCH)
            .then(|| ids.last().map(|(id, _)| id.clone()))
            .flatten();
        for (id, tenant) in &ids {
            let command = SessionCommand::CloseInactive { now, limit };
            if let Err(e) = joule_store::execute(&self.cqrs, id, command, self.meta(tenant)).await {
                tracing::warn!(session_id = %id, error = %e, "cannot close an inactive session");
            }
        }
        Ok((ids.len(), next))
    }

    /// Completes the overdue sessions once; returns how many it completed.
    pub async fn sweep(&self) -> Result<usize, sqlx::Error> {
        // A wait beyond chrono's range means "never": the earliest time then.
        let cutoff = chrono::Duration::from_std(self.wait)
            .ok()
            .and_then(|wait| Utc::now().checked_sub_signed(wait))
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let ids = session_view::overdue(&self.pool, cutoff, BATCH).await?;
        let mut done: usize = 0;
        for (id, tenant) in ids {
            match joule_store::execute(
                &self.cqrs,
                &id,
                SessionCommand::CompleteOverdue,
                self.meta(&tenant),
            )
            .await
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
        let mut after = None;
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
            match self.sweep_inactive(after.take()).await {
                Ok((looked, next)) => {
                    after = next;
                    if looked > 0 {
                        tracing::info!(
                            sessions = looked,
                            "sessions without messages looked at for closing"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot look for inactive sessions"),
            }
        }
    }
}
