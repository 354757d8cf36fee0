//! Integration events as JSON, for readers outside the platform (outbound webhooks): the envelope's
//! fields, and the payload in proto3's JSON mapping with the proto field names (`session_id`, as the
//! REST API names fields; proto3 JSON parsers accept them), default values left out, 64-bit
//! integers as strings, timestamps in RFC 3339, rendered by reflection from
//! [`crate::DESCRIPTOR_SET`], so a new event message needs no code here.

use std::sync::LazyLock;

use chrono::SecondsFormat;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

use crate::v1::Envelope;

#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("the descriptor set does not decode: {0}")]
    Descriptors(String),
    #[error("{0} is not a message of proto/joule/v1")]
    UnknownType(String),
    #[error("{event_type}: the payload does not decode: {reason}")]
    Payload { event_type: String, reason: String },
    #[error("the envelope has no valid occurred_at")]
    OccurredAt,
    #[error("{0}")]
    Serialize(String),
}

static POOL: LazyLock<Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(crate::DESCRIPTOR_SET).map_err(|e| e.to_string()));

/// The descriptors of every message of `proto/joule/v1` and the well-known types it imports.
pub fn pool() -> Result<&'static DescriptorPool, JsonError> {
    POOL.as_ref().map_err(|e| JsonError::Descriptors(e.clone()))
}

/// The payload of `envelope`, the message its `event_type` names, in proto3 JSON with the proto
/// field names.
pub fn payload_json(envelope: &Envelope) -> Result<serde_json::Value, JsonError> {
    let descriptor = pool()?
        .get_message_by_name(&envelope.event_type)
        .ok_or_else(|| JsonError::UnknownType(envelope.event_type.clone()))?;
    let message = DynamicMessage::decode(descriptor, envelope.payload.as_slice()).map_err(|e| {
        JsonError::Payload {
            event_type: envelope.event_type.clone(),
            reason: e.to_string(),
        }
    })?;
    message
        .serialize_with_options(
            serde_json::value::Serializer,
            &SerializeOptions::new().use_proto_field_name(true),
        )
        .map_err(|e| JsonError::Serialize(e.to_string()))
}

/// `envelope` as one JSON object: `id`, `type`, `schema_version`, `tenant_id`, `aggregate_type`,
/// `aggregate_id`, `sequence`, `occurred_at` (RFC 3339, UTC) and `data`, the payload
/// ([`payload_json`]).
pub fn event_json(envelope: &Envelope) -> Result<serde_json::Value, JsonError> {
    let occurred_at = crate::time::from_proto(envelope.occurred_at.as_ref())
        .ok_or(JsonError::OccurredAt)?
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Ok(serde_json::json!({
        "id": envelope.event_id,
        "type": envelope.event_type,
        "schema_version": envelope.schema_version,
        "tenant_id": envelope.tenant_id,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "sequence": envelope.sequence,
        "occurred_at": occurred_at,
        "data": payload_json(envelope)?,
    }))
}

pub mod schema;

pub use crate::PUBLIC_EVENT_TYPES;

#[cfg(test)]
mod tests;
