//! `api-audit`: projects the audit log (`<NS>_AUDIT`) into `api.audit_events`.

use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_proto::v1::AuditRecorded;
use sqlx::PgPool;
use uuid::Uuid;

use crate::projections::audit::{self, AuditEventView, NewAuditEvent};

pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Audit,
        durable: "api-audit".into(),
        filter: None,
        // Records are independent; one that cannot be read must not hold the others back.
        on_park: OnPark::Skip,
    }
}

pub struct AuditProjection(pub PgPool);

impl Handler for AuditProjection {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let message: AuditRecorded = received.payload()?;
            let envelope = &received.envelope;
            let id: Uuid = envelope.event_id.parse().map_err(|e| {
                HandlerError::Rejected(format!("audit event id {:?}: {e}", envelope.event_id))
            })?;
            let at = joule_proto::time::from_proto(message.at.as_ref())
                .ok_or_else(|| HandlerError::Rejected("AuditRecorded.at is missing".into()))?;
            let event = AuditEventView {
                seq: 0,
                id,
                at,
                actor: message.actor,
                credential: message.credential,
                roles: message.roles,
                request_id: message.request_id,
                method: message.method,
                route: message.route,
                path: message.path,
                target_ids: message.target_ids,
                status: i32::try_from(message.status).unwrap_or(i32::MAX),
                outcome: message.outcome,
            };
            let new = NewAuditEvent {
                tenant: envelope.tenant_id.clone(),
                event,
            };
            audit::insert(&self.0, new)
                .await
                .map_err(|e| HandlerError::Transient(e.to_string()))
        })
    }
}
