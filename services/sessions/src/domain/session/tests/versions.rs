//! Events stored in older shapes load into the current events with the defaults of the fields
//! added since (the upcasters, [`UPCASTERS`]); current events store every field.

use cqrs_es::DomainEvent;
use joule_store::upcast::upcast;
use serde_json::{Value, json};

use super::*;

/// A payload as it is in the event store, read at `version` the way the event store and the
/// relay read it.
fn load(event_type: &str, version: &str, payload: Value) -> (SessionEvent, String) {
    let (payload, version) = upcast(UPCASTERS, event_type, version, payload);
    let event = serde_json::from_value(payload).expect("the upcast payload reads");
    (event, version)
}

/// `StartDetails` and `StopDetails` as the first release stored them (no seqNo, no stop token).
fn start_1_0() -> Value {
    json!({
        "charger_id": "c", "charge_point_id": "CP1", "connector_id": 1, "transaction_id": "7",
        "token_uid": "TAG", "account_id": "acc", "meter_start": {"wh": "1000"},
        "started_at": "2026-11-21T10:00:00Z", "received_at": "2026-11-21T10:00:01Z"
    })
}

fn stop_1_0() -> Value {
    json!({
        "charger_id": "c", "charge_point_id": "CP1", "transaction_id": "7",
        "meter_stop": {"wh": "13500"}, "stopped_at": "2026-11-21T11:00:00Z",
        "received_at": "2026-11-21T11:00:01Z", "reason": "Local"
    })
}

#[test]
fn events_of_the_first_release_load_with_the_defaults_of_later_fields() {
    let (started, version) = load(
        "SessionStarted",
        "1.0",
        json!({"SessionStarted": start_1_0()}),
    );
    assert_eq!(version, "1.2");
    assert_eq!(started, SessionEvent::SessionStarted(start(dec!(1000))));

    let readings = json!({"ReadingsRecorded": {"readings": [
        {"at": "2026-11-21T10:30:00Z", "register": {"wh": "6000"}}
    ]}});
    let (recorded, _) = load("ReadingsRecorded", "1.0", readings);
    assert_eq!(
        recorded,
        SessionEvent::ReadingsRecorded {
            readings: vec![reading("2026-11-21T10:30:00Z", dec!(6000))],
            seq_no: None,
            token: None,
            running: None,
            received_at: None,
        }
    );

    let completed_1_0 = json!({"SessionCompleted": {
        "start": start_1_0(), "stop": stop_1_0(), "started_at": "2026-11-21T10:00:00Z",
        "meter_start": {"wh": "1000"}, "energy": {"wh": "12500"}, "flags": []
    }});
    // Without its upcaster the first release's completion would not read at all (no samples).
    assert!(serde_json::from_value::<SessionEvent>(completed_1_0.clone()).is_err());
    let (completed, version) = load("SessionCompleted", "1.0", completed_1_0);
    assert_eq!(version, "1.2");
    let SessionEvent::SessionCompleted {
        start: Some(started),
        stop: stopped,
        meter_stop,
        token,
        samples,
        charging_ended_at,
        energy,
        ..
    } = completed
    else {
        panic!("{completed:?}");
    };
    assert_eq!(started, start(dec!(1000)));
    assert_eq!(stopped, stop(dec!(13500)));
    assert_eq!((meter_stop, token), (None, None));
    assert!(samples.is_empty());
    assert_eq!(charging_ended_at, None);
    assert_eq!(energy, Energy::from_wh(dec!(12500)));

    // A completion without a start (null) stays without one.
    let orphan = json!({"SessionCompleted": {
        "start": null, "stop": stop_1_0(), "started_at": "2026-11-21T11:00:00Z",
        "meter_start": {"wh": "0"}, "energy": {"wh": "0"}, "flags": ["stop_without_start"]
    }});
    let (orphan, _) = load("SessionCompleted", "1.0", orphan);
    assert!(matches!(
        orphan,
        SessionEvent::SessionCompleted { start: None, .. }
    ));
}

#[test]
fn events_stored_at_1_0_after_fields_were_added_keep_them() {
    // Between the first release and the versions, 1.0 events carried some of the fields already.
    let readings = json!({"ReadingsRecorded": {
        "readings": [], "seq_no": 4, "token": {"token_uid": "TAG", "account_id": "acc"}
    }});
    let (recorded, _) = load("ReadingsRecorded", "1.0", readings);
    assert_eq!(
        recorded,
        SessionEvent::ReadingsRecorded {
            readings: vec![],
            seq_no: Some(4),
            token: token(),
            running: None,
            received_at: None,
        }
    );
    let mut started = start_1_0();
    started["seq_no"] = json!(0);
    let (started, _) = load("SessionStarted", "1.0", json!({"SessionStarted": started}));
    let SessionEvent::SessionStarted(details) = started else {
        panic!("{started:?}");
    };
    assert_eq!(details.seq_no, Some(0));
}

#[test]
fn current_events_store_every_field_at_their_version_and_are_not_upcast() {
    let recorded = SessionEvent::ReadingsRecorded {
        readings: vec![],
        seq_no: None,
        token: None,
        running: None,
        received_at: None,
    };
    let stored = serde_json::to_value(&recorded).unwrap();
    assert_eq!(
        stored,
        json!({"ReadingsRecorded": {
            "readings": [], "seq_no": null, "token": null, "running": null, "received_at": null
        }})
    );
    assert_eq!(recorded.event_version(), "1.1");
    assert_eq!(
        upcast(UPCASTERS, "ReadingsRecorded", "1.1", stored.clone()),
        (stored, "1.1".to_owned())
    );
    let stop_received = SessionEvent::StopReceived(stop(dec!(1)));
    assert_eq!(stop_received.event_version(), "1.0");
    let stored = serde_json::to_value(&stop_received).unwrap();
    assert_eq!(
        upcast(UPCASTERS, "StopReceived", "1.0", stored.clone()).0,
        stored,
        "StopReceived always stored its stop whole"
    );
    let completed = completed(Some(start(dec!(0))), stop(dec!(10)), dec!(0), dec!(10), &[]);
    assert_eq!(completed.event_version(), "1.2");
    assert_eq!(
        serde_json::from_value::<SessionEvent>(serde_json::to_value(&completed).unwrap()).unwrap(),
        completed
    );
}

#[test]
fn a_start_stored_at_1_1_loads_without_a_holder_and_a_holder_is_kept() {
    let mut started = start_1_0();
    started["seq_no"] = json!(3);
    let (loaded, version) = load("SessionStarted", "1.1", json!({"SessionStarted": started}));
    assert_eq!(version, "1.2");
    let SessionEvent::SessionStarted(details) = loaded else {
        panic!("{loaded:?}");
    };
    assert_eq!((details.seq_no, details.holder), (Some(3), None));

    let holder = Holder {
        fleet_id: Some(joule_domain::FleetId::new()),
        driver_id: Some(joule_domain::DriverId::new()),
        vehicle_id: None,
        cost_centre_id: Some(joule_domain::CostCentreId::new()),
    };
    let current = SessionEvent::SessionStarted(StartDetails {
        holder: Some(holder.clone()),
        ..start(dec!(1000))
    });
    let stored = serde_json::to_value(&current).unwrap();
    let (reloaded, _) = load("SessionStarted", "1.2", stored);
    assert_eq!(reloaded, current);

    let completed_1_1 = json!({"SessionCompleted": {
        "start": start_1_0(), "stop": stop_1_0(), "started_at": "2026-11-21T10:00:00Z",
        "meter_start": {"wh": "1000"}, "energy": {"wh": "12500"}, "flags": [],
        "meter_stop": null, "token": null, "samples": [], "charging_ended_at": null
    }});
    let (completed, version) = load("SessionCompleted", "1.1", completed_1_1);
    assert_eq!(version, "1.2");
    assert!(matches!(
        completed,
        SessionEvent::SessionCompleted {
            start: Some(StartDetails { holder: None, .. }),
            ..
        }
    ));
}
