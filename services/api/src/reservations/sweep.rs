//! `api-reservation-sweep`: every few seconds, expires the accepted reservations whose time is up
//! and prices the ended ones still without a fee (pricing was down when they ended).
//!
//! Safe with several api replicas: each may pick the same reservation, and the aggregate records an
//! expiry or a fee once (optimistic concurrency on its events; a repeated command records nothing).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cqrs_es::AggregateError;
use joule_runtime::BoxError;
use joule_store::CommandMeta;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Reservations;
use crate::domain::reservation::{ReservationCommand, ReservationId};
use crate::projections::reservations::{self as read, Due};

const EVERY: Duration = Duration::from_secs(2);
/// Reservations handled per round and kind.
const BATCH: i64 = 100;

pub async fn run(
    reservations: Arc<Reservations>,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(EVERY) => {}
        }
        if let Err(error) = round(&reservations).await {
            tracing::warn!(%error, "reservation sweep failed; next round retries");
        }
    }
}

/// One round: expiries first, then the fees.
pub async fn round(reservations: &Reservations) -> Result<(), sqlx::Error> {
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
    for due in read::unpriced(&reservations.pool, BATCH).await? {
        let (id, meta) = named(&due);
        match reservations.record_fee(id, meta).await {
            Ok(()) => {}
            // Pricing is down: the rest of the batch would fail the same way.
            Err(error) if error.pricing_is_down() => {
                tracing::warn!(reservation = %id, %error, "reservation fee not priced; retrying later");
                break;
            }
            Err(error) => tracing::warn!(reservation = %id, %error, "reservation fee not priced"),
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
