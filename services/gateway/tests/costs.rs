//! Costs on the charger, against real PostgreSQL and NATS: pricing's running costs and final
//! prices (published here as pricing would) reach a 1.6 charger as California Pricing DataTransfer
//! and a 2.0.1 charger as CostUpdated; stale updates are skipped; offline or refusing chargers do
//! not hold up the stream; the Ended answer never waits long for pricing's estimate.

mod support;

use std::time::Duration;

use joule_domain::SessionId;
use joule_proto::v1::{SessionCostUpdated, SessionPriced};
use serde_json::{Value, json};
use support::{CP, Charger, Harness, KNOWN_TAG};

fn running(cp: &str, transaction_id: &str, total: &str, sequence: u64) -> SessionCostUpdated {
    SessionCostUpdated {
        session_id: SessionId::derived(&format!("default/{cp}/{transaction_id}")).to_string(),
        charge_point_id: cp.into(),
        transaction_id: transaction_id.into(),
        currency: "EUR".into(),
        total_incl_vat: total.into(),
        sequence,
        ..Default::default()
    }
}

async fn publish_running(h: &Harness, u: &SessionCostUpdated) {
    h.publish_as(
        &format!("pricing.{}.cost_updated", u.session_id),
        &format!("cost/{}/{}", u.session_id, u.sequence),
        u,
    )
    .await;
}

/// The next CALL the gateway sends the charger: (message id, action, payload).
async fn next_call(charger: &mut Charger) -> (Value, String, Value) {
    let frame = charger.next_frame().await;
    assert_eq!(frame[0], 2, "a CALL from the gateway: {frame}");
    (
        frame[1].clone(),
        frame[2].as_str().unwrap().to_owned(),
        frame[3].clone(),
    )
}

/// The California Pricing message inside a 1.6 DataTransfer.
fn cost_message(payload: &Value) -> (String, Value) {
    assert_eq!(payload["vendorId"], "org.openchargealliance.costmsg");
    let data = serde_json::from_str(payload["data"].as_str().unwrap()).unwrap();
    (payload["messageId"].as_str().unwrap().to_owned(), data)
}

#[tokio::test]
async fn running_and_final_costs_reach_the_charger_newest_only() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    h.register_charger("CP-201").await;
    let mut station = h.connect_201("CP-201").await;

    // An offline charger first: logged and acknowledged, the stream moves on.
    h.register_charger("CP-OFF").await;
    publish_running(&h, &running("CP-OFF", "7", "1.00", 1)).await;

    publish_running(&h, &running(CP, "42", "3.104999", 2)).await;
    let (id, action, payload) = next_call(&mut charger).await;
    assert_eq!(action, "DataTransfer");
    let (message_id, data) = cost_message(&payload);
    assert_eq!(message_id, "RunningCost");
    assert_eq!(data["transactionId"], 42);
    assert_eq!(data["cost"], json!(3.1), "rounded like an invoice line");
    assert_eq!(data["state"], "Charging");
    charger.answer(&id, json!({"status": "Accepted"})).await;

    // An older estimate arriving late is not shown; the next newer one is.
    publish_running(&h, &running(CP, "42", "2.00", 1)).await;
    publish_running(&h, &running(CP, "42", "4.50", 3)).await;
    let (id, _, payload) = next_call(&mut charger).await;
    assert_eq!(cost_message(&payload).1["cost"], json!(4.5));
    // A charger that refuses is noted; displays go on.
    charger.answer(&id, json!({"status": "Rejected"})).await;

    // 2.0.1: CostUpdated; a CALLERROR answer is noted and the stream goes on.
    publish_running(&h, &running("CP-201", "tx-9", "1.234", 1)).await;
    let (id, action, payload) = next_call(&mut station).await;
    assert_eq!(action, "CostUpdated");
    assert_eq!(payload, json!({"totalCost": 1.23, "transactionId": "tx-9"}));
    station
        .answer_error(&id, "InternalError", "display broken")
        .await;

    // The final price: FinalCost; running costs after it are not shown.
    let session = SessionId::derived(&format!("default/{CP}/42"));
    let priced = SessionPriced {
        session_id: session.to_string(),
        currency: "EUR".into(),
        total_incl_vat: "7.6249".into(),
        charge_point_id: CP.into(),
        transaction_id: "42".into(),
        connector_id: 1,
        ..Default::default()
    };
    h.publish_as(
        &format!("pricing.{session}.priced"),
        &format!("priced/{session}"),
        &priced,
    )
    .await;
    let (id, action, payload) = next_call(&mut charger).await;
    assert_eq!(action, "DataTransfer");
    let (message_id, data) = cost_message(&payload);
    assert_eq!(message_id, "FinalCost");
    assert_eq!(
        data,
        json!({"transactionId": 42, "cost": 7.62, "priceText": "7.62 EUR"})
    );
    charger.answer(&id, json!({"status": "Accepted"})).await;

    publish_running(&h, &running(CP, "42", "9.99", 4)).await;
    // Another session on the same charger proves the stale one was consumed and skipped.
    publish_running(&h, &running(CP, "43", "0.50", 1)).await;
    let (id, _, payload) = next_call(&mut charger).await;
    let (_, data) = cost_message(&payload);
    assert_eq!(
        (data["transactionId"].clone(), data["cost"].clone()),
        (json!(43), json!(0.5))
    );
    charger.answer(&id, json!({"status": "Accepted"})).await;
    h.stop().await;
}

#[tokio::test]
async fn cost_display_can_be_turned_off() {
    let h = Harness::start_with(|s| s.ocpp_cost_display = false).await;
    let mut charger = h.connect(CP).await;
    publish_running(&h, &running(CP, "42", "3.10", 1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The next frame is the answer to this heartbeat, not a cost display.
    let answer = charger.call("Heartbeat", json!({})).await;
    assert_eq!(answer[0], 3);
    let env = &h.env;
    let pool = env.pool().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway.cost_display")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    pool.close().await;
    h.stop().await;
}

#[tokio::test]
async fn the_ended_answer_omits_total_cost_when_pricing_cannot_tell_and_never_waits_long() {
    // Nothing listens there: the estimate fails, the transaction is answered all the same.
    let h = Harness::start_with(|s| s.pricing_grpc_url = "http://127.0.0.1:1".into()).await;
    let mut station = h.connect_201(CP).await;
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let ended = json!({
        "eventType": "Ended", "timestamp": at, "triggerReason": "EVDeparted", "seqNo": 3,
        "transactionInfo": {"transactionId": "tx-end", "stoppedReason": "EVDisconnected"},
        "idToken": {"idToken": KNOWN_TAG, "type": "ISO14443"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": at, "sampledValue": [{"value": 1200, "context": "Transaction.End"}]}]
    });
    let answer = station.ok("TransactionEvent", ended).await;
    assert_eq!(answer["idTokenInfo"]["status"], "Accepted");
    assert!(answer.get("totalCost").is_none(), "{answer}");
    h.stop().await;
}
