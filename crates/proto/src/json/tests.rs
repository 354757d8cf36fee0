use chrono::{TimeZone, Utc};
use prost::Message;

use super::*;
use crate::v1;

fn completed() -> Envelope {
    let at = |s| crate::time::to_proto(Utc.timestamp_opt(s, 0).single().expect("a time"));
    let message = v1::SessionCompleted {
        session_id: "3f1c".into(),
        charge_point_id: "CP-1".into(),
        connector_id: 2,
        started_at: Some(at(1_767_225_600)),
        stopped_at: Some(at(1_767_229_200)),
        energy_wh: "12345.6".into(),
        flags: vec!["meter_regression".into()],
        samples: vec![v1::EnergyReading {
            at: Some(at(1_767_225_600)),
            register_wh: "1000".into(),
        }],
        ..Default::default()
    };
    Envelope {
        event_id: "e-1".into(),
        event_type: "joule.v1.SessionCompleted".into(),
        schema_version: 1,
        tenant_id: "acme".into(),
        aggregate_type: "ChargingSession".into(),
        aggregate_id: "3f1c".into(),
        sequence: 7,
        occurred_at: Some(crate::time::to_proto(
            Utc.timestamp_opt(1_767_229_201, 500_000_000)
                .single()
                .expect("a time"),
        )),
        payload: message.encode_to_vec(),
        ..Default::default()
    }
}

#[test]
fn an_event_renders_as_its_envelope_and_canonical_proto3_json() {
    let json = event_json(&completed()).expect("renders");
    assert_eq!(
        json,
        serde_json::json!({
            "id": "e-1",
            "type": "joule.v1.SessionCompleted",
            "schema_version": 1,
            "tenant_id": "acme",
            "aggregate_type": "ChargingSession",
            "aggregate_id": "3f1c",
            "sequence": 7,
            "occurred_at": "2026-01-01T01:00:01.500Z",
            "data": {
                "session_id": "3f1c",
                "charge_point_id": "CP-1",
                "connector_id": 2,
                "started_at": "2026-01-01T00:00:00Z",
                "stopped_at": "2026-01-01T01:00:00Z",
                "energy_wh": "12345.6",
                "flags": ["meter_regression"],
                "samples": [{"at": "2026-01-01T00:00:00Z", "register_wh": "1000"}],
            },
        })
    );
}

#[test]
fn an_unknown_type_or_a_bad_payload_is_an_error() {
    let mut unknown = completed();
    unknown.event_type = "joule.v1.Nothing".into();
    assert!(matches!(
        event_json(&unknown),
        Err(JsonError::UnknownType(_))
    ));
    let mut bad = completed();
    bad.payload = vec![0xff, 0xff, 0xff];
    assert!(matches!(event_json(&bad), Err(JsonError::Payload { .. })));
}
