//! The hold follows the live cost, against real PostgreSQL and NATS: pricing's `SessionCostUpdated`
//! (published here as pricing would) raises the hold when the running cost nears it, incrementally on
//! a card that offers it and by second holds on one that does not; older estimates are ignored; the
//! priced session captures its price; a hold that cannot grow asks the real gateway to stop the charge
//! and records its answer on the intent.

mod support;

use std::time::Duration;

use joule_domain::{AccountId, SessionId};
use joule_proto::v1;
use support::{Harness, dec, eventually};

async fn cost_updated(
    h: &Harness,
    session: SessionId,
    account: AccountId,
    sequence: u64,
    total: &str,
) {
    h.publish(
        format!("pricing.{session}.cost_updated"),
        &v1::SessionCostUpdated {
            session_id: session.to_string(),
            account_id: account.to_string(),
            charge_point_id: "CP-LIVE-1".into(),
            transaction_id: "4711".into(),
            currency: "EUR".into(),
            total_incl_vat: total.into(),
            sequence,
            ..Default::default()
        },
        // A distinct event id per publication: a redelivery with the same sequence is tested too.
        &format!("cost/{session}/{sequence}/{total}"),
    )
    .await;
}

fn types(p: &v1::PaymentIntent) -> Vec<&str> {
    p.events.iter().map(|e| e.r#type.as_str()).collect()
}

/// Cost updates cross the threshold twice: two extensions; older and repeated sequences change
/// nothing; the priced session captures its price from the holds. Returns the holds at the sandbox.
async fn follow_and_capture(h: &Harness, name: &str, token: &str) -> Vec<(Decimal4, String)> {
    let account = h.open_account(name, "EUR").await;
    h.save_card(account, token, true).await;
    let session = SessionId::derived(name);
    h.session_started(session, account).await;
    let held = h.wait_payment(session, |p| p.status == "authorized").await;
    assert_eq!(held.amount_authorized, "50.00");

    // Below 80 % of 50: the hold is enough.
    cost_updated(h, session, account, 1, "39.99").await;
    // 41 >= 40: 41 x 1.5 = 61.5 -> 70 in steps of 10, but at least 50 + 50 = 100.
    cost_updated(h, session, account, 2, "41.00").await;
    h.wait_payment(session, |p| p.amount_authorized == "100.00")
        .await;
    // 85 >= 80: 127.5 -> 130, at least 100 + 50 = 150.
    cost_updated(h, session, account, 4, "85.00").await;
    h.wait_payment(session, |p| p.amount_authorized == "150.00")
        .await;
    // An older estimate arriving late, and the same sequence again, would each cross 120 of 150.
    cost_updated(h, session, account, 3, "125.00").await;
    cost_updated(h, session, account, 4, "130.00").await;
    // A newer one below the threshold is acted on (recorded) without an extension.
    cost_updated(h, session, account, 5, "100.00").await;
    eventually("sequence 5 recorded", || async {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT sequence FROM payments.cost_updates WHERE session_id = $1")
                .bind(session.as_uuid())
                .fetch_optional(&h.pool)
                .await
                .unwrap();
        (seq == Some(5)).then_some(())
    })
    .await;
    let p = h.wait_payment(session, |_| true).await;
    assert_eq!(p.amount_authorized, "150.00", "stale updates ignored");
    assert_eq!(
        types(&p).iter().filter(|t| **t == "HoldExtended").count(),
        2
    );

    // Priced: 100.00 + 0.84 net at 19 % = 119.00 + 1.00 = 120.00 gross, captured from the holds.
    h.session_priced(session, account, "100.00", "0.84").await;
    let captured = h.wait_payment(session, |p| p.status == "captured").await;
    assert_eq!(captured.amount_captured, "120.00");

    sqlx::query_as::<_, (rust_decimal::Decimal, rust_decimal::Decimal, String)>(
        "SELECT amount, captured, status FROM payments.sandbox_holds WHERE token = $1
         ORDER BY created_at, reference",
    )
    .bind(token)
    .fetch_all(&h.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(a, c, s)| ((a, c), s))
    .collect()
}

type Decimal4 = (rust_decimal::Decimal, rust_decimal::Decimal);

#[tokio::test]
async fn the_hold_follows_the_running_cost_and_the_priced_amount_is_captured() {
    let h = Harness::start().await;

    // Incremental authorisation on this card: one hold grows to 150, 120 of it is captured.
    let holds = follow_and_capture(&h, "live-incremental", "tok_sandbox_ok").await;
    assert_eq!(
        holds,
        vec![((dec("150.00"), dec("120.00")), "captured".to_owned())]
    );

    // No incremental authorisation: second holds of 50 each, used up in order.
    let holds = follow_and_capture(&h, "live-second-hold", "tok_sandbox_no_incremental").await;
    assert_eq!(
        holds
            .iter()
            .map(|((a, c), s)| (*a, *c, s.as_str()))
            .collect::<Vec<_>>(),
        [
            (dec("50.00"), dec("50.00"), "captured"),
            (dec("50.00"), dec("50.00"), "captured"),
            (dec("50.00"), dec("20.00"), "captured"),
        ]
    );
    assert_eq!(
        h.payment_events("joule.v1.PaymentHoldExtended").await.len(),
        4
    );

    // The holds' memo nets out; both captures moved to cash clearing; debits equal credits.
    let balances = h.wait_balance("cash_clearing", dec("240.00")).await;
    assert_eq!(balances["payment_holds"], dec("0"));
    assert_eq!(balances["payment_holds_contra"], dec("0"));
    let (_, tb) = h.balances().await;
    assert_eq!(tb.total_debit, tb.total_credit);
}

#[tokio::test]
async fn a_hold_that_cannot_grow_asks_the_gateway_to_stop_the_charge() {
    // The real gateway in the same process (gateway_grpc_url empty): the charger is not registered
    // with it, so it refuses, and the intent records that answer.
    let h = Harness::start_services(&[joule_gateway::SERVICE], |_| {}).await;
    let account = h.open_account("live-exhausted", "EUR").await;
    h.save_card(account, "tok_sandbox_ok", true).await;
    let session = SessionId::derived("live-exhausted");
    h.session_started(session, account).await;
    h.wait_payment(session, |p| p.status == "authorized").await;

    // 9,000 x 1.5 = 13,500: above the sandbox card's 10,000 limit.
    cost_updated(&h, session, account, 1, "9000.00").await;
    let p = h
        .wait_payment(session, |p| types(p).contains(&"ChargeStopRequested"))
        .await;
    assert_eq!(p.status, "authorized", "the hold stays as it was");
    assert_eq!(p.amount_authorized, "50.00");
    assert_eq!(p.failure_code, "insufficient_funds");
    let stop = p
        .events
        .iter()
        .find(|e| e.r#type == "ChargeStopRequested")
        .unwrap();
    assert_eq!(stop.amount, "9000.00");
    assert!(
        stop.detail
            .starts_with("stop CP-LIVE-1 transaction 4711: gateway: NotFound")
            && stop.detail.contains("not registered")
            && stop.detail.ends_with("(insufficient_funds)"),
        "{}",
        stop.detail
    );
    let exhausted = eventually("PaymentHoldExhausted on the PAYMENT stream", || async {
        h.payment_events("joule.v1.PaymentHoldExhausted")
            .await
            .pop()
    })
    .await;
    let message: v1::PaymentHoldExhausted = joule_bus::decode_payload(&exhausted).unwrap();
    assert_eq!(message.session_id, session.to_string());

    // The stop did not reach the charger: the next update asks the gateway again, without asking
    // the provider for another extension.
    cost_updated(&h, session, account, 2, "9100.00").await;
    let p = h
        .wait_payment(session, |p| {
            types(p)
                .iter()
                .filter(|t| **t == "ChargeStopRequested")
                .count()
                == 2
        })
        .await;
    assert_eq!(
        types(&p)
            .iter()
            .filter(|t| **t == "ExtensionRequested")
            .count(),
        1
    );
    let (_, tb) = h.balances().await;
    assert_eq!(tb.total_debit, tb.total_credit);
}

#[tokio::test]
async fn an_unreachable_gateway_is_asked_a_few_times_and_the_stream_moves_on() {
    let h = Harness::start_with(|s| s.gateway_grpc_url = "http://127.0.0.1:9".into()).await;
    let account = h.open_account("live-no-gateway", "EUR").await;
    h.save_card(account, "tok_sandbox_ok", true).await;
    let session = SessionId::derived("live-no-gateway");
    h.session_started(session, account).await;
    h.wait_payment(session, |p| p.status == "authorized").await;

    cost_updated(&h, session, account, 1, "9000.00").await;
    let p = h
        .wait_payment(session, |p| types(p).contains(&"ChargeStopRequested"))
        .await;
    let stop = p
        .events
        .iter()
        .find(|e| e.r#type == "ChargeStopRequested")
        .unwrap();
    assert!(
        stop.detail.contains("gateway: Unavailable"),
        "{}",
        stop.detail
    );

    // The consumer moved on: a later session's update on the same stream is acted on.
    let other = SessionId::derived("live-no-gateway-2");
    h.session_started(other, account).await;
    h.wait_payment(other, |p| p.status == "authorized").await;
    cost_updated(&h, other, account, 1, "45.00").await;
    tokio::time::timeout(Duration::from_secs(30), async {
        h.wait_payment(other, |p| p.amount_authorized == "100.00")
            .await
    })
    .await
    .expect("the next update is acted on");
}

#[tokio::test]
async fn the_hold_decision_commits_with_the_intent_and_a_session_priced_first_pays_later() {
    let h = Harness::start().await;
    let account = h.open_account("decided", "EUR").await;
    h.save_card(account, "tok_sandbox_ok", true).await;
    let decision = |session: SessionId| {
        let pool = h.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT decision FROM payments.session_decisions WHERE session_id = $1",
            )
            .bind(session.as_uuid())
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };

    // A hold: the decision was written by the intent's opening commit.
    let held = SessionId::derived("decided-hold");
    h.session_started(held, account).await;
    h.wait_payment(held, |p| p.status == "authorized").await;
    assert_eq!(decision(held).await.as_deref(), Some("hold"));

    // Priced before its start was seen: settled by invoice, and the late start opens no intent.
    let late = SessionId::derived("decided-late");
    h.session_priced(late, account, "1.00", "0").await;
    support::eventually("pay-later decision", || async {
        decision(late).await.filter(|d| d == "pay_later")
    })
    .await;
    h.session_started(late, account).await;
    // The start is handled after the earlier one in the stream: once a later session is held, the
    // late start was seen.
    let after = SessionId::derived("decided-after");
    h.session_started(after, account).await;
    h.wait_payment(after, |p| p.status == "authorized").await;
    let intents: i64 =
        sqlx::query_scalar("SELECT count(*) FROM payments.intents WHERE session_id = $1")
            .bind(late.as_uuid())
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(intents, 0);
    assert_eq!(decision(late).await.as_deref(), Some("pay_later"));

    // The race the trigger closes: an opening that commits after the pay-later decision is refused
    // by the database itself, whatever the process had read before.
    let opening = sqlx::query(
        "INSERT INTO payments.events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('PaymentIntent', 'raced', 1, 'IntentOpened', '1.0', $1, '{}')",
    )
    .bind(serde_json::json!({"IntentOpened": {"context": {"session_id": late.to_string()}}}))
    .execute(&h.pool)
    .await;
    assert!(
        opening
            .unwrap_err()
            .to_string()
            .contains("is settled by invoice")
    );
}
