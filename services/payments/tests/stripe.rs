//! The Stripe adapter against localstripe (PyPI), a stateful Stripe emulator we did not write, started
//! by `scripts/localstripe.sh` (which installs it into `.venv`; `make test` runs it first).
//!
//! What localstripe lacks is covered elsewhere, against Stripe's documented wire format: incremental
//! authorisation and the charge's incremental-authorisation details (`provider::stripe` unit tests;
//! here extensions take a second PaymentIntent, as they do on cards without it), idempotency keys (the
//! adapter sends them; the sandbox provider honours them in the kill test), and the webhook events it
//! never sends (`webhooks` unit tests). Webhook signatures are real here: localstripe signs its
//! `payment_intent.succeeded` events with the endpoint secret, and the service verifies them.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use joule_domain::SessionId;
use joule_proto::v1;
use serde_json::Value;
use support::{Harness, dec, eventually};

const SECRET_KEY: &str = "sk_test_joule";
const WEBHOOK_SECRET: &str = "whsec_joule_test";

struct LocalStripe {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl LocalStripe {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/localstripe.sh");
        let child = Command::new("bash")
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run scripts/localstripe.sh");
        let stripe = LocalStripe {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        eventually(
            "localstripe listening (scripts/localstripe.sh installs it)",
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
            },
        )
        .await;
        stripe
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(SECRET_KEY)
            .form(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(SECRET_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A PaymentMethod as Stripe.js would create it in the driver's browser.
    async fn card(&self, number: &str) -> String {
        let pm = self
            .post(
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2030"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        pm["id"].as_str().expect("a PaymentMethod id").to_owned()
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn save_stripe(h: &Harness, name: &str, pm: &str) -> joule_domain::AccountId {
    let account = h.open_account(name, "EUR").await;
    let method = h
        .payments
        .clone()
        .save_payment_method(v1::SavePaymentMethodRequest {
            idempotency_key: format!("save/{name}"),
            account_id: account.to_string(),
            provider: "stripe".into(),
            provider_token: pm.into(),
            make_default: true,
            ..Default::default()
        })
        .await
        .expect("save the Stripe card")
        .into_inner();
    assert_eq!(
        (method.provider.as_str(), method.last4.len()),
        ("stripe", 4)
    );
    account
}

async fn authorize(
    h: &Harness,
    account: joule_domain::AccountId,
    n: u32,
) -> v1::AuthorizeSessionPaymentResponse {
    let session = SessionId::derived(&format!("default/STRIPE/{account}/{n}"));
    h.payments
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
        .into_inner()
}

fn references(p: &v1::PaymentIntent) -> Vec<String> {
    p.events
        .iter()
        .filter(|e| e.r#type == "PaymentAuthorized" || e.r#type == "HoldExtended")
        .map(|e| e.detail.clone())
        .collect()
}

#[tokio::test]
async fn the_stripe_adapter_holds_extends_captures_refunds_and_verifies_webhooks_against_localstripe()
 {
    let stripe = LocalStripe::start().await;
    let base = stripe.base.clone();
    let h = Harness::start_with(|s| {
        s.payments_stripe_api_base = base;
        s.payments_stripe_secret_key = SECRET_KEY.into();
        s.payments_stripe_webhook_secret = WEBHOOK_SECRET.into();
        s.payments_webhook_addr = "127.0.0.1:0".into();
    })
    .await;
    let webhooks = h
        .running
        .as_ref()
        .unwrap()
        .addr("payments-webhooks")
        .unwrap();
    let r = stripe
        .http
        .post(format!("{}/_config/webhooks/joule", stripe.base))
        .form(&[
            ("url", format!("http://{webhooks}/webhooks/stripe").as_str()),
            ("secret", WEBHOOK_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    // A card that charges: a manual-capture PaymentIntent holds the operator's 50.00.
    let account = save_stripe(&h, "stripe-driver", &stripe.card("4242424242424242").await).await;
    let answer = authorize(&h, account, 1).await;
    assert_eq!(answer.decision, "approved", "{answer:?}");
    let intent = answer.intent.unwrap();
    let session: SessionId = intent.session_id.parse().unwrap();
    let held = h.wait_payment(session, |p| p.status == "authorized").await;
    let first = references(&held)[0].clone();
    let pi = stripe.get(&format!("/v1/payment_intents/{first}")).await;
    assert_eq!(pi["status"], "requires_capture");
    assert_eq!(pi["amount"], 5000);
    assert_eq!(pi["capture_method"], "manual");
    assert_eq!(pi["metadata"]["joule_intent_id"], intent.id);

    // localstripe offers no incremental authorisation: the extension is a second PaymentIntent.
    let extended = h
        .payments
        .clone()
        .extend_hold(v1::ExtendHoldRequest {
            idempotency_key: "extend".into(),
            intent_id: intent.id.clone(),
            new_amount: "80.00".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (extended.extended, extended.mode.as_str()),
        (true, "second_hold")
    );

    // Priced at 60.00 gross: 50.00 from the first hold, 10.00 from the second, 20.00 released.
    h.session_priced(session, account, "50.42", "0").await; // 50.42 + 9.58 VAT = 60.00
    let captured = h.wait_payment(session, |p| p.status == "captured").await;
    assert_eq!(captured.amount_captured, "60.00");
    let refs = references(&captured);
    assert_eq!(refs.len(), 2);
    for reference in &refs {
        assert_eq!(
            stripe
                .get(&format!("/v1/payment_intents/{reference}"))
                .await["status"],
            "succeeded"
        );
    }

    // localstripe sends each capture as a signed `payment_intent.succeeded`; both verify, apply
    // (changing nothing: the capture is already recorded) and are remembered once.
    let seen: i64 = eventually("two verified webhooks", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM payments.webhook_events WHERE type = 'payment_intent.succeeded'",
        )
        .fetch_one(&h.pool)
        .await
        .unwrap();
        (n >= 2).then_some(n)
    })
    .await;
    assert_eq!(seen, 2);
    let forged = reqwest::Client::new()
        .post(format!("http://{webhooks}/webhooks/stripe"))
        .header("Stripe-Signature", "t=1,v1=00")
        .body(r#"{"id":"evt_forged","type":"payment_intent.canceled"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // A partial refund on the first PaymentIntent.
    let refund = h
        .payments
        .clone()
        .refund_payment(v1::RefundPaymentRequest {
            idempotency_key: "refund".into(),
            intent_id: intent.id.clone(),
            amount: "5.00".into(),
            reason: "requested_by_customer".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refund.refund.unwrap().status, "succeeded");
    let refunds = stripe
        .get(&format!("/v1/refunds?payment_intent={first}"))
        .await;
    assert!(
        refunds["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["amount"] == 500 && r["metadata"]["joule_refund_id"].is_string()),
        "{refunds}"
    );

    // Declined and authentication-required cards fail the hold with Stripe's code.
    let declined = save_stripe(
        &h,
        "stripe-declined",
        &stripe.card("4000000000000341").await,
    )
    .await;
    let answer = authorize(&h, declined, 1).await;
    assert_eq!(
        (answer.decision.as_str(), answer.failure_code.as_str()),
        ("declined", "card_declined")
    );
    let three_ds = save_stripe(&h, "stripe-3ds", &stripe.card("4000002760003184").await).await;
    let answer = authorize(&h, three_ds, 1).await;
    assert_eq!(
        (answer.decision.as_str(), answer.failure_code.as_str()),
        ("declined", "authentication_required")
    );

    // A token that is not a PaymentMethod is refused when saved.
    let e = h
        .payments
        .clone()
        .save_payment_method(v1::SavePaymentMethodRequest {
            idempotency_key: "bad".into(),
            account_id: account.to_string(),
            provider: "stripe".into(),
            provider_token: "pm_does_not_exist".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        e.message().starts_with("provider_token:"),
        "{}",
        e.message()
    );

    let balances = h.wait_balance("refunds", dec("5.00")).await;
    assert_eq!(balances["cash_clearing"], dec("55.00"));
    assert_eq!(balances["payment_holds"], dec("0"));
    let (_, tb) = h.balances().await;
    assert_eq!(tb.total_debit, tb.total_credit);
}

/// An extension to an amount no currency can hold, left pending by an earlier version (which let
/// `new_amount` through unbounded and then panicked in `to_minor`, in the request and again in every
/// sweep). The sweeper resumes it: the intent records the failed extension (`HoldExhausted`,
/// `amount_too_large`) without asking Stripe, and the service goes on serving.
#[tokio::test]
async fn the_sweeper_records_a_huge_pending_extension_as_failed_instead_of_panicking() {
    let stripe = LocalStripe::start().await;
    let base = stripe.base.clone();
    let h = Harness::start_with(|s| {
        s.payments_stripe_api_base = base;
        s.payments_stripe_secret_key = SECRET_KEY.into();
    })
    .await;
    let account = save_stripe(&h, "stripe-huge", &stripe.card("4242424242424242").await).await;
    let answer = authorize(&h, account, 1).await;
    assert_eq!(answer.decision, "approved", "{answer:?}");
    let intent = answer.intent.unwrap();
    let session: SessionId = intent.session_id.parse().unwrap();
    h.wait_payment(session, |p| p.status == "authorized").await;

    // The event the earlier version stored, after the intent's last one.
    sqlx::query(
        "INSERT INTO payments.events
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT aggregate_type, aggregate_id, sequence + 1, 'ExtensionRequested', '1.0',
                json_build_object('ExtensionRequested',
                    json_build_object('attempt', 1, 'new_total', '79228162514264337593543950335')),
                metadata
           FROM payments.events
          WHERE aggregate_type = 'PaymentIntent' AND aggregate_id = $1
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(&intent.id)
    .execute(&h.pool)
    .await
    .expect("store the pending extension");
    // Left pending long ago: the sweeper's next round takes it.
    eventually("the pending extension projected", || async {
        let done = sqlx::query(
            "UPDATE payments.intents SET updated_at = now() - interval '1 minute'
              WHERE id = $1::uuid AND pending_op = 'extend'",
        )
        .bind(&intent.id)
        .execute(&h.pool)
        .await
        .unwrap()
        .rows_affected();
        (done == 1).then_some(())
    })
    .await;

    let failed = h
        .wait_payment(session, |p| {
            p.events.iter().any(|e| e.r#type == "HoldExhausted")
        })
        .await;
    assert_eq!(failed.failure_code, "amount_too_large", "{failed:?}");
    assert_eq!(
        (failed.status.as_str(), failed.amount_authorized.as_str()),
        ("authorized", "50.00")
    );
    assert_eq!(
        references(&failed).len(),
        1,
        "Stripe was not asked for a second hold"
    );

    // The process is up and the sweeper's service still moves money: an ordinary extension.
    let extended = h
        .payments
        .clone()
        .extend_hold(v1::ExtendHoldRequest {
            idempotency_key: "extend-after".into(),
            intent_id: intent.id.clone(),
            new_amount: "80.00".into(),
            ..Default::default()
        })
        .await
        .expect("the service answers")
        .into_inner();
    assert!(extended.extended, "{extended:?}");
}
