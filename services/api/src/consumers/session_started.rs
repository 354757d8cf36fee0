//! `api-reservations-used` (SESSION, `session.*.started`): a session of the reserved token that
//! starts on the reserved charger (same tenant) while the reservation holds uses it: the
//! reservation ends as used, with the session's id, and its fee is priced.

use std::sync::Arc;

use cqrs_es::AggregateError;
use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_domain::SessionId;
use joule_proto::v1::SessionStarted;
use joule_store::CommandMeta;

use crate::domain::reservation::{ReservationCommand, ReservationId};
use crate::projections::reservations as read;
use crate::reservations::Reservations;

pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Session,
        durable: "api-reservations-used".into(),
        filter: Some("session.*.started".into()),
        // A lost start leaves the reservation to expire: a fee, not a lost payment.
        on_park: OnPark::Skip,
    }
}

pub struct ReservationsUsed(pub Arc<Reservations>);

impl Handler for ReservationsUsed {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let started: SessionStarted = received.payload()?;
            let session_id: SessionId = started.session_id.parse().map_err(|e| {
                HandlerError::Rejected(format!("session id {:?}: {e}", started.session_id))
            })?;
            let started_at = joule_proto::time::from_proto(started.started_at.as_ref())
                .ok_or_else(|| {
                    HandlerError::Rejected("SessionStarted.started_at is missing".into())
                })?;
            let tenant = &received.envelope.tenant_id;
            let held = read::held_for(
                &self.0.pool,
                tenant,
                &started.charge_point_id,
                &started.token_uid,
                started_at,
            )
            .await
            .map_err(joule_store::consumer_error)?;
            let Some(id) = held else {
                return Ok(());
            };
            let id = ReservationId::from(id);
            let meta = CommandMeta::caused_by(&received.envelope);
            let command = ReservationCommand::Use {
                session_id,
                started_at,
            };
            match self.0.execute(id, command, meta.clone()).await {
                Ok(()) => {}
                // Ended otherwise meanwhile (cancelled, expired, another session).
                Err(AggregateError::UserError(e)) => {
                    tracing::debug!(reservation = %id, %e, "session does not use the reservation");
                    return Ok(());
                }
                Err(e) => return Err(HandlerError::Transient(e.to_string())),
            }
            self.0.try_record_fee(id, meta).await;
            Ok(())
        })
    }
}
