//! The proto mapping, in one place: read rows -> `joule_proto::v1`.

use joule_proto::time::to_proto;
use joule_proto::v1;

use crate::deliveries::store::Delivery;
use crate::endpoints::store::Endpoint;

pub fn endpoint(e: Endpoint) -> v1::WebhookEndpoint {
    v1::WebhookEndpoint {
        id: e.id.to_string(),
        tenant_id: e.tenant_id,
        url: e.url,
        event_types: e.event_types,
        description: e.description,
        enabled: e.enabled,
        disabled_reason: e.disabled_reason,
        disabled_at: e.disabled_at.map(to_proto),
        created_at: Some(to_proto(e.created_at)),
        updated_at: Some(to_proto(e.updated_at)),
        previous_secret_expires_at: e.previous_secret_expires_at.map(to_proto),
    }
}

pub fn delivery(d: Delivery) -> v1::WebhookDelivery {
    let pending = d.status == crate::deliveries::PENDING;
    v1::WebhookDelivery {
        id: d.id.to_string(),
        endpoint_id: d.endpoint_id.to_string(),
        event_id: d.event_id,
        event_type: d.event_type,
        status: d.status,
        attempts: u32::try_from(d.attempts).unwrap_or(0),
        last_status_code: d
            .last_status_code
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0),
        last_error: d.last_error,
        last_attempt_at: d.last_attempt_at.map(to_proto),
        next_attempt_at: pending.then(|| to_proto(d.next_attempt_at)),
        created_at: Some(to_proto(d.created_at)),
    }
}
