//! JSON Schemas (2020-12, as OpenAPI 3.1 embeds them) of the events' JSON rendering
//! ([`super::event_json`]), derived from the descriptors, so the schema and the rendering come
//! from the same `.proto` text: a field added to a message appears in both.
//!
//! proto3's JSON mapping as [`super::payload_json`] writes it: proto field names; no field is
//! required (default values are left out); 64-bit integers as decimal strings; `bytes` as base64;
//! enums by value name; `google.protobuf.Timestamp` as an RFC 3339 string; maps as objects.

use std::collections::BTreeMap;

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Value, json};

use super::{JsonError, pool};

/// The schemas of `event_types`' messages and every message they contain, keyed by full name
/// (`joule.v1.SessionCompleted`); a message refers to another as `{ref_prefix}<full name>`.
pub fn message_schemas(
    event_types: &[&str],
    ref_prefix: &str,
) -> Result<BTreeMap<String, Value>, JsonError> {
    let pool = pool()?;
    let mut out = BTreeMap::new();
    let mut todo: Vec<MessageDescriptor> = event_types
        .iter()
        .map(|name| {
            pool.get_message_by_name(name)
                .ok_or_else(|| JsonError::UnknownType((*name).to_owned()))
        })
        .collect::<Result<_, _>>()?;
    while let Some(message) = todo.pop() {
        if out.contains_key(message.full_name()) {
            continue;
        }
        let mut properties = serde_json::Map::new();
        for field in message.fields() {
            properties.insert(
                field.name().to_owned(),
                field_schema(&field, ref_prefix, &mut todo),
            );
        }
        out.insert(
            message.full_name().to_owned(),
            json!({"type": "object", "properties": properties}),
        );
    }
    Ok(out)
}

/// The envelope every event travels in, as webhooks deliver it, with `data` the schema `data`.
pub fn envelope_schema(data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["id", "type", "schema_version", "tenant_id", "aggregate_type",
                     "aggregate_id", "sequence", "occurred_at", "data"],
        "properties": {
            "id": {"type": "string", "description": "The event id: de-duplicate on it."},
            "type": {"type": "string", "description": "The message `data` is (`joule.v1.SessionCompleted`)."},
            "schema_version": {"type": "integer", "minimum": 0},
            "tenant_id": {"type": "string"},
            "aggregate_type": {"type": "string"},
            "aggregate_id": {"type": "string"},
            "sequence": {"type": "integer", "minimum": 0, "description": "The event's place in its aggregate's history."},
            "occurred_at": {"type": "string", "format": "date-time"},
            "data": data,
        }
    })
}

/// One JSON Schema (2020-12) document of every public event as JSON: an envelope whose `type`
/// names the message `data` is, one branch per event type, with every message in `$defs`. The
/// document `docs/events/joule.v1.events.schema.json` holds; `joule event-schemas` prints it.
pub fn events_document(event_types: &[&str]) -> Result<Value, JsonError> {
    let defs = message_schemas(event_types, "#/$defs/")?;
    let branches: Vec<Value> = event_types
        .iter()
        .map(|event_type| {
            let mut envelope = envelope_schema(json!({"$ref": format!("#/$defs/{event_type}")}));
            envelope["properties"]["type"] = json!({"const": event_type});
            envelope["title"] = json!(event_type);
            envelope
        })
        .collect();
    Ok(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:joule:events:joule.v1",
        "title": "Joule's integration events as JSON (proto package joule.v1, schema_version 1)",
        "description": "What a webhook delivers and what the JSON rendering of a stream's Envelope is: \
            the envelope's fields and `data`, the event message in proto3's JSON mapping with the \
            proto field names. Generated from proto/joule/v1; a field is only ever added \
            (a change of meaning is a new message or a new schema_version).",
        "oneOf": branches,
        "$defs": defs,
    }))
}

fn field_schema(
    field: &FieldDescriptor,
    ref_prefix: &str,
    todo: &mut Vec<MessageDescriptor>,
) -> Value {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({"type": "object"});
        };
        let value = entry.map_entry_value_field();
        return json!({
            "type": "object",
            "additionalProperties": kind_schema(&value.kind(), ref_prefix, todo),
        });
    }
    let item = kind_schema(&field.kind(), ref_prefix, todo);
    if field.cardinality() == Cardinality::Repeated {
        json!({"type": "array", "items": item})
    } else {
        item
    }
}

fn kind_schema(kind: &Kind, ref_prefix: &str, todo: &mut Vec<MessageDescriptor>) -> Value {
    match kind {
        Kind::Double | Kind::Float => json!({"type": "number"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({"type": "integer"}),
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "minimum": 0}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({"type": "string", "pattern": "^-?[0-9]+$"})
        }
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "pattern": "^[0-9]+$"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            json!({"type": "string", "enum": names})
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
            "google.protobuf.Duration" => {
                json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
            }
            name => {
                todo.push(m.clone());
                json!({"$ref": format!("{ref_prefix}{name}")})
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_per_message_with_proto_names_and_json_kinds() {
        let schemas = message_schemas(&["joule.v1.SessionCompleted"], "#/$defs/").expect("schemas");
        let completed = &schemas["joule.v1.SessionCompleted"]["properties"];
        assert_eq!(completed["charge_point_id"], json!({"type": "string"}));
        assert_eq!(completed["stopped_at"]["format"], "date-time");
        // A contained message is its own schema, referred to.
        let samples = &completed["samples"];
        assert_eq!(samples["type"], "array");
        let reference = samples["items"]["$ref"].as_str().expect("a reference");
        let name = reference.strip_prefix("#/$defs/").expect("the prefix");
        assert!(schemas.contains_key(name), "{name}");
    }

    /// The published document is the one the `.proto` files give today: regenerate it with
    /// `cargo run --bin joule -- event-schemas > docs/events/joule.v1.events.schema.json`.
    #[test]
    fn the_published_events_document_is_current() {
        let generated = events_document(super::super::PUBLIC_EVENT_TYPES).expect("document");
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/events/joule.v1.events.schema.json"
        );
        let published: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("the published document"))
                .expect("JSON");
        assert!(
            published == generated,
            "docs/events/joule.v1.events.schema.json is stale: regenerate it with \
             `cargo run --bin joule -- event-schemas > docs/events/joule.v1.events.schema.json`"
        );
    }

    #[test]
    fn an_unknown_event_type_is_an_error() {
        assert!(matches!(
            message_schemas(&["joule.v1.NoSuchEvent"], ""),
            Err(JsonError::UnknownType(_))
        ));
    }
}
