//! Publishing in tests as another service would, so a service under test receives what it
//! receives in production: a `joule.v1.Envelope` with tenant `default` and an event id derived from
//! a key (a new key is a new message; the same key is a duplicate JetStream drops).

use chrono::Utc;
use joule_bus::{Bus, EventMeta, Outgoing, envelope};
use joule_domain::EventId;
use joule_proto::{EventName, Message};

/// The metadata of message `sequence` of `aggregate_type` `aggregate_id`, its id derived from `key`.
pub fn meta(key: &str, aggregate_type: &str, aggregate_id: &str, sequence: u64) -> EventMeta {
    EventMeta {
        event_id: EventId::derived(key).to_string(),
        tenant_id: "default".into(),
        aggregate_type: aggregate_type.into(),
        aggregate_id: aggregate_id.into(),
        sequence,
        occurred_at: Utc::now(),
        correlation_id: String::new(),
        causation_id: String::new(),
    }
}

/// Publishes `message` on `subject` (below the namespace, e.g. `pricing.<id>.priced`) with `meta`,
/// durably; panics if JetStream does not acknowledge it.
pub async fn publish<M: Message + EventName>(
    bus: &Bus,
    subject: String,
    meta: EventMeta,
    message: &M,
) {
    bus.publish(Outgoing {
        subject,
        envelope: envelope(message, meta),
        trace_headers: Default::default(),
    })
    .await
    .unwrap_or_else(|e| panic!("publish {}: {e}", M::NAME));
}
