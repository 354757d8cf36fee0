//! Blocked on a declined hold: the gateway and the payments service in one process, on real
//! PostgreSQL and NATS, with the sandbox provider. A start whose account's default card declines
//! the hold answers Blocked (and is still recorded); an approving card answers Accepted; payments
//! being unreachable answers Accepted.

mod support;

use joule_domain::AccountId;
use joule_proto::EventName;
use joule_proto::v1::payments_service_client::PaymentsServiceClient;
use joule_proto::v1::{self as v1, AccountOpened, TransactionStarted};
use joule_testkit::eventually;
use serde_json::json;
use support::{CP, Harness, KNOWN_TAG, of_type, publish_registry, start_payload};

async fn start_with_payments() -> Harness {
    Harness::start_services(|_| {}, &[joule_gateway::SERVICE, joule_payments::SERVICE]).await
}

/// Opens `account` in EUR with `card` as its default method, and waits until payments knows it.
async fn pays_by(h: &Harness, account: AccountId, card: &str) {
    publish_registry(
        &h.bus,
        &format!("registry.account.{account}"),
        &AccountOpened {
            account_id: account.to_string(),
            name: card.into(),
            currency: "EUR".into(),
        },
    )
    .await;
    let pool = h.env.pool().await;
    eventually("payments knows the account", || {
        let pool = pool.clone();
        async move {
            let known = sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM payments.accounts WHERE account_id = $1",
            )
            .bind(account.as_uuid())
            .fetch_one(&pool)
            .await
            .unwrap();
            (known == 1).then_some(())
        }
    })
    .await;
    pool.close().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", h.grpc_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    PaymentsServiceClient::new(channel)
        .save_payment_method(v1::SavePaymentMethodRequest {
            idempotency_key: format!("save/{account}/{card}"),
            account_id: account.to_string(),
            provider: "sandbox".into(),
            provider_token: card.into(),
            make_default: true,
            ..Default::default()
        })
        .await
        .expect("card saved");
}

#[tokio::test]
async fn a_declined_hold_answers_blocked_and_an_approved_one_accepted() {
    let h = start_with_payments().await;
    pays_by(&h, h.account_id, "tok_sandbox_decline").await;
    let ok_account = h.issue_token("0A0B0C0D").await;
    pays_by(&h, ok_account, "tok_sandbox_ok").await;
    let mut charger = h.connect(CP).await;

    let declined = charger
        .ok(
            "StartTransaction",
            start_payload(1, KNOWN_TAG, 1000, "2026-11-21T10:00:00Z"),
        )
        .await;
    assert_eq!(declined["idTagInfo"]["status"], "Blocked");
    assert!(declined["transactionId"].as_i64().unwrap() > 0);
    // A retry of the same start gets the same id and the same decision.
    let again = charger
        .ok(
            "StartTransaction",
            start_payload(1, KNOWN_TAG, 1000, "2026-11-21T10:00:00Z"),
        )
        .await;
    assert_eq!(again, declined);

    let approved = charger
        .ok(
            "StartTransaction",
            start_payload(2, "0A0B0C0D", 500, "2026-11-21T10:05:00Z"),
        )
        .await;
    assert_eq!(approved["idTagInfo"]["status"], "Accepted");

    // The declined start is recorded all the same.
    let events = h.charger_events().await;
    let starts = of_type(&events, TransactionStarted::NAME);
    assert_eq!(starts.len(), 2, "a retry is stored once");

    // 2.0.1: the same decision in idTokenInfo.
    h.register_charger("CP-201").await;
    let mut station = h.connect_201("CP-201").await;
    let started = |tag: &str, tx: &str| {
        json!({
            "eventType": "Started", "timestamp": "2026-11-21T11:00:00Z", "triggerReason": "Authorized",
            "seqNo": 0, "transactionInfo": {"transactionId": tx},
            "idToken": {"idToken": tag, "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1}
        })
    };
    let answer = station
        .ok("TransactionEvent", started(KNOWN_TAG, "tx-declined"))
        .await;
    assert_eq!(answer["idTokenInfo"]["status"], "Blocked");
    let answer = station
        .ok("TransactionEvent", started("0A0B0C0D", "tx-approved"))
        .await;
    assert_eq!(answer["idTokenInfo"]["status"], "Accepted");
    h.stop().await;
}

#[tokio::test]
async fn payments_unreachable_means_accepted() {
    let h = Harness::start_with(|s| s.payments_grpc_url = "http://127.0.0.1:1".into()).await;
    let mut charger = h.connect(CP).await;
    let answer = charger
        .ok(
            "StartTransaction",
            start_payload(1, KNOWN_TAG, 1000, "2026-11-21T10:00:00Z"),
        )
        .await;
    assert_eq!(answer["idTagInfo"]["status"], "Accepted");
    h.stop().await;
}
