//! Events as the code before ADR 030 stored them (event version 1.0: amounts as bare decimals beside
//! a currency code), written straight into the event store of a running service: the aggregates load
//! them with their `Money`, commands run on them, the relay projects them into the read tables and
//! publishes them as it did.

mod support;

use joule_domain::{AccountId, Currency, Money, SessionId};
use joule_payments::domain::intent::{IntentCommand, IntentError, PaymentIntent, Status};
use joule_payments::domain::settlement::SettlementRecord;
use joule_payments::domain::wallet::Wallet;
use joule_payments::ids::{IntentId, MethodId, SettlementLineId, WalletId};
use joule_payments::store::Aggregates;
use joule_proto::v1;
use joule_store::CommandMeta;
use serde_json::{Value, json};
use support::{Harness, dec, eventually};

const AT: &str = "2026-11-02T08:00:00Z";

/// Stores `events` of one aggregate as 1.0 wrote them (`{"<Variant>": {...}}`, version 1.0).
async fn store(h: &Harness, aggregate_type: &str, id: &str, events: Vec<(&str, Value)>) {
    for (i, (event_type, fields)) in events.into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO payments.events
                 (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ($1, $2, $3, $4, '1.0', $5, $6)",
        )
        .bind(aggregate_type)
        .bind(id)
        .bind(i as i64 + 1)
        .bind(event_type)
        .bind(json!({ event_type: fields }))
        .bind(json!({"tenant_id": "default", "correlation_id": "stored-at-1.0"}))
        .execute(&h.pool)
        .await
        .expect("store an event of 1.0");
    }
}

#[tokio::test]
async fn an_intent_stored_at_1_0_loads_takes_commands_and_is_projected_and_published() {
    let h = Harness::start().await;
    let session = SessionId::derived("default/CP-stored/1");
    let id = IntentId::for_session(session);
    let context = json!({
        "tenant_id": "default",
        "account_id": AccountId::derived("stored").to_string(),
        "session_id": session.to_string(),
        "order_id": null,
        "purpose": "session",
        "provider": "sandbox",
        "method_id": MethodId::derived("stored").to_string(),
        "token": "tok_sandbox_ok",
        "customer": "cus",
        "currency": "EUR",
    });
    store(
        &h,
        "PaymentIntent",
        &id.to_string(),
        vec![
            (
                "IntentOpened",
                json!({"context": context, "amount": "50.00", "opened_at": AT}),
            ),
            (
                "AuthorizationRequested",
                json!({"attempt": 1, "amount": "50.00"}),
            ),
            (
                "PaymentAuthorized",
                json!({"context": context, "reference": "hold_stored", "amount": "50.00",
                    "incremental": true, "at": AT}),
            ),
            (
                "CaptureRequested",
                json!({"attempt": 1, "amount": "12.30", "uncollected": "0"}),
            ),
            (
                "PaymentCaptured",
                json!({"context": context, "amount": "12.30", "released": "37.70",
                    "uncollected": "0", "at": AT}),
            ),
        ],
    )
    .await;

    // The aggregate loads the stored amounts.
    let intents: Aggregates<PaymentIntent> = Aggregates::new(h.pool.clone(), "payments");
    let intent = intents.load(&id.to_string()).await.expect("load");
    assert_eq!(intent.status(), Some(Status::Captured));
    assert_eq!(
        (intent.authorized(), intent.captured, intent.opened_amount),
        (dec("50.00"), dec("12.30"), dec("50.00"))
    );
    // Commands decide on them: the same capture again records nothing, another is refused.
    let meta = CommandMeta {
        tenant_id: "default".into(),
        ..Default::default()
    };
    let capture = |amount: &str| IntentCommand::RequestCapture {
        amount: Money::new(dec(amount), Currency::EUR),
    };
    let again = intents
        .execute_on(&id.to_string(), None, capture("12.30"), &meta)
        .await
        .expect("the same capture");
    assert_eq!(again.sequence, 5, "nothing recorded");
    let other = intents
        .execute(&id.to_string(), capture("13.00"), &meta)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &other,
            cqrs_es::AggregateError::UserError(IntentError::AlreadyCaptured { captured })
                if *captured == dec("12.30")
        ),
        "{other:?}"
    );

    // The relay projects them as it always did ...
    let payment = h.wait_payment(session, |p| p.status == "captured").await;
    assert_eq!(
        (
            payment.currency.as_str(),
            payment.amount_authorized.as_str(),
            payment.amount_captured.as_str()
        ),
        ("EUR", "50.00", "12.30")
    );
    let history: Vec<(&str, &str, &str)> = payment
        .events
        .iter()
        .map(|e| (e.r#type.as_str(), e.amount.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        history,
        vec![
            ("IntentOpened", "50.00", "session via sandbox"),
            ("AuthorizationRequested", "50.00", "attempt 1"),
            ("PaymentAuthorized", "50.00", "hold_stored"),
            ("CaptureRequested", "12.30", "attempt 1"),
            ("PaymentCaptured", "12.30", "released 37.70"),
        ]
    );
    // ... and publishes them.
    let captured = eventually("the capture published", || async {
        h.payment_events("joule.v1.PaymentCaptured")
            .await
            .into_iter()
            .map(|e| joule_bus::decode_payload::<v1::PaymentCaptured>(&e).unwrap())
            .find(|m| m.intent_id == id.to_string())
    })
    .await;
    assert_eq!(
        (
            captured.currency.as_str(),
            captured.amount.as_str(),
            captured.amount_released.as_str(),
            captured.amount_uncollected.as_str()
        ),
        ("EUR", "12.30", "37.70", "0.00")
    );
}

#[tokio::test]
async fn a_wallet_topped_up_at_1_0_keeps_its_balance_and_takes_the_next_top_up() {
    let h = Harness::start().await;
    let account = AccountId::derived("stored-wallet");
    let currency = Currency::EUR;
    let id = WalletId::for_account(account, currency);
    store(
        &h,
        "Wallet",
        &id.to_string(),
        vec![
            (
                "WalletOpened",
                json!({"tenant_id": "default", "account_id": account.to_string(),
                    "currency": "EUR", "at": AT}),
            ),
            (
                "WalletToppedUp",
                json!({"account_id": account.to_string(), "currency": "EUR", "top_up_id": "t1",
                    "amount": "30.00", "funding": "external", "reference": "bank",
                    "intent_id": null, "balance": "30.00", "held": "0", "at": AT}),
            ),
        ],
    )
    .await;
    let wallets: Aggregates<Wallet> = Aggregates::new(h.pool.clone(), "payments");
    let wallet = wallets.load(&id.to_string()).await.expect("load");
    assert_eq!(
        (wallet.currency, wallet.balance),
        (Some(currency), dec("30.00"))
    );

    let topped = h
        .payments
        .clone()
        .top_up_wallet(v1::TopUpWalletRequest {
            idempotency_key: "after-1.0".into(),
            wallet_id: id.to_string(),
            amount: "10.00".into(),
            reference: "bank 2".into(),
            ..Default::default()
        })
        .await
        .expect("top up")
        .into_inner();
    assert_eq!(
        (topped.balance.as_str(), topped.available.as_str()),
        ("40.00", "40.00")
    );
    let lines = eventually("both top-ups projected", || async {
        let lines = h
            .payments
            .clone()
            .list_wallet_transactions(v1::ListWalletTransactionsRequest {
                wallet_id: id.to_string(),
                ..Default::default()
            })
            .await
            .expect("history")
            .into_inner()
            .transactions;
        (lines.len() == 2).then_some(lines)
    })
    .await;
    let lines: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| (l.r#type.as_str(), l.amount.as_str(), l.balance.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![("top_up", "30.00", "30.00"), ("top_up", "10.00", "40.00")]
    );
    let published = eventually("the old top-up published", || async {
        h.payment_events("joule.v1.WalletToppedUp")
            .await
            .into_iter()
            .map(|e| joule_bus::decode_payload::<v1::WalletToppedUp>(&e).unwrap())
            .find(|m| m.reference == "bank")
    })
    .await;
    assert_eq!(
        (
            published.currency.as_str(),
            published.amount.as_str(),
            published.balance.as_str()
        ),
        ("EUR", "30.00", "30.00")
    );
}

#[tokio::test]
async fn a_settlement_line_recorded_at_1_0_is_projected_and_recorded_once() {
    let h = Harness::start().await;
    let id = SettlementLineId::for_transaction("stripe", "txn_stored");
    let intent = IntentId::derived("stored-settlement");
    store(
        &h,
        "SettlementLine",
        &id.to_string(),
        vec![(
            "SettlementLineRecorded",
            json!({"tenant_id": "default", "intent_id": intent.to_string(), "line": {
                "provider": "stripe", "transaction_id": "txn_stored", "category": "charge",
                "currency": "EUR", "gross": "23.80", "fee": "0.58", "net": "23.22",
                "intent_reference": intent.to_string(), "payout_id": "po_1", "occurred_at": AT}}),
        )],
    )
    .await;
    let settlements: Aggregates<SettlementRecord> = Aggregates::new(h.pool.clone(), "payments");
    assert!(settlements.load(&id.to_string()).await.unwrap().recorded);
    let row: (String, rust_decimal::Decimal, rust_decimal::Decimal, String) =
        eventually("the line projected", || async {
            sqlx::query_as(
                "SELECT currency, gross, fee, intent_id FROM payments.settlement_lines WHERE id = $1",
            )
            .bind(id.as_uuid())
            .fetch_optional(&h.pool)
            .await
            .unwrap()
        })
        .await;
    assert_eq!(
        row,
        ("EUR".into(), dec("23.80"), dec("0.58"), intent.to_string())
    );
    // The same line in a report is recorded once: it is not new.
    let imported = h
        .payments
        .clone()
        .import_settlement_report(v1::ImportSettlementReportRequest {
            idempotency_key: "report-after-1.0".into(),
            provider: "stripe".into(),
            format: "csv".into(),
            content: format!(
                "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,payment_intent_id\n\
                 txn_stored,2026-11-02 08:00:00,eur,23.80,0.58,23.22,charge,{intent}\n"
            ),
            ..Default::default()
        })
        .await
        .expect("import")
        .into_inner();
    assert_eq!((imported.lines, imported.lines_new), (1, 0));
}
