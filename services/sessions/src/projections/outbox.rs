//! What happens to each committed session event: the read model is updated, and the integration
//! events `SessionStarted` / `SessionMetered` (readings of a running session) / `SessionCompleted`
//! are published on stream SESSION.

use joule_bus::{Outgoing, envelope};
use joule_store::{BoxFuture, OutboxHandler, ProjectionError, StoredEvent};
use sqlx::PgConnection;

use super::{session_view, signed_values};
use crate::domain::session::{SessionEvent, TokenRef};
use crate::wire;

pub struct SessionOutbox {
    /// The deployment's tenant, for events that name none.
    pub default_tenant: String,
}

impl OutboxHandler for SessionOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(project(conn, event, &self.default_tenant))
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        messages(event)
    }
}

async fn project(
    conn: &mut PgConnection,
    event: &StoredEvent,
    default_tenant: &str,
) -> Result<(), ProjectionError> {
    let id = &event.aggregate_id;
    // The tenant of the charger event that caused it (kept by the row from its first event on).
    let tenant = match event.metadata.get("tenant_id").map(String::as_str) {
        None | Some("") => default_tenant,
        Some(tenant) => tenant,
    };
    match event.read()? {
        SessionEvent::SessionStarted(s) => session_view::started(conn, id, tenant, &s).await?,
        SessionEvent::StopReceived(stop) => {
            session_view::stop_received(conn, id, tenant, &stop).await?
        }
        SessionEvent::SignedValuesRecorded { values } => {
            signed_values::recorded(conn, id, &values).await?
        }
        SessionEvent::SessionCompleted {
            start,
            stop,
            started_at,
            meter_start,
            energy,
            flags,
            meter_stop,
            token,
            ..
        } => {
            let start = start.as_ref();
            let token = token.or_else(|| {
                start.map(|s| TokenRef {
                    token_uid: s.token_uid.clone(),
                    account_id: s.account_id.clone(),
                })
            });
            let completed = session_view::Completed {
                start,
                stop: &stop,
                started_at,
                meter_start,
                meter_stop: meter_stop.or(stop.meter_stop).unwrap_or(meter_start),
                energy,
                token,
                flags: &flags,
            };
            session_view::completed(conn, id, tenant, completed).await?
        }
        SessionEvent::SessionFlagged { flag, .. } => session_view::flagged(conn, id, &flag).await?,
        SessionEvent::ReadingsRecorded {
            readings,
            received_at,
            ..
        } => session_view::readings_recorded(conn, id, &readings, received_at).await?,
    }
    Ok(())
}

fn messages(event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
    let decoded: SessionEvent = event.decode().map_err(|e| e.to_string())?;
    let id = &event.aggregate_id;
    let (subject, envelope) = match decoded {
        SessionEvent::SessionStarted(s) => {
            let received_at = s.received_at;
            let message = wire::started_message(id, s);
            (
                format!("session.{id}.started"),
                envelope(&message, event.meta(0, received_at)),
            )
        }
        SessionEvent::SessionCompleted { ref stop, .. } => {
            let message = wire::completed_message(id, &decoded)
                .ok_or_else(|| format!("session {id}: no SessionCompleted message"))?;
            (
                format!("session.{id}.completed"),
                envelope(&message, event.meta(0, stop.received_at)),
            )
        }
        SessionEvent::ReadingsRecorded {
            readings,
            running: Some(running),
            ..
        } => {
            let sequence = u64::try_from(event.sequence)
                .map_err(|_| format!("negative event sequence {}", event.sequence))?;
            let as_of = running.as_of;
            let message = wire::metered_message(id, &readings, running, sequence);
            (
                format!("session.{id}.metered"),
                envelope(&message, event.meta(0, as_of)),
            )
        }
        SessionEvent::ReadingsRecorded { .. }
        | SessionEvent::SessionFlagged { .. }
        | SessionEvent::StopReceived(_)
        | SessionEvent::SignedValuesRecorded { .. } => {
            return Ok(vec![]);
        }
    };
    Ok(vec![Outgoing {
        subject,
        envelope,
        trace_headers: event.trace_headers(),
    }])
}
