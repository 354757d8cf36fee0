//! `webhooks-<stream>`: every deliverable event of a stream becomes one pending delivery per
//! enabled endpoint of its tenant that takes its type, stored before the message is acknowledged.

use std::sync::Arc;

use chrono::Utc;
use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::deliveries::store as deliveries;
use crate::endpoints::store as endpoints;
use crate::events;

/// The consumer of `domain`'s whole stream.
pub fn spec(domain: Domain) -> ConsumerSpec {
    ConsumerSpec {
        domain,
        durable: format!("webhooks-{}", domain.subject_root()),
        filter: None,
        // A lost delivery is not made up for by a later message, but holding an aggregate back
        // would hold every later webhook of it: the parked message is there to replay.
        on_park: OnPark::Skip,
    }
}

pub struct EventHandler {
    pub pool: PgPool,
    pub schema: String,
    /// The tenant of messages that name none.
    pub default_tenant: String,
    /// Wakes the delivery worker of this process.
    pub wake: Arc<Notify>,
}

impl Handler for EventHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let envelope = &received.envelope;
            let Some(tenant) = events::deliverable_to(envelope, &self.default_tenant) else {
                return Ok(());
            };
            let subscribed =
                endpoints::subscribed(&self.pool, &self.schema, tenant, &envelope.event_type)
                    .await
                    .map_err(joule_store::consumer_error)?;
            if subscribed.is_empty() {
                return Ok(());
            }
            let body = events::render(envelope, tenant)?;
            let queued = deliveries::enqueue(
                &self.pool,
                &self.schema,
                &envelope.event_id,
                &envelope.event_type,
                &body.to_string(),
                &subscribed,
                Utc::now(),
            )
            .await
            .map_err(joule_store::consumer_error)?;
            if queued > 0 {
                tracing::debug!(event = %envelope.event_id, r#type = %envelope.event_type, queued, "webhook deliveries queued");
                self.wake.notify_one();
            }
            Ok(())
        })
    }
}
