//! OCPP 2.0.1 over a real WebSocket, against real PostgreSQL and NATS: transaction events become
//! the same protocol-neutral charger events as 1.6; status and device events become alarms; frames
//! land in the audit trail.

mod support;

use joule_proto::EventName;
use joule_proto::v1::{
    ChargerAlarm, ChargerBooted, ChargerConnected, ConnectorStatusChanged, MeterValuesSampled,
    TransactionStarted, TransactionStopped,
};
use serde_json::{Value, json};
use support::{CP, Harness, KNOWN_TAG, event_types, of_type};

fn sampled(context: &str, kwh: f64) -> Value {
    json!({"value": kwh, "context": context, "measurand": "Energy.Active.Import.Register",
           "unitOfMeasure": {"unit": "kWh"}})
}

fn event(event_type: &str, seq: u32, at: &str, extra: Value) -> Value {
    let mut e = json!({
        "eventType": event_type, "timestamp": at, "triggerReason": "Authorized", "seqNo": seq,
        "transactionInfo": {"transactionId": "tx-201-a"}, "evse": {"id": 1, "connectorId": 1}
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

#[tokio::test]
async fn a_201_transaction_becomes_protocol_neutral_events() {
    let h = Harness::start().await;
    let mut charger = h.connect_201(CP).await;
    let now = chrono::Utc::now();
    let at = |minutes: i64| {
        (now - chrono::Duration::minutes(60 - minutes))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };

    let boot = charger
        .ok(
            "BootNotification",
            json!({"reason": "PowerUp", "chargingStation": {"model": "M201", "vendorName": "V", "serialNumber": "S1"}}),
        )
        .await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(boot["interval"], 60);
    let auth = charger
        .ok(
            "Authorize",
            json!({"idToken": {"idToken": KNOWN_TAG, "type": "ISO14443"}}),
        )
        .await;
    assert_eq!(auth["idTokenInfo"]["status"], "Accepted");

    let started = event(
        "Started",
        0,
        &at(0),
        json!({"idToken": {"idToken": KNOWN_TAG, "type": "ISO14443"}, "offline": true,
               "meterValue": [{"timestamp": at(0), "sampledValue": [sampled("Transaction.Begin", 1.0)]}]}),
    );
    let answer = charger.ok("TransactionEvent", started.clone()).await;
    assert_eq!(answer["idTokenInfo"]["status"], "Accepted");
    assert!(
        answer.get("totalCost").is_none(),
        "no running cost yet: omitted means not free"
    );
    // The same event again (a retry with a new message id): stored once.
    charger.ok("TransactionEvent", started).await;
    let updated = event(
        "Updated",
        1,
        &at(30),
        json!({"triggerReason": "MeterValuePeriodic", "offline": true,
               "meterValue": [{"timestamp": at(30), "sampledValue": [{"value": "7000", "context": "Sample.Periodic"}]}]}),
    );
    assert_eq!(charger.ok("TransactionEvent", updated).await, json!({}));
    let ocmf = r#"OCMF|{"FV":"1.0","RD":[{"RV":"13.5","RU":"kWh"}]}|{"SD":"3045"}"#;
    let ended = event(
        "Ended",
        2,
        &at(60),
        json!({"triggerReason": "EVDeparted", "offline": false,
               "transactionInfo": {"transactionId": "tx-201-a", "stoppedReason": "EVDisconnected"},
               "meterValue": [{"timestamp": at(60), "sampledValue": [{
                   "value": 13.5, "context": "Transaction.End", "unitOfMeasure": {"unit": "kWh"},
                   "signedMeterValue": {"signedMeterData": ocmf, "signingMethod": "ECDSA-secp256r1-SHA256",
                                        "encodingMethod": "OCMF", "publicKey": "3059301306"}}]}]}),
    );
    assert_eq!(charger.ok("TransactionEvent", ended).await, json!({}));
    // 2.0.1 spells its error codes its own way.
    let answer = charger.send_raw("not json").await;
    assert_eq!(answer[2], "FormatViolation");

    let events = h.charger_events().await;
    assert_eq!(
        event_types(&events),
        [
            ChargerConnected::NAME,
            ChargerBooted::NAME,
            TransactionStarted::NAME,
            MeterValuesSampled::NAME,
            TransactionStopped::NAME,
        ]
    );
    let connected: ChargerConnected = events[0].decode();
    assert_eq!(connected.ocpp_version, "2.0.1");
    assert_eq!(connected.security_profile, "0");
    let start: TransactionStarted = events[2].decode();
    assert_eq!(
        (
            start.transaction_id.as_str(),
            start.seq_no,
            start.meter_start_wh.as_str()
        ),
        ("tx-201-a", Some(0), "1000")
    );
    assert_eq!(start.account_id, h.account_id.to_string());
    assert_eq!((start.evse_id, start.ocpp_version.as_str()), (1, "2.0.1"));
    assert!(start.flags.is_empty(), "{:?}", start.flags);
    let update: MeterValuesSampled = events[3].decode();
    assert_eq!(update.seq_no, Some(1));
    assert_eq!(update.samples[0].value, "7000");
    let stop: TransactionStopped = events[4].decode();
    assert_eq!(stop.seq_no, Some(2));
    assert_eq!(stop.meter_stop_wh, "13500");
    assert_eq!(stop.reason, "EVDisconnected");
    let signed = stop.transaction_data[0].signed.as_ref().unwrap();
    assert_eq!(signed.signed_meter_data, ocmf, "byte-exact");
    assert_eq!(signed.public_key, "3059301306");
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn charger_clocks_are_flagged_not_trusted() {
    let h = Harness::start().await;
    let mut charger = h.connect_201(CP).await;
    // A live event from a charger whose clock reset to 1970.
    let live = event(
        "Started",
        0,
        "1970-01-01T00:05:00Z",
        json!({"offline": false, "transactionInfo": {"transactionId": "tx-clock"}}),
    );
    charger.ok("TransactionEvent", live).await;
    // A queued event from three hours ago, sent after reconnecting: past time, no drift.
    let three_hours_ago = (chrono::Utc::now() - chrono::Duration::hours(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let queued = event(
        "Started",
        0,
        &three_hours_ago,
        json!({"offline": true, "transactionInfo": {"transactionId": "tx-offline"}}),
    );
    charger.ok("TransactionEvent", queued).await;
    let events = h.charger_events().await;
    let starts: Vec<TransactionStarted> = of_type(&events, TransactionStarted::NAME)
        .iter()
        .map(|e| e.decode())
        .collect();
    assert!(
        starts[0].flags[0].starts_with("clock_unset:"),
        "{:?}",
        starts[0].flags
    );
    assert!(
        starts[0].received_at.unwrap().seconds > starts[0].charger_time.unwrap().seconds,
        "both times are kept"
    );
    assert!(starts[1].offline);
    assert!(starts[1].flags.is_empty(), "{:?}", starts[1].flags);
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn faults_and_alerting_events_raise_alarms_that_clear() {
    let h = Harness::start().await;
    let mut charger = h.connect_201(CP).await;
    let status = |s: &str| json!({"timestamp": "2026-11-21T10:00:00Z", "connectorStatus": s, "evseId": 1, "connectorId": 1});
    charger.ok("StatusNotification", status("Available")).await;
    charger.ok("StatusNotification", status("Faulted")).await;
    charger.ok("StatusNotification", status("Faulted")).await;
    charger.ok("StatusNotification", status("Available")).await;
    charger
        .ok(
            "NotifyEvent",
            json!({"generatedAt": "2026-11-21T10:05:00Z", "seqNo": 0, "eventData": [
                {"eventId": 1, "timestamp": "2026-11-21T10:05:00Z", "trigger": "Alerting", "actualValue": "95",
                 "techCode": "OVERTEMP", "eventNotificationType": "HardWiredNotification",
                 "component": {"name": "ChargingStation"}, "variable": {"name": "Temperature"}},
                {"eventId": 2, "timestamp": "2026-11-21T10:05:00Z", "trigger": "Periodic", "actualValue": "40",
                 "eventNotificationType": "PreconfiguredMonitor",
                 "component": {"name": "ChargingStation"}, "variable": {"name": "Temperature"}}
            ]}),
        )
        .await;
    let events = h.charger_events().await;
    assert_eq!(of_type(&events, ConnectorStatusChanged::NAME).len(), 4);
    let alarms: Vec<ChargerAlarm> = of_type(&events, ChargerAlarm::NAME)
        .iter()
        .map(|e| e.decode())
        .collect();
    let summary: Vec<(&str, bool, &str)> = alarms
        .iter()
        .map(|a| (a.kind.as_str(), a.raised, a.code.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("connector_fault", true, "Faulted"),
            ("connector_fault", false, "Available"),
            ("charger_event", true, "ChargingStation.Temperature"),
        ]
    );
    assert_eq!(alarms[2].detail, "95 OVERTEMP");
    let alarm_subjects = of_type(&events, ChargerAlarm::NAME);
    assert_eq!(alarm_subjects[0].subject, h.subject("alarm"));
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn frames_are_kept_per_charger_and_purged_after_retention() {
    let h = Harness::start().await;
    let mut charger = h.connect_201(CP).await;
    let raw = r#"[2,"raw-1","Heartbeat",{ }]"#;
    charger.send_raw(raw).await;
    charger.close().await;
    let pool = h.env.pool().await;
    joule_testkit::eventually("both frames are in the audit trail", || {
        let pool = pool.clone();
        async move {
            let frames: Vec<(String, String)> = sqlx::query_as(
                "SELECT direction, frame FROM gateway.frames WHERE charge_point_id = $1 ORDER BY id",
            )
            .bind(CP)
            .fetch_all(&pool)
            .await
            .unwrap();
            (frames.len() == 2 && frames[0] == ("in".to_owned(), raw.to_owned()) && frames[1].0 == "out")
                .then_some(())
        }
    })
    .await;
    // An old frame goes; the fresh ones stay.
    sqlx::query(
        "INSERT INTO gateway.frames (tenant_id, charge_point_id, direction, at, frame)
         VALUES ('default', $1, 'in', now() - interval '40 days', '[2,\"old\",\"Heartbeat\",{}]')",
    )
    .bind(CP)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        joule_gateway::edge::audit::purge(&pool, 30).await.unwrap(),
        1
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway.frames")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 2);
    pool.close().await;
    h.stop().await;
}
