//! Which integration events an endpoint can receive, and the streams they come from.
//!
//! The deliverable events are the public ones, [`joule_proto::json::PUBLIC_EVENT_TYPES`]: every event
//! message of `proto/joule/v1` but `ChargerCredentialsSet` and `AuditRecorded`. A type not listed
//! is never delivered.

use joule_bus::{Domain, Envelope, HandlerError};

/// An endpoint's event type that stands for every listed one.
pub const ALL: &str = "*";

/// The streams the service consumes, one durable consumer each: every domain with deliverable
/// events (AUDIT has none).
pub const STREAMS: [Domain; 7] = [
    Domain::Charger,
    Domain::Registry,
    Domain::Session,
    Domain::Pricing,
    Domain::Invoice,
    Domain::Ledger,
    Domain::Payment,
];

/// The deliverable event types, as `Envelope::event_type` names them.
pub const EVENT_TYPES: &[&str] = joule_proto::json::PUBLIC_EVENT_TYPES;

pub fn is_deliverable(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type)
}

/// The tenant a deliverable event belongs to (its own, or `default_tenant` for one that names
/// none); `None` for an event integrators never receive.
pub fn deliverable_to<'a>(envelope: &'a Envelope, default_tenant: &'a str) -> Option<&'a str> {
    if !is_deliverable(&envelope.event_type) {
        return None;
    }
    Some(match envelope.tenant_id.as_str() {
        "" => default_tenant,
        t => t,
    })
}

/// The event as integrators receive it, by webhook and on their stream: the envelope in JSON
/// (`docs/events/`) with its `tenant_id`. A message that does not render is rejected (parked).
pub fn render(envelope: &Envelope, tenant: &str) -> Result<serde_json::Value, HandlerError> {
    let mut body = joule_proto::json::event_json(envelope)
        .map_err(|e| HandlerError::Rejected(format!("event {}: {e}", envelope.event_id)))?;
    body["tenant_id"] = serde_json::Value::String(tenant.to_owned());
    Ok(body)
}

#[cfg(test)]
mod tests {
    use joule_proto::{EventName, v1};

    use super::*;

    #[test]
    fn secrets_and_the_audit_log_are_never_delivered() {
        assert!(is_deliverable("joule.v1.SessionCompleted"));
        assert!(!is_deliverable(
            <v1::ChargerCredentialsSet as EventName>::NAME
        ));
        assert!(!is_deliverable(<v1::AuditRecorded as EventName>::NAME));
        assert!(!is_deliverable(ALL));
    }

    #[test]
    fn every_deliverable_type_renders_as_json() {
        let pool = joule_proto::json::pool().expect("descriptors");
        for name in EVENT_TYPES {
            assert!(pool.get_message_by_name(name).is_some(), "{name}");
        }
    }
}
