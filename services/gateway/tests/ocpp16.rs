//! The gateway driven the way a charger drives it: OCPP 1.6J over a real WebSocket, against real
//! PostgreSQL and NATS (a fresh database and namespace per test), reading what landed on CHARGER.

mod support;

use async_nats::jetstream;
use joule_bus::Domain;
use joule_proto::EventName;
use joule_proto::v1::{
    ChargerBooted, ChargerConnected, ChargerDisconnected, ConnectorStatusChanged,
    MeterValuesSampled, TransactionStarted, TransactionStopped,
};
use joule_testkit::wait_for_events;
use serde_json::json;
use support::{CP, Harness, KNOWN_TAG, event_types, of_type, start_payload};
use tokio_tungstenite::tungstenite;

#[tokio::test]
async fn a_charge_becomes_durable_charger_events() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;

    let boot = charger
        .ok(
            "BootNotification",
            json!({"chargePointVendor": "Joule", "chargePointModel": "Test", "chargePointSerialNumber": "SN-9", "firmwareVersion": "1.2"}),
        )
        .await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(boot["interval"], 60);
    assert!(
        joule_gateway::ocpp::payload::parse_timestamp(boot["currentTime"].as_str().unwrap())
            .is_some()
    );
    let heartbeat = charger.ok("Heartbeat", json!({})).await;
    assert!(heartbeat["currentTime"].is_string());
    let status = charger
        .ok(
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": "2024-03-01T09:59:00Z"}),
        )
        .await;
    assert_eq!(status, json!({}));

    let known = charger.ok("Authorize", json!({"idTag": KNOWN_TAG})).await;
    assert_eq!(known["idTagInfo"]["status"], "Accepted");
    let lower_case = charger
        .ok("Authorize", json!({"idTag": KNOWN_TAG.to_lowercase()}))
        .await;
    assert_eq!(
        lower_case["idTagInfo"]["status"], "Accepted",
        "idTags are case-insensitive"
    );
    let unknown = charger.ok("Authorize", json!({"idTag": "DEADBEEF"})).await;
    assert_eq!(unknown["idTagInfo"]["status"], "Invalid");

    let started = charger
        .ok(
            "StartTransaction",
            start_payload(1, KNOWN_TAG, 1000, "2024-03-01T10:00:00Z"),
        )
        .await;
    assert_eq!(started["idTagInfo"]["status"], "Accepted");
    let transaction_id = started["transactionId"]
        .as_i64()
        .expect("an integer transaction id");
    assert!(transaction_id > 0 && i32::try_from(transaction_id).is_ok());

    let meter = charger
        .ok(
            "MeterValues",
            json!({"connectorId": 1, "transactionId": transaction_id, "meterValue": [{
                "timestamp": "2024-03-01T10:15:00Z",
                "sampledValue": [
                    {"value": "1.5", "unit": "kWh", "context": "Sample.Periodic"},
                    {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}
                ]
            }]}),
        )
        .await;
    assert_eq!(meter, json!({}));
    let stopped = charger
        .ok(
            "StopTransaction",
            json!({"transactionId": transaction_id, "meterStop": "3500", "timestamp": "2024-03-01T10:30:00Z",
                   "idTag": KNOWN_TAG, "reason": "Local",
                   "transactionData": [{"timestamp": "2024-03-01T10:30:00Z",
                                        "sampledValue": [{"value": "3.5", "unit": "kWh", "context": "Transaction.End"}]}]}),
        )
        .await;
    assert_eq!(stopped["idTagInfo"]["status"], "Accepted");
    charger.close().await;

    // The answers above came after the JetStream acks, so those events are already stored; the
    // disconnect is published after the socket closed.
    wait_for_events::<ChargerDisconnected>(&h.bus, Domain::Charger, 1).await;
    let events = h.charger_events().await;
    assert_eq!(
        event_types(&events),
        [
            ChargerConnected::NAME,
            ChargerBooted::NAME,
            ConnectorStatusChanged::NAME,
            TransactionStarted::NAME,
            MeterValuesSampled::NAME,
            TransactionStopped::NAME,
            ChargerDisconnected::NAME,
        ]
    );
    let kinds = [
        "connected",
        "booted",
        "status",
        "started",
        "meter",
        "stopped",
        "disconnected",
    ];
    for (event, kind) in events.iter().zip(kinds) {
        assert_eq!(event.subject, h.subject(kind));
        assert_eq!(
            event.msg_id, event.envelope.event_id,
            "Nats-Msg-Id is the event id"
        );
        assert_eq!(event.envelope.tenant_id, "default");
        assert_eq!(event.envelope.aggregate_type, "Charger");
        assert_eq!(event.envelope.aggregate_id, CP);
        assert_eq!(event.envelope.correlation_id, event.envelope.event_id);
    }

    let connected: ChargerConnected = events[0].decode();
    assert_eq!(
        (connected.charger_id, connected.ocpp_version.as_str()),
        (h.charger_id.to_string(), "1.6")
    );
    let booted: ChargerBooted = events[1].decode();
    assert_eq!(
        (booted.vendor.as_str(), booted.serial_number.as_str()),
        ("Joule", "SN-9")
    );
    let status: ConnectorStatusChanged = events[2].decode();
    assert_eq!(
        (status.connector_id, status.status.as_str()),
        (1, "Preparing")
    );
    assert_eq!(status.charger_time.unwrap().seconds, 1_709_287_140);

    let start: TransactionStarted = events[3].decode();
    assert_eq!(start.transaction_id, transaction_id.to_string());
    assert_eq!(start.account_id, h.account_id.to_string());
    assert_eq!(start.meter_start_wh, "1000");
    assert_eq!(start.charger_time.unwrap().seconds, 1_709_287_200);
    assert!(
        start.received_at.unwrap().seconds > 1_709_287_200,
        "receive time is kept beside the charger's"
    );

    let sampled: MeterValuesSampled = events[4].decode();
    assert_eq!(sampled.transaction_id, transaction_id.to_string());
    let values: Vec<(&str, &str, &str)> = sampled
        .samples
        .iter()
        .map(|s| (s.measurand.as_str(), s.value.as_str(), s.unit.as_str()))
        .collect();
    assert_eq!(
        values,
        [
            ("Energy.Active.Import.Register", "1500", "Wh"),
            ("Power.Active.Import", "7200", "W")
        ]
    );

    let stop: TransactionStopped = events[5].decode();
    assert_eq!(stop.transaction_id, transaction_id.to_string());
    assert_eq!(
        (stop.meter_stop_wh.as_str(), stop.reason.as_str()),
        ("3500", "Local")
    );
    assert_eq!(stop.transaction_data.len(), 1);
    assert_eq!(
        (
            stop.transaction_data[0].value.as_str(),
            stop.transaction_data[0].context.as_str()
        ),
        ("3500", "Transaction.End")
    );
    h.stop().await;
}

#[tokio::test]
async fn unknown_or_invalid_charge_points_get_401_and_nothing_is_recorded() {
    let h = Harness::start().await;
    // The same answer as a wrong password (tests/security.rs): ids cannot be enumerated.
    for id in ["CP-UNKNOWN", "cp.with.dots", &"x".repeat(49)] {
        match h.try_connect(id, Some("ocpp1.6")).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401, "{id}"),
            Err(e) => panic!("{id}: unexpected error {e}"),
            Ok(_) => panic!("{id}: upgrade accepted"),
        }
    }
    assert!(h.charger_events().await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn upgrades_without_a_supported_subprotocol_are_refused() {
    let h = Harness::start().await;
    for offered in [None, Some("ocpp2.0"), Some("ocpp1.5, wamp")] {
        match h.try_connect(CP, offered).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "{offered:?}")
            }
            Err(e) => panic!("{offered:?}: unexpected error {e}"),
            Ok(_) => panic!("{offered:?}: upgrade accepted"),
        }
    }
    assert!(h.charger_events().await.is_empty());
    // A charger offering several versions gets the newest the gateway speaks.
    let charger = h
        .try_connect(CP, Some("ocpp1.6, ocpp2.0.1"))
        .await
        .expect("upgrade accepted");
    assert_eq!(charger.protocol, "ocpp2.0.1");
    charger.close().await;
    let charger = h
        .try_connect(CP, Some("wamp, ocpp1.6"))
        .await
        .expect("upgrade accepted");
    assert_eq!(charger.protocol, "ocpp1.6");
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn malformed_frames_get_call_errors_and_the_connection_keeps_answering() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;

    let answer = charger.send_raw("this is not json").await;
    assert_eq!(
        (answer[0].as_i64(), answer[1].as_str(), answer[2].as_str()),
        (Some(4), Some("-1"), Some("FormationViolation"))
    );
    assert_eq!(answer[4], json!({}));
    let answer = charger.send_raw(r#"[2,"short","Heartbeat"]"#).await;
    assert_eq!(
        (answer[1].as_str(), answer[2].as_str()),
        (Some("short"), Some("ProtocolError"))
    );
    let answer = charger.send_raw(r#"{"action":"Heartbeat"}"#).await;
    assert_eq!(
        (answer[1].as_str(), answer[2].as_str()),
        (Some("-1"), Some("ProtocolError"))
    );

    let answer = charger.call("ReserveTheMoon", json!({})).await;
    assert_eq!(answer[2], "NotImplemented");
    let answer = charger
        .call(
            "StatusNotification",
            json!({"connectorId": {"id": 1}, "errorCode": "NoError", "status": "Available"}),
        )
        .await;
    assert_eq!(answer[2], "TypeConstraintViolation");
    assert!(
        answer[3].as_str().unwrap().contains("connectorId"),
        "names the field: {answer}"
    );
    let answer = charger.call("StartTransaction", json!([1, 2])).await;
    assert_eq!(
        answer[2], "FormationViolation",
        "a payload that is no object"
    );

    let heartbeat = charger.ok("Heartbeat", json!({})).await;
    assert!(heartbeat["currentTime"].is_string());
    let events = h.charger_events().await;
    assert_eq!(
        event_types(&events),
        [ChargerConnected::NAME],
        "refused messages record nothing"
    );
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn unreadable_transaction_messages_are_acknowledged_and_flagged() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    // No meterStart: still a transaction (the charger may be charging), flagged for review.
    let started = charger
        .ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": KNOWN_TAG, "timestamp": "2024-03-01T10:00:00Z"}),
        )
        .await;
    let transaction_id = started["transactionId"].as_i64().unwrap();
    assert!(transaction_id > 0);
    let meter = charger
        .ok("MeterValues", json!({"connectorId": 1, "transactionId": transaction_id,
             "meterValue": [{"timestamp": "soon", "sampledValue": [{"value": "1"}, {"unit": "Wh"}]}]}))
        .await;
    assert_eq!(meter, json!({}));
    let stopped = charger
        .ok(
            "StopTransaction",
            json!({"transactionId": transaction_id, "meterStop": "lots", "timestamp": "2024-03-01T11:00:00Z"}),
        )
        .await;
    assert_eq!(stopped, json!({}));

    let events = h.charger_events().await;
    let start: TransactionStarted = of_type(&events, TransactionStarted::NAME)[0].decode();
    assert_eq!(start.meter_start_wh, "", "unknown, not zero");
    assert!(
        start
            .flags
            .contains(&"unreadable_field:meterStart".to_string()),
        "{:?}",
        start.flags
    );
    let sampled: MeterValuesSampled = of_type(&events, MeterValuesSampled::NAME)[0].decode();
    assert_eq!(sampled.samples.len(), 1, "the readable sample is kept");
    assert!(
        sampled
            .flags
            .contains(&"unreadable_field:meterValue[0].timestamp".to_string())
    );
    assert!(
        sampled
            .flags
            .contains(&"unreadable_field:meterValue[0].sampledValue[1].value".to_string())
    );
    let stop: TransactionStopped = of_type(&events, TransactionStopped::NAME)[0].decode();
    assert_eq!(stop.meter_stop_wh, "");
    // Present but not a number: outside the register's domain (ADR 023).
    assert_eq!(
        stop.flags[0],
        "value_out_of_range:meterStop \"lots\": not a number"
    );
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn stops_with_transaction_id_minus_one_stay_apart_and_retries_stay_one() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    let stop = |meter: i64, at: &str| json!({"transactionId": -1, "meterStop": meter, "timestamp": at, "idTag": KNOWN_TAG});
    charger
        .ok("StopTransaction", stop(5000, "2024-03-01T10:00:00Z"))
        .await;
    charger
        .ok("StopTransaction", stop(5000, "2024-03-01T10:00:00Z"))
        .await;
    charger
        .ok("StopTransaction", stop(9000, "2024-03-01T12:00:00Z"))
        .await;
    let events = h.charger_events().await;
    let stops: Vec<TransactionStopped> = of_type(&events, TransactionStopped::NAME)
        .iter()
        .map(|e| e.decode())
        .collect();
    assert_eq!(stops.len(), 2, "the retry is stored once");
    assert_ne!(stops[0].session_key, stops[1].session_key);
    for stop in &stops {
        assert_eq!(stop.transaction_id, "-1");
        assert!(stop.session_key.starts_with("-1@"));
        assert!(stop.flags.contains(&"invalid_transaction_id".to_string()));
        assert_eq!(stop.account_id, h.account_id.to_string());
    }
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn a_repeated_start_gets_the_same_transaction_id_and_is_stored_once() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    let start = start_payload(2, KNOWN_TAG, 52_000, "2024-03-01T10:00:00.123Z");
    let first = charger.ok("StartTransaction", start.clone()).await;
    // A charger that got no answer retries, with a new message id.
    let retry = charger.ok("StartTransaction", start.clone()).await;
    assert_eq!(first["transactionId"], retry["transactionId"]);
    // Over a new connection, with the numbers as strings, it is still the same start.
    charger.close().await;
    let mut charger = h.connect(CP).await;
    let sloppy = charger
        .ok(
            "StartTransaction",
            json!({"connectorId": "2", "idTag": KNOWN_TAG, "meterStart": "52000", "timestamp": "2024-03-01T11:00:00.123+01:00"}),
        )
        .await;
    assert_eq!(first["transactionId"], sloppy["transactionId"]);

    let other = charger
        .ok(
            "StartTransaction",
            start_payload(2, KNOWN_TAG, 60_000, "2024-03-01T12:00:00Z"),
        )
        .await;
    assert_ne!(first["transactionId"], other["transactionId"]);
    // An unknown token is told so, but the transaction is recorded all the same.
    let stranger = charger
        .ok(
            "StartTransaction",
            start_payload(3, "NOBODY", 0, "2024-03-01T12:00:00Z"),
        )
        .await;
    assert_eq!(stranger["idTagInfo"]["status"], "Invalid");
    assert!(stranger["transactionId"].as_i64().unwrap() > 0);
    // A stop for a transaction the gateway never gave is recorded too (sessions flags it).
    let orphan = charger
        .ok(
            "StopTransaction",
            json!({"transactionId": 999_999, "meterStop": 10, "timestamp": "2024-03-01T13:00:00Z"}),
        )
        .await;
    assert_eq!(orphan, json!({}));

    let events = h.charger_events().await;
    let starts: Vec<TransactionStarted> = of_type(&events, TransactionStarted::NAME)
        .iter()
        .map(|e| e.decode())
        .collect();
    let ids: Vec<&str> = starts.iter().map(|s| s.transaction_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            first["transactionId"].to_string(),
            other["transactionId"].to_string(),
            stranger["transactionId"].to_string()
        ]
    );
    assert_eq!(starts[2].account_id, "", "no account for an unknown token");
    let stops: Vec<TransactionStopped> = of_type(&events, TransactionStopped::NAME)
        .iter()
        .map(|e| e.decode())
        .collect();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].transaction_id, "999999");
    assert_eq!(stops[0].flags[0], "unknown_transaction");
    assert!(
        stops[0].flags[1].starts_with("late_delivery:"),
        "a 2024 timestamp arrives late: {:?}",
        stops[0].flags
    );
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn kwh_labelled_meter_values_are_normalised_to_wh() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    // Sloppy but meaningful: one object instead of an array, numbers for values, an id beyond 32 bits.
    let answer = charger
        .ok(
            "MeterValues",
            json!({"connectorId": "1", "transactionId": 6_000_000_000u64, "meterValue": {
                "timestamp": "2024-03-01T10:15:00Z",
                "sampledValue": [
                    {"value": 12.345, "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
                    {"value": "250"},
                    {"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L1"}
                ]
            }}),
        )
        .await;
    assert_eq!(answer, json!({}));
    let without_transaction = charger
        .ok("MeterValues", json!({"connectorId": 1, "meterValue": [{"timestamp": "2024-03-01T10:16:00Z", "sampledValue": [{"value": "0.5", "unit": "kWh"}]}]}))
        .await;
    assert_eq!(without_transaction, json!({}));

    let events = h.charger_events().await;
    let sampled: Vec<MeterValuesSampled> = of_type(&events, MeterValuesSampled::NAME)
        .iter()
        .map(|e| e.decode())
        .collect();
    assert_eq!(sampled.len(), 2);
    assert_eq!(sampled[0].transaction_id, "6000000000");
    let values: Vec<(&str, &str, &str)> = sampled[0]
        .samples
        .iter()
        .map(|s| (s.value.as_str(), s.unit.as_str(), s.phase.as_str()))
        .collect();
    assert_eq!(
        values,
        [("12345", "Wh", ""), ("250", "Wh", ""), ("16", "A", "L1")]
    );
    assert_eq!(sampled[1].transaction_id, "");
    assert_eq!(
        (
            sampled[1].samples[0].value.as_str(),
            sampled[1].samples[0].unit.as_str()
        ),
        ("500", "Wh")
    );
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn a_start_that_cannot_be_made_durable_is_not_acknowledged() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    let js = jetstream::new(h.bus.client().clone());
    js.delete_stream(format!("{}_CHARGER", h.env.namespace.to_uppercase()))
        .await
        .unwrap();

    let start = start_payload(1, KNOWN_TAG, 100, "2024-03-01T10:00:00Z");
    let refused = charger.call("StartTransaction", start.clone()).await;
    assert_eq!(refused[0], 4);
    assert_eq!(refused[2], "InternalError");

    // The charger retries once the bus is back, and gets the id the first attempt reserved.
    h.bus.ensure_streams().await.unwrap();
    let accepted = charger.ok("StartTransaction", start).await;
    let events = h.charger_events().await;
    let starts = of_type(&events, TransactionStarted::NAME);
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0].decode::<TransactionStarted>().transaction_id,
        accepted["transactionId"].to_string()
    );
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections_and_records_the_disconnect() {
    let mut h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    charger.ok("Heartbeat", json!({})).await;
    let env_events = h.charger_events().await;
    assert_eq!(of_type(&env_events, ChargerConnected::NAME).len(), 1);

    let running = h.running.as_ref().expect("running");
    running.shutdown.cancel();
    assert_eq!(charger.closed_by_gateway().await, Some(1001), "going away");
    h.stop_running().await;
    let events = h.charger_events().await;
    assert_eq!(
        of_type(&events, ChargerDisconnected::NAME).len(),
        1,
        "drained before the process stopped"
    );
}

#[tokio::test]
async fn a_silent_charger_is_disconnected_after_missed_heartbeats() {
    let h = Harness::start_with(|s| s.heartbeat_interval_secs = 1).await;
    let mut charger = h.connect(CP).await;
    let boot = charger
        .ok(
            "BootNotification",
            json!({"chargePointVendor": "V", "chargePointModel": "M"}),
        )
        .await;
    assert_eq!(boot["interval"], 1);
    // Then nothing: the gateway closes the connection and records the disconnect.
    assert_eq!(charger.closed_by_gateway().await, Some(1001), "going away");
    wait_for_events::<ChargerDisconnected>(&h.bus, Domain::Charger, 1).await;
    h.stop().await;
}
