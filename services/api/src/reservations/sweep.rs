//! `api-reservation-sweep`: every few seconds, expires the accepted reservations whose time is up,
//! prices the ended ones still without a fee (pricing was down when they ended), and records as
//! failed a reservation whose request never recorded the charger's answer (after
//! [`UNANSWERED_AFTER`]: the request failed or its replica stopped while the charger was asked).
//!
//! A fee pricing refuses (a tariff with no version in force then, say) is tried again later and
//! later (up to every [`MAX_BACKOFF`]), so it neither floods the log nor holds the others back.
//!
//! Safe with several api replicas: each may pick the same reservation, and the aggregate records an
//! expiry or a fee once (optimistic concurrency on its events; a repeated command records nothing).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cqrs_es::AggregateError;
use joule_runtime::BoxError;
use joule_store::CommandMeta;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Reservations;
use crate::domain::reservation::{ReservationCommand, ReservationId};
use crate::projections::reservations::{self as read, Due};

const EVERY: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Far beyond the gateway's wait for a charger's answer and the request timeout.
const UNANSWERED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Reservations handled per round and kind.
const BATCH: i64 = 100;

pub async fn run(
    reservations: Arc<Reservations>,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let mut backoff = Backoff::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(EVERY) => {}
        }
        if let Err(error) = round(&reservations, &mut backoff).await {
            tracing::warn!(%error, "reservation sweep failed; next round retries");
        }
    }
}

/// When each reservation whose fee pricing refused is tried again (this replica's memory).
#[derive(Debug, Default)]
pub struct Backoff(HashMap<Uuid, (u32, Instant)>);

impl Backoff {
    fn due(&self, id: Uuid, now: Instant) -> bool {
        self.0.get(&id).is_none_or(|(_, next)| *next <= now)
    }

    fn failed(&mut self, id: Uuid, now: Instant) {
        let failures = self.0.get(&id).map_or(1, |(n, _)| n.saturating_add(1));
        let wait = EVERY
            .saturating_mul(1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX))
            .min(MAX_BACKOFF);
        self.0.insert(id, (failures, now + wait));
    }
}

/// One round: expiries first, then the fees.
pub async fn round(reservations: &Reservations, backoff: &mut Backoff) -> Result<(), sqlx::Error> {
    for due in read::due_to_expire(&reservations.pool, Utc::now(), BATCH).await? {
        let (id, meta) = named(&due);
        let command = ReservationCommand::Expire { now: Utc::now() };
        match reservations.execute(id, command, meta.clone()).await {
            Ok(()) => {
                reservations.try_record_fee(id, meta).await;
            }
            // Cancelled or used meanwhile (the read table lags): nothing to expire.
            Err(AggregateError::UserError(e)) => {
                tracing::debug!(reservation = %id, %e, "not expired")
            }
            Err(e) => {
                tracing::warn!(reservation = %id, error = %e, "cannot expire the reservation")
            }
        }
    }
    let before = Utc::now() - UNANSWERED_AFTER;
    for due in read::unanswered(&reservations.pool, before, BATCH).await? {
        let (id, meta) = named(&due);
        let command = ReservationCommand::Fail {
            reason: "the charger's answer to ReserveNow was not recorded".into(),
            at: Utc::now(),
        };
        if let Err(e) = reservations.execute(id, command, meta).await {
            tracing::warn!(reservation = %id, error = %e, "cannot close the unanswered reservation");
        }
    }
    let now = Instant::now();
    for due in read::unpriced(&reservations.pool, BATCH).await? {
        if !backoff.due(due.id, now) {
            continue;
        }
        let (id, meta) = named(&due);
        match reservations.record_fee(id, meta).await {
            Ok(()) => {
                backoff.0.remove(&due.id);
            }
            // Pricing is down: the rest of the batch would fail the same way.
            Err(error) if error.pricing_is_down() => {
                tracing::warn!(reservation = %id, %error, "reservation fee not priced; retrying later");
                break;
            }
            Err(error) => {
                backoff.failed(due.id, now);
                tracing::warn!(reservation = %id, %error, "reservation fee not priced; tried again later");
            }
        }
    }
    Ok(())
}

fn named(due: &Due) -> (ReservationId, CommandMeta) {
    let meta = CommandMeta {
        tenant_id: due.tenant_id.clone(),
        correlation_id: Uuid::new_v4().to_string(),
        causation_id: String::new(),
    };
    (ReservationId::from(due.id), meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_fee_is_tried_again_later_and_later() {
        let mut backoff = Backoff::default();
        let (id, now) = (Uuid::new_v4(), Instant::now());
        assert!(backoff.due(id, now));
        backoff.failed(id, now);
        assert!(!backoff.due(id, now + EVERY));
        assert!(backoff.due(id, now + EVERY * 2));
        backoff.failed(id, now);
        assert!(!backoff.due(id, now + EVERY * 3));
        assert!(backoff.due(id, now + EVERY * 4));
        for _ in 0..40 {
            backoff.failed(id, now);
        }
        assert!(backoff.due(id, now + MAX_BACKOFF));
        assert!(backoff.due(Uuid::new_v4(), now));
    }
}
