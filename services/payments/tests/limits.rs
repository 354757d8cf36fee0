//! The request limits (`joule_domain::limits`, ADR 024) at payments' gRPC edge, against real
//! PostgreSQL and NATS: every amount above the currency's maximum and a settlement report with too
//! many lines or too large a line are `InvalidArgument` naming the field, and nothing is recorded.

mod support;

use joule_domain::SessionId;
use joule_proto::v1;
use support::Harness;
use tonic::Code;

/// Just above EUR's maximum of 1,000,000.00.
const TOO_MUCH: &str = "1000000.01";

fn assert_refused(e: &tonic::Status, field: &str) {
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .starts_with(&format!("{field}: must be at most")),
        "{field}: {}",
        e.message()
    );
}

#[tokio::test]
async fn amounts_above_the_currencys_maximum_are_refused_naming_the_field() {
    let h = Harness::start().await;
    let mut client = h.payments.clone();
    let account = h.open_account("limits", "EUR").await;
    h.save_card(account, "tok_sandbox_ok", true).await;

    let authorize = |amount: &str, n: u32| {
        let session = SessionId::derived(&format!("default/limits/{n}"));
        v1::AuthorizeSessionPaymentRequest {
            idempotency_key: format!("authorize/{session}"),
            session_id: session.to_string(),
            account_id: account.to_string(),
            currency: "EUR".into(),
            amount: amount.into(),
            ..Default::default()
        }
    };
    let e = client
        .authorize_session_payment(authorize(TOO_MUCH, 1))
        .await
        .unwrap_err();
    assert_refused(&e, "amount");
    let e = client
        .authorize_session_payment(authorize("79228162514264337593543950335", 2))
        .await
        .unwrap_err();
    assert_refused(&e, "amount");

    let held = client
        .authorize_session_payment(authorize("50.00", 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.decision, "approved");
    let id = held.intent.unwrap().id;

    let e = client
        .extend_hold(v1::ExtendHoldRequest {
            idempotency_key: "extend".into(),
            intent_id: id.clone(),
            new_amount: TOO_MUCH.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&e, "new_amount");
    let e = client
        .capture_payment(v1::CapturePaymentRequest {
            idempotency_key: "capture".into(),
            intent_id: id.clone(),
            amount: TOO_MUCH.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&e, "amount");
    let e = client
        .refund_payment(v1::RefundPaymentRequest {
            idempotency_key: "refund".into(),
            intent_id: id.clone(),
            amount: TOO_MUCH.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&e, "amount");
    // The hold is as it was: nothing above was recorded. (The read model follows the relay: wait
    // until it shows the authorisation.)
    // Until then a read is a NotFound (not yet in the read model) or still `pending`.
    let mut intent = v1::PaymentIntent::default();
    for _ in 0..100 {
        match client
            .get_payment(v1::GetPaymentRequest {
                intent_id: id.clone(),
                ..Default::default()
            })
            .await
        {
            Ok(answer) => intent = answer.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => panic!("GetPayment: {status}"),
        }
        if !intent.status.is_empty() && intent.status != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        (intent.status.as_str(), intent.amount_authorized.as_str()),
        ("authorized", "50.00")
    );

    let wallet = client
        .create_wallet(v1::CreateWalletRequest {
            idempotency_key: "wallet".into(),
            account_id: account.to_string(),
            currency: "EUR".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let e = client
        .top_up_wallet(v1::TopUpWalletRequest {
            idempotency_key: "top-up".into(),
            wallet_id: wallet.id.clone(),
            amount: TOO_MUCH.into(),
            reference: "bank transfer".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&e, "amount");
    // At the maximum: accepted.
    let topped = client
        .top_up_wallet(v1::TopUpWalletRequest {
            idempotency_key: "top-up-max".into(),
            wallet_id: wallet.id,
            amount: "1000000.00".into(),
            reference: "bank transfer".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(topped.balance, "1000000.00");
}

#[tokio::test]
async fn settlement_reports_have_bounded_lines_and_amounts() {
    let h = Harness::start().await;
    let mut client = h.payments.clone();
    let header = "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category\n";
    let import = |key: &str, content: String| v1::ImportSettlementReportRequest {
        idempotency_key: key.into(),
        provider: "stripe".into(),
        format: "csv".into(),
        content,
        ..Default::default()
    };

    let mut many = header.to_owned();
    for i in 0..10_001 {
        many.push_str(&format!(
            "txn_{i},2026-11-02 08:00:00,eur,1.00,0.10,0.90,charge\n"
        ));
    }
    let e = client
        .import_settlement_report(import("many", many))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("content: lines: must have at most 10000 items"),
        "{}",
        e.message()
    );

    let large = format!(
        "{header}txn_large,2026-11-02 08:00:00,eur,79228162514264337593543950335,0,79228162514264337593543950335,charge\n"
    );
    let e = client
        .import_settlement_report(import("large", large))
        .await
        .unwrap_err();
    assert_refused(&e, "lines[0].gross");
    assert!(
        h.payment_events("joule.v1.SettlementLineRecorded")
            .await
            .is_empty(),
        "a refused report records nothing"
    );
}
