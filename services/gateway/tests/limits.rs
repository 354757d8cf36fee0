//! Limits on a charger's connection (ADR 026): the largest message, the message rate, the audit
//! trail's byte budget, and silence.

mod support;

use futures::{SinkExt, StreamExt};
use joule_bus::Domain;
use joule_proto::EventName;
use joule_proto::v1::ChargerDisconnected;
use joule_testkit::{eventually, wait_for_events};
use serde_json::{Value, json};
use support::{CP, Charger, DEADLINE, Harness, of_type};
use tokio_tungstenite::tungstenite::Message;

/// Reads until the gateway ends the connection; returns the close code it sent, if any, and the
/// text frames before it.
async fn until_closed(charger: &mut Charger) -> (Option<u16>, Vec<Value>) {
    let mut frames = Vec::new();
    loop {
        let next = tokio::time::timeout(DEADLINE, charger.ws.next())
            .await
            .expect("closed in time");
        match next {
            Some(Ok(Message::Text(text))) => {
                frames.push(serde_json::from_str(text.as_str()).unwrap())
            }
            Some(Ok(Message::Close(frame))) => return (frame.map(|f| u16::from(f.code)), frames),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return (None, frames),
        }
    }
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_the_connection() {
    let h = Harness::start_with(|s| s.ocpp_max_frame_bytes = 4096).await;
    let mut charger = h.connect(CP).await;
    let answer = charger
        .call(
            "DataTransfer",
            json!({"vendorId": "joule-test", "data": "x".repeat(3000)}),
        )
        .await;
    assert!(answer[0] == 3 || answer[0] == 4, "{answer}");
    let big =
        json!([2, "big", "DataTransfer", {"vendorId": "joule-test", "data": "x".repeat(5000)}]);
    charger
        .ws
        .send(Message::text(big.to_string()))
        .await
        .unwrap();
    let (code, frames) = until_closed(&mut charger).await;
    assert_eq!(code, Some(1009), "message too big");
    assert!(
        frames.is_empty(),
        "the large message is not answered: {frames:?}"
    );
    // The charger connects again and is served.
    let mut charger = h.connect(CP).await;
    charger.ok("Heartbeat", json!({})).await;
    charger.close().await;
    wait_for_events::<ChargerDisconnected>(&h.bus, Domain::Charger, 2).await;
    let events = h.charger_events().await;
    let reasons: Vec<String> = of_type(&events, ChargerDisconnected::NAME)
        .iter()
        .map(|e| e.decode::<ChargerDisconnected>().reason)
        .collect();
    assert_eq!(reasons, ["frame_too_large", "closed"]);
    h.stop().await;
}

#[tokio::test]
async fn a_charger_over_its_message_rate_gets_call_errors_then_is_closed() {
    let h = Harness::start_with(|s| {
        s.ocpp_message_rate_per_sec = 1;
        s.ocpp_message_burst = 5;
    })
    .await;
    let mut charger = h.connect(CP).await;
    for i in 0..40 {
        let call = json!([2, format!("h{i}"), "Heartbeat", {}]);
        if charger
            .ws
            .send(Message::text(call.to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    let (code, frames) = until_closed(&mut charger).await;
    assert_eq!(code, Some(1008), "closed for flooding");
    let results = frames.iter().filter(|f| f[0] == 3).count();
    let refused: Vec<&Value> = frames.iter().filter(|f| f[0] == 4).collect();
    assert!((5..40).contains(&results), "{frames:?}");
    assert!(!refused.is_empty(), "{frames:?}");
    for error in refused {
        assert_eq!(error[2], "GenericError", "{error}");
        assert!(error[3].as_str().unwrap().contains("rate"), "{error}");
    }
    // A charger within its rate is served.
    let mut charger = h.connect(CP).await;
    charger.ok("Heartbeat", json!({})).await;
    charger.close().await;
    h.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_heartbeat_intervals() {
    let h = Harness::start_with(|s| {
        s.heartbeat_interval_secs = 1;
        s.ocpp_idle_heartbeats = 2;
    })
    .await;
    let mut charger = h.connect(CP).await;
    let boot = charger
        .ok(
            "BootNotification",
            json!({"chargePointVendor": "Joule", "chargePointModel": "T1"}),
        )
        .await;
    assert_eq!(boot["interval"], 1);
    // Nothing more: not even a ping.
    assert_eq!(charger.closed_by_gateway().await, Some(1001));
    wait_for_events::<ChargerDisconnected>(&h.bus, Domain::Charger, 1).await;
    let events = h.charger_events().await;
    let disconnected: ChargerDisconnected = of_type(&events, ChargerDisconnected::NAME)[0].decode();
    assert_eq!(disconnected.reason, "idle");
    h.stop().await;
}

#[tokio::test]
async fn frames_over_the_audit_budget_are_not_recorded_and_the_charger_is_served() {
    let h = Harness::start_with(|s| s.ocpp_audit_charger_bytes = 2048).await;
    let mut charger = h.connect(CP).await;
    let big = json!([2, "big-frame", "DataTransfer", {"vendorId": "joule-test", "data": "y".repeat(4096)}]);
    let answer = charger.send_raw(&big.to_string()).await;
    assert_eq!(answer[1], "big-frame", "answered all the same");
    charger.ok("Heartbeat", json!({})).await;
    let pool = h.env.pool().await;
    let frames = || {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, String)>(
                "SELECT direction, frame FROM gateway.frames WHERE charge_point_id = $1 ORDER BY id",
            )
            .bind(CP)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    eventually("the heartbeat after it is recorded", || async {
        let recorded = frames().await;
        recorded
            .iter()
            .any(|(d, f)| d == "in" && f.contains("Heartbeat"))
            .then_some(())
    })
    .await;
    // The writer keeps order: the large frame, before the heartbeat, was dropped; its small answer
    // was recorded.
    let recorded = frames().await;
    assert!(
        !recorded
            .iter()
            .any(|(d, f)| d == "in" && f.contains("big-frame")),
        "{recorded:?}"
    );
    assert!(
        recorded
            .iter()
            .any(|(d, f)| d == "out" && f.contains("big-frame")),
        "{recorded:?}"
    );
    pool.close().await;
    charger.close().await;
    h.stop().await;
}
