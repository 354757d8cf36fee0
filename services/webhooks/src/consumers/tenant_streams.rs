//! `integrators-<stream>`: every public event of a stream, in JSON, into its tenant's stream on the
//! integrator plane (ADR 043), stored there before the message is acknowledged. Apart from the
//! webhook consumers, so that a plane that is down holds back no webhook.

use std::sync::Arc;

use bytes::Bytes;
use joule_bus::tenant_streams::TenantStreams;
use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};

use crate::events;

/// The consumer of `domain`'s whole stream.
pub fn spec(domain: Domain) -> ConsumerSpec {
    ConsumerSpec {
        domain,
        durable: format!("integrators-{}", domain.subject_root()),
        filter: None,
        on_park: OnPark::Skip,
    }
}

pub struct TenantStreamHandler {
    pub streams: Arc<TenantStreams>,
    pub domain: Domain,
    /// The tenant of messages that name none.
    pub default_tenant: String,
}

impl Handler for TenantStreamHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let envelope = &received.envelope;
            let Some(tenant) = events::deliverable_to(envelope, &self.default_tenant) else {
                return Ok(());
            };
            let body = events::render(envelope, tenant)?;
            self.streams
                .publish(
                    tenant,
                    self.domain.subject_root(),
                    &envelope.event_type,
                    &envelope.event_id,
                    Bytes::from(body.to_string()),
                )
                .await
                .map_err(|e| HandlerError::Transient(e.to_string()))
        })
    }
}
