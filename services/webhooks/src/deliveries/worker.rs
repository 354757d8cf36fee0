//! The delivery worker: takes due deliveries from PostgreSQL (shared between replicas by
//! `FOR UPDATE SKIP LOCKED` and a lease), POSTs each to its endpoint, signed, and records the
//! attempt; disables an endpoint that failed for longer than the disable window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use joule_runtime::{BoxError, CancellationToken};
use sqlx::PgPool;
use tokio::sync::Notify;

use super::policy::{AfterFailure, Policy};
use super::store::{self, Attempt, Claimed, Outcome};
use crate::signing;

/// How long past the request timeout a claimed delivery stays with its worker: after a crash it
/// is due again then.
const LEASE_MARGIN: Duration = Duration::from_secs(60);
/// The wait after a failed round (the database unreachable).
const ROUND_RETRY: Duration = Duration::from_secs(1);
/// The most of an error text recorded for one attempt.
const MAX_ERROR_CHARS: usize = 500;

pub struct Worker {
    pub pool: PgPool,
    pub schema: String,
    pub policy: Policy,
    pub batch: i64,
    pub poll: Duration,
    /// Notified when events were queued in this process, so they go out at once.
    pub wake: Arc<Notify>,
    client: reqwest::Client,
}

impl Worker {
    pub fn new(
        pool: PgPool,
        schema: &str,
        policy: Policy,
        batch: u32,
        poll: Duration,
        wake: Arc<Notify>,
    ) -> Result<Self, BoxError> {
        // No redirects: a redirect could lead the platform to an address no endpoint may name; a
        // 3xx is an unsuccessful answer like any other.
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("joule-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            pool,
            schema: schema.to_owned(),
            policy,
            batch: i64::from(batch),
            poll,
            wake,
            client,
        })
    }

    /// Runs rounds until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), BoxError> {
        loop {
            let wait = match self.round().await {
                Ok(n) if i64::try_from(n).unwrap_or(i64::MAX) >= self.batch => Duration::ZERO,
                Ok(_) => self.poll,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries: round failed; retrying");
                    ROUND_RETRY
                }
            };
            if wait.is_zero() && !shutdown.is_cancelled() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Claims due deliveries and sends them all at once; the number claimed.
    pub async fn round(&self) -> Result<usize, sqlx::Error> {
        let now = Utc::now();
        let lease = TimeDelta::from_std(self.policy.timeout.saturating_add(LEASE_MARGIN))
            .unwrap_or(TimeDelta::MAX);
        let lease_until = now.checked_add_signed(lease).unwrap_or(now);
        let claimed = store::claim(&self.pool, &self.schema, now, lease_until, self.batch).await?;
        let n = claimed.len();
        let results = join_all(claimed.iter().map(|c| self.deliver(c))).await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(n)
    }

    async fn deliver(&self, claimed: &Claimed) -> Result<(), sqlx::Error> {
        let attempt = self.send(claimed).await;
        let outcome = if attempt.error.is_empty() {
            Outcome::Succeeded
        } else {
            let failed = u32::try_from(claimed.attempts)
                .unwrap_or(0)
                .saturating_add(1);
            let first = claimed.first_attempt_at.unwrap_or(attempt.at);
            match self.policy.after_failure(
                first,
                attempt.at,
                self.policy.backoff_with_jitter(failed),
            ) {
                AfterFailure::RetryAt(next) => Outcome::RetryAt(next),
                AfterFailure::GiveUp => Outcome::Failed,
            }
        };
        let failing_since =
            store::record(&self.pool, &self.schema, claimed, &attempt, outcome).await?;
        match outcome {
            Outcome::Succeeded => {
                tracing::debug!(delivery = %claimed.id, event = %claimed.event_id, "webhook delivered")
            }
            Outcome::RetryAt(next) => tracing::info!(
                delivery = %claimed.id, endpoint = %claimed.endpoint_id, status = ?attempt.status_code,
                error = %attempt.error, %next, "webhook delivery failed; will retry"
            ),
            Outcome::Failed => tracing::warn!(
                delivery = %claimed.id, endpoint = %claimed.endpoint_id, event = %claimed.event_id,
                error = %attempt.error, "webhook delivery failed for the whole retry window; given up"
            ),
        }
        if let Some(since) = failing_since
            && self.policy.disables(since, attempt.at)
        {
            self.disable(claimed, since, attempt.at).await?;
        }
        Ok(())
    }

    async fn disable(
        &self,
        claimed: &Claimed,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let reason = format!(
            "every delivery failed since {}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        if store::disable(&self.pool, &self.schema, claimed.endpoint_id, &reason, now).await? {
            // The alarm: an integrator no longer receives events until the endpoint is re-enabled.
            tracing::error!(
                endpoint = %claimed.endpoint_id, tenant = %claimed.tenant_id, %since,
                "webhook endpoint disabled: its deliveries have all failed for longer than the disable window"
            );
        }
        Ok(())
    }

    /// POSTs the delivery's body, signed; the attempt's outcome (an empty error after a 2xx).
    async fn send(&self, claimed: &Claimed) -> Attempt {
        let at = Utc::now();
        let body = claimed.body.as_bytes();
        let signature =
            signing::signature_header(claimed.signing_secrets(at), at.timestamp(), body);
        let started = Instant::now();
        let sent = self
            .client
            .post(&claimed.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Joule-Event-Id", &claimed.event_id)
            .header("Joule-Event-Type", &claimed.event_type)
            .header("Joule-Signature", signature)
            .body(claimed.body.clone())
            .send()
            .await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status_code, error) = match sent {
            Ok(response) if response.status().is_success() => {
                (Some(response.status().as_u16()), String::new())
            }
            Ok(response) => {
                let status = response.status();
                (Some(status.as_u16()), format!("HTTP {status}"))
            }
            Err(e) => (e.status().map(|s| s.as_u16()), describe(e)),
        };
        Attempt {
            at,
            status_code,
            error,
            duration_ms,
        }
    }
}

/// A transport error as recorded: without the URL (it may hold the integrator's tokens) and with
/// its causes.
fn describe(error: reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut text = what;
    let error = error.without_url();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}
