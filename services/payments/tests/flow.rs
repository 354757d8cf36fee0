//! The payments service against real PostgreSQL and NATS with the sandbox provider: holds at session
//! start, captures after pricing, every sandbox failure, pay-later accounts, extensions, capture retries
//! and dunning, wallets, settlement imports, and the ledger entries of each movement.

mod support;

use joule_domain::SessionId;
use joule_proto::v1;
use support::{Harness, dec, eventually};
use tonic::Code;

#[tokio::test]
async fn a_session_on_a_sandbox_card_is_held_at_start_and_captured_after_pricing() {
    let h = Harness::start().await;
    let account = h.open_account("jane", "EUR").await;
    let method = h.save_card(account, "tok_sandbox_ok", true).await;
    assert_eq!(
        (
            method.brand.as_str(),
            method.last4.as_str(),
            method.is_default
        ),
        ("visa", "4242", true)
    );

    let session = SessionId::derived("default/CP-1/1");
    h.session_started(session, account).await;
    let held = h.wait_payment(session, |p| p.status == "authorized").await;
    assert_eq!(held.amount_authorized, "50.00", "the operator's EUR hold");
    assert_eq!(held.provider, "sandbox");

    // 4.32075 + 0.50 net at 19 %: the receipt's gross is 5.14 + 0.60 = 5.74.
    h.session_priced(session, account, "4.32075", "0.50").await;
    let captured = h.wait_payment(session, |p| p.status == "captured").await;
    assert_eq!(captured.amount_captured, "5.74");
    assert_eq!(
        h.sandbox_holds().await,
        vec![(
            "tok_sandbox_ok".into(),
            dec("50.00"),
            dec("5.74"),
            "captured".into()
        )],
        "one hold at the provider, captured once"
    );
    let types: Vec<&str> = captured.events.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        types,
        [
            "IntentOpened",
            "AuthorizationRequested",
            "PaymentAuthorized",
            "CaptureRequested",
            "PaymentCaptured"
        ]
    );

    // The hold's memo nets out; the capture moved 5.74 from receivables to cash clearing.
    let balances = h.wait_balance("cash_clearing", dec("5.74")).await;
    assert_eq!(balances["accounts_receivable"], dec("-5.74"));
    assert_eq!(balances["payment_holds"], dec("0"));
    assert_eq!(balances["payment_holds_contra"], dec("0"));
    let (_, tb) = h.balances().await;
    assert_eq!(tb.total_debit, tb.total_credit);

    // The same start and price again (redeliveries) change nothing.
    h.session_started(session, account).await;
    h.publish(
        format!("pricing.{session}.priced"),
        &v1::SessionPriced {
            session_id: session.to_string(),
            account_id: account.to_string(),
            currency: "EUR".into(),
            lines: vec![v1::PriceLine {
                amount_excl_vat: "4.82".into(),
                vat_percent: "19".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        &format!("priced-again/{session}"),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(h.sandbox_holds().await.len(), 1);
    assert_eq!(
        h.wait_payment(session, |_| true).await.amount_captured,
        "5.74"
    );
}

#[tokio::test]
async fn every_sandbox_failure_fails_the_hold_with_the_providers_code() {
    let h = Harness::start().await;
    let cases = [
        ("tok_sandbox_decline", "card_declined"),
        ("tok_sandbox_insufficient_funds", "insufficient_funds"),
        ("tok_sandbox_expired", "expired_card"),
        ("tok_sandbox_auth_required", "authentication_required"),
        ("tok_sandbox_timeout", "timeout"),
    ];
    for (i, (token, code)) in cases.into_iter().enumerate() {
        let account = h.open_account(token, "EUR").await;
        h.save_card(account, token, true).await;
        let session = SessionId::derived(&format!("default/CP-1/{i}"));
        let answer = h
            .payments
            .clone()
            .authorize_session_payment(v1::AuthorizeSessionPaymentRequest {
                idempotency_key: format!("authorize/{session}"),
                session_id: session.to_string(),
                account_id: account.to_string(),
                currency: "EUR".into(),
                ..Default::default()
            })
            .await
            .expect("an answer")
            .into_inner();
        assert_eq!(
            (answer.decision.as_str(), answer.failure_code.as_str()),
            ("declined", code),
            "{token}"
        );
        let failed = h.wait_payment(session, |p| p.status == "failed").await;
        assert_eq!(failed.failure_code, code);

        // Priced later: nothing to capture, the invoice stays receivable.
        h.session_priced(session, account, "10.00", "0").await;
    }
    assert!(h.sandbox_holds().await.is_empty(), "no money was held");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        h.payment_events("joule.v1.PaymentCaptured")
            .await
            .is_empty()
    );
    assert_eq!(h.payment_events("joule.v1.PaymentFailed").await.len(), 5);

    // The list filters by status and creation time; an unknown status is refused naming it.
    let list = |status: &str, created_after: Option<chrono::DateTime<chrono::Utc>>| {
        let mut payments = h.payments.clone();
        let request = v1::ListPaymentsRequest {
            status: status.into(),
            created_after: created_after.map(joule_proto::time::to_proto),
            ..Default::default()
        };
        async move { payments.list_payments(request).await }
    };
    let failed = list("failed", None).await.unwrap().into_inner();
    assert_eq!(failed.payments.len(), 5);
    assert!(failed.payments.iter().all(|p| p.status == "failed"));
    let captured = list("captured", None).await.unwrap().into_inner();
    assert!(captured.payments.is_empty());
    let in_a_minute = chrono::Utc::now() + chrono::Duration::minutes(1);
    let later = list("", Some(in_a_minute)).await.unwrap().into_inner();
    assert!(later.payments.is_empty());
    let refused = list("lost", None).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().starts_with("status"),
        "{}",
        refused.message()
    );
}

#[tokio::test]
async fn an_account_without_a_default_method_pays_later() {
    let h = Harness::start().await;
    let account = h.open_account("fleet", "EUR").await;
    // A saved card that is not the default does not make the account pay by card.
    h.save_card(account, "tok_sandbox_ok", false).await;
    let session = SessionId::derived("default/CP-9/1");
    let answer = h
        .payments
        .clone()
        .authorize_session_payment(v1::AuthorizeSessionPaymentRequest {
            idempotency_key: "k".into(),
            session_id: session.to_string(),
            account_id: account.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.decision, "pay_later");
    h.session_priced(session, account, "10.00", "0").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let list = h
        .payments
        .clone()
        .list_payments(v1::ListPaymentsRequest {
            account_id: account.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(list.payments.is_empty());
    assert!(h.sandbox_holds().await.is_empty());
}

async fn authorized(h: &Harness, name: &str, token: &str, amount: &str) -> (String, SessionId) {
    let account = h.open_account(name, "EUR").await;
    h.save_card(account, token, true).await;
    let session = SessionId::derived(&format!("default/{name}/1"));
    let answer = h
        .payments
        .clone()
        .authorize_session_payment(v1::AuthorizeSessionPaymentRequest {
            idempotency_key: format!("authorize/{session}"),
            session_id: session.to_string(),
            account_id: account.to_string(),
            currency: "EUR".into(),
            amount: amount.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.decision, "approved");
    (answer.intent.unwrap().id, session)
}

fn extend(id: &str, amount: &str, key: &str) -> v1::ExtendHoldRequest {
    v1::ExtendHoldRequest {
        idempotency_key: key.into(),
        intent_id: id.into(),
        new_amount: amount.into(),
        ..Default::default()
    }
}

fn capture(id: &str, amount: &str, key: &str) -> v1::CapturePaymentRequest {
    v1::CapturePaymentRequest {
        idempotency_key: key.into(),
        intent_id: id.into(),
        amount: amount.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_long_dc_session_extends_its_hold_twice_and_then_captures() {
    let h = Harness::start().await;
    let mut client = h.payments.clone();

    // Incremental authorisation: the same hold grows.
    let (id, _) = authorized(&h, "dc-incremental", "tok_sandbox_ok", "50.00").await;
    for (amount, key) in [("80.00", "e1"), ("120.00", "e2")] {
        let answer = client
            .extend_hold(extend(&id, amount, key))
            .await
            .unwrap()
            .into_inner();
        assert!(answer.extended);
        assert_eq!(answer.mode, "incremental");
        assert_eq!(answer.intent.unwrap().amount_authorized, amount);
    }
    let done = client
        .capture_payment(capture(&id, "111.11", "c1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (done.status.as_str(), done.amount_captured.as_str()),
        ("captured", "111.11")
    );

    // No incremental authorisation on this card: second holds, captured in order.
    let (id, _) = authorized(&h, "dc-second-hold", "tok_sandbox_no_incremental", "50.00").await;
    for (amount, key) in [("80.00", "e3"), ("120.00", "e4")] {
        let answer = client
            .extend_hold(extend(&id, amount, key))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (answer.extended, answer.mode.as_str()),
            (true, "second_hold")
        );
    }
    let done = client
        .capture_payment(capture(&id, "90.00", "c2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.amount_captured, "90.00");

    let holds = h.sandbox_holds().await;
    assert_eq!(
        holds[0],
        (
            "tok_sandbox_ok".into(),
            dec("120.00"),
            dec("111.11"),
            "captured".into()
        )
    );
    assert_eq!(
        holds[1..]
            .iter()
            .map(|h| (h.1, h.2, h.3.as_str()))
            .collect::<Vec<_>>(),
        [
            (dec("50.00"), dec("50.00"), "captured"),
            (dec("30.00"), dec("30.00"), "captured"),
            (dec("40.00"), dec("10.00"), "captured"),
        ],
        "the first holds are used up first; the rest of the last is released"
    );
    assert_eq!(
        h.payment_events("joule.v1.PaymentHoldExtended").await.len(),
        4
    );

    // A hold that cannot grow: the intent keeps its hold and asks for the charge to stop.
    let (id, session) = authorized(&h, "dc-exhausted", "tok_sandbox_ok", "50.00").await;
    let answer = client
        .extend_hold(extend(&id, "20000.00", "e5"))
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.extended);
    assert_eq!(answer.exhausted_reason, "insufficient_funds");
    assert_eq!(answer.intent.unwrap().amount_authorized, "50.00");
    let exhausted = eventually("PaymentHoldExhausted on the PAYMENT stream", || async {
        h.payment_events("joule.v1.PaymentHoldExhausted")
            .await
            .pop()
    })
    .await;
    let message: v1::PaymentHoldExhausted = joule_bus::decode_payload(&exhausted).unwrap();
    assert_eq!(message.session_id, session.to_string());
    assert_eq!(
        (message.reason.as_str(), message.amount_requested.as_str()),
        ("insufficient_funds", "20000.00")
    );

    let (_, tb) = h.balances().await;
    assert_eq!(tb.total_debit, tb.total_credit);
}

#[tokio::test]
async fn a_failing_capture_is_retried_with_backoff_then_goes_to_dunning() {
    let h = Harness::start_with(|s| {
        s.payments_capture_retry_secs = 1;
        s.payments_capture_max_attempts = 3;
    })
    .await;
    let (id, session) = authorized(&h, "late-payer", "tok_sandbox_capture_fail", "50.00").await;
    let first = h
        .payments
        .clone()
        .capture_payment(capture(&id, "20.00", "c"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (first.status.as_str(), first.failure_code.as_str()),
        ("authorized", "processing_error")
    );

    let dunning = h.wait_payment(session, |p| p.status == "dunning").await;
    let types: Vec<&str> = dunning.events.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "CaptureFailed").count(), 2);
    assert!(types.contains(&"DunningStarted"));
    let failed = h.payment_events("joule.v1.PaymentCaptureFailed").await;
    let retry_at = |e: &v1::Envelope| {
        let m: v1::PaymentCaptureFailed = joule_bus::decode_payload(e).unwrap();
        (m.attempt, m.next_attempt_at.unwrap().seconds)
    };
    let (a1, t1) = retry_at(&failed[0]);
    let (a2, t2) = retry_at(&failed[1]);
    assert_eq!((a1, a2), (1, 2));
    assert!(t2 - t1 >= 2, "the second wait is twice the first");

    // The amount is owed: it shows as a receivable in dunning, and the hold is let go.
    h.wait_balance("accounts_receivable_dunning", dec("20.00"))
        .await;
    let balances = h.wait_balance("payment_holds", dec("0")).await;
    assert_eq!(balances["accounts_receivable"], dec("-20.00"));
    assert_eq!(h.sandbox_holds().await[0].3, "canceled");
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_problem_and_change_nothing() {
    let h = Harness::start().await;
    let mut client = h.payments.clone();
    let (id, session) = authorized(&h, "careful", "tok_sandbox_ok", "50.00").await;

    let refused = |r: Result<tonic::Response<v1::PaymentIntent>, tonic::Status>| r.unwrap_err();
    let e = refused(client.capture_payment(capture(&id, "-1.00", "bad1")).await);
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "amount: must not be negative")
    );
    let e = refused(client.capture_payment(capture(&id, "1.001", "bad2")).await);
    assert!(
        e.message()
            .starts_with("amount: must be in whole minor units")
    );
    let mut usd = capture(&id, "1.00", "bad3");
    usd.currency = "USD".into();
    let e = refused(client.capture_payment(usd).await);
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("currency:"), "{}", e.message());
    let e = client
        .save_payment_method(v1::SavePaymentMethodRequest {
            idempotency_key: "bad4".into(),
            account_id: h.open_account("x", "EUR").await.to_string(),
            provider: "sandbox".into(),
            provider_token: "tok_sandbox_nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message().starts_with("provider_token:"),
        "{}",
        e.message()
    );
    let e = client
        .top_up_wallet(v1::TopUpWalletRequest {
            idempotency_key: "bad5".into(),
            wallet_id: uuid::Uuid::new_v4().to_string(),
            amount: "5".into(),
            reference: "r".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Capture, then refunds: never above what was captured.
    client
        .capture_payment(capture(&id, "10.00", "cap"))
        .await
        .unwrap();
    let refund = |amount: &str, key: &str| v1::RefundPaymentRequest {
        idempotency_key: key.into(),
        intent_id: id.clone(),
        amount: amount.into(),
        reason: "requested_by_customer".into(),
        ..Default::default()
    };
    let e = client
        .refund_payment(refund("10.01", "r0"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("amount: 10.01 is more than the 10.00"),
        "{}",
        e.message()
    );
    let e = client.refund_payment(refund("0", "r00")).await.unwrap_err();
    assert_eq!(e.message(), "amount: must be greater than zero");

    // Same key, same request: the same answer, one refund. Same key, other request: 409.
    let first = client
        .refund_payment(refund("4.00", "r1"))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .refund_payment(refund("4.00", "r1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.refund, again.refund);
    assert_eq!(first.refund.as_ref().unwrap().status, "succeeded");
    let e = client
        .refund_payment(refund("5.00", "r1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let rest = client
        .refund_payment(refund("6.00", "r2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.intent.unwrap().status, "refunded");
    let e = client
        .refund_payment(refund("0.01", "r3"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);

    // A voided intent cannot be captured.
    let (voided, _) = authorized(&h, "voided", "tok_sandbox_ok", "30.00").await;
    let v = client
        .void_payment(v1::VoidPaymentRequest {
            idempotency_key: "v".into(),
            intent_id: voided.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.status, "voided");
    let e = refused(client.capture_payment(capture(&voided, "5.00", "cv")).await);
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("voided"));

    let payment = h.wait_payment(session, |p| p.status == "refunded").await;
    assert_eq!(
        (
            payment.amount_captured.as_str(),
            payment.amount_refunded.as_str()
        ),
        ("10.00", "10.00")
    );
    let balances = h.wait_balance("refunds", dec("10.00")).await;
    assert_eq!(balances["cash_clearing"], dec("0.00"));
    let (_, tb) = h.balances().await;
    assert_eq!(tb.total_debit, tb.total_credit);
}

#[tokio::test]
async fn a_prepaid_wallet_is_topped_up_held_captured_and_keeps_its_history() {
    let h = Harness::start().await;
    let mut client = h.payments.clone();
    let account = h.open_account("prepaid", "EUR").await;
    let wallet = client
        .create_wallet(v1::CreateWalletRequest {
            idempotency_key: "w".into(),
            account_id: account.to_string(),
            currency: "EUR".into(),
            make_default: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let top_up = |key: &str, amount: &str| v1::TopUpWalletRequest {
        idempotency_key: key.into(),
        wallet_id: wallet.id.clone(),
        amount: amount.into(),
        reference: "bank transfer 42".into(),
        ..Default::default()
    };
    client.top_up_wallet(top_up("t1", "30.00")).await.unwrap();
    let again = client
        .top_up_wallet(top_up("t1", "30.00"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.balance, "30.00", "the same top-up counts once");

    // The default 50.00 hold does not fit: declined for insufficient funds.
    let session = SessionId::derived("default/W-1/1");
    h.session_started(session, account).await;
    let failed = h.wait_payment(session, |p| p.status == "failed").await;
    assert_eq!(
        (failed.kind.as_str(), failed.failure_code.as_str()),
        ("wallet", "insufficient_funds")
    );

    // A smaller hold fits and is captured at the priced amount.
    let session = SessionId::derived("default/W-1/2");
    let answer = client
        .authorize_session_payment(v1::AuthorizeSessionPaymentRequest {
            idempotency_key: "a2".into(),
            session_id: session.to_string(),
            account_id: account.to_string(),
            currency: "EUR".into(),
            amount: "20.00".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.decision, "approved");
    let held = client
        .get_wallet(v1::GetWalletRequest {
            wallet_id: wallet.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            held.balance.as_str(),
            held.held.as_str(),
            held.available.as_str()
        ),
        ("30.00", "20.00", "10.00")
    );
    h.session_priced(session, account, "10.00", "0.37").await; // 11.90 + 0.44 = 12.34
    h.wait_payment(session, |p| p.status == "captured").await;
    let after = client
        .get_wallet(v1::GetWalletRequest {
            wallet_id: wallet.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (after.balance.as_str(), after.held.as_str()),
        ("17.66", "0.00")
    );
    let history = eventually("the wallet history", || async {
        let t = h
            .payments
            .clone()
            .list_wallet_transactions(v1::ListWalletTransactionsRequest {
                wallet_id: wallet.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .transactions;
        (t.len() == 3).then_some(t)
    })
    .await;
    let kinds: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|t| (t.r#type.as_str(), t.amount.as_str(), t.balance.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("top_up", "30.00", "30.00"),
            ("hold", "20.00", "30.00"),
            ("capture", "12.34", "17.66")
        ]
    );

    let balances = h.wait_balance("wallet_liability", dec("-17.66")).await;
    assert_eq!(balances["bank"], dec("30.00"));
    assert_eq!(balances["accounts_receivable"], dec("-12.34"));
}

#[tokio::test]
async fn a_settlement_report_records_fees_and_payouts_once() {
    let h = Harness::start().await;
    let report = "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,payment_intent_id,automatic_payout_id\n\
txn_1,2026-11-02 08:00:00,eur,23.80,0.58,23.22,charge,,po_1\n\
txn_2,2026-11-03 00:00:00,eur,-23.22,0.00,-23.22,payout,,po_1\n";
    let import = |key: &str| v1::ImportSettlementReportRequest {
        idempotency_key: key.into(),
        provider: "stripe".into(),
        format: "csv".into(),
        content: report.into(),
        ..Default::default()
    };
    let mut client = h.payments.clone();
    let first = client
        .import_settlement_report(import("s1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            first.lines,
            first.lines_new,
            first.fees.as_str(),
            first.payouts.as_str()
        ),
        (2, 2, "0.58", "23.22")
    );
    let overlap = client
        .import_settlement_report(import("s2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (overlap.lines, overlap.lines_new),
        (2, 0),
        "a transaction is recorded once"
    );
    let balances = h.wait_balance("bank", dec("23.22")).await;
    assert_eq!(balances["processor_fees"], dec("0.58"));
    let e = client
        .import_settlement_report(v1::ImportSettlementReportRequest {
            content: report.replace("0.58,23.22", "0.58,23.20"),
            ..import("s3")
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("lines[0].net"), "{}", e.message());
    assert_eq!(
        h.payment_events("joule.v1.SettlementLineRecorded")
            .await
            .len(),
        2
    );
}
