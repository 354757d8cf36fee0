//! Card payments of real OCPP sessions, end to end: the Python `ocpp` charger charges on a token whose
//! account has a default card; payments holds at the session's start, captures the receipt's gross
//! after pricing, and the ledger balances with the invoice's receivable cleared by the capture.
//! Once with the sandbox provider, once through the Stripe adapter against localstripe (started by
//! `scripts/localstripe.sh`). And once from a prepaid wallet topped up by bank transfer.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use joule_e2e::{
    ADMIN_TOKEN, Api, CHARGE, Fixture, Joule, init_tracing, python_charge_point, register,
    wait_until_charger_known,
};
use serde_json::{Value, json};

async fn post_with_key(api: &Api, path: &str, key: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", api.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "POST {path}: {status}: {body}");
    body
}

/// One session of 12.5 kWh in 45 minutes, then its payment once captured and the session.
async fn charge(api: &Api, ocpp: &str, fx: &Fixture) -> (Value, Value) {
    let out = python_charge_point(&fx.charge(ocpp, CHARGE, &[]))
        .await
        .unwrap();
    assert_eq!(out["start_status"], "Accepted", "{out}");
    let sessions = api
        .wait_for(&format!("/v1/sessions?charger_id={}", fx.charger_id), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1 && d[0]["invoice_id"].is_string())
        })
        .await
        .unwrap();
    let session = sessions["data"][0].clone();
    let payments = api
        .wait_for(
            &format!(
                "/v1/payments?session_id={}",
                session["id"].as_str().unwrap()
            ),
            |v| {
                v["data"]
                    .as_array()
                    .is_some_and(|d| d.len() == 1 && d[0]["status"] == "captured")
            },
        )
        .await
        .unwrap();
    (payments["data"][0].clone(), session)
}

async fn balanced_with_receivable_cleared(api: &Api, captured: &str) -> Value {
    let tb = api
        .wait_for("/v1/ledger/trial-balance", |tb| {
            let row = |name: &str| {
                tb["accounts"]
                    .as_array()
                    .and_then(|a| a.iter().find(|r| r["account"] == name))
                    .and_then(|r| r["balance"].as_str())
                    .map(str::to_owned)
            };
            row("cash_clearing").as_deref() == Some(captured)
                && row("accounts_receivable").as_deref() == Some("0.00")
        })
        .await
        .unwrap();
    assert_eq!(tb["total_debit"], tb["total_credit"]);
    tb
}

#[tokio::test]
async fn an_ocpp_session_on_a_sandbox_card_is_held_at_start_and_captured_after_pricing() {
    init_tracing();
    let j = Joule::spawn().await;
    let fx = register(&j.api, "pay-sandbox").await.unwrap();
    let method = post_with_key(
        &j.api,
        "/v1/payment_methods",
        "save-card",
        json!({"account_id": fx.account_id, "provider": "sandbox", "provider_token": "tok_sandbox_ok", "make_default": true}),
    )
    .await;
    assert_eq!(
        (method["last4"].as_str(), method["is_default"].as_bool()),
        (Some("4242"), Some(true))
    );
    wait_until_charger_known(&j.ocpp, &fx.charge_point_id)
        .await
        .unwrap();

    let (payment, session) = charge(&j.api, &j.ocpp, &fx).await;
    // The hold came first (50.00), then the capture of the receipt's gross, the rest released.
    assert_eq!(payment["amount_authorized"], "50.00");
    let invoice = j
        .api
        .get(&format!(
            "/v1/invoices/{}",
            session["invoice_id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(invoice["total_incl_vat"], "7.62");
    assert_eq!(payment["amount_captured"], invoice["total_incl_vat"]);
    let kinds: Vec<&str> = payment["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "IntentOpened",
            "AuthorizationRequested",
            "PaymentAuthorized",
            "CaptureRequested",
            "PaymentCaptured"
        ]
    );
    balanced_with_receivable_cleared(&j.api, "7.62").await;

    // A refund through the REST API, with its idempotency key: twice the same, once only.
    let path = format!("/v1/payments/{}/refunds", payment["id"].as_str().unwrap());
    let first = post_with_key(
        &j.api,
        &path,
        "refund-1",
        json!({"amount": "2.00", "reason": "slow charger"}),
    )
    .await;
    let again = post_with_key(
        &j.api,
        &path,
        "refund-1",
        json!({"amount": "2.00", "reason": "slow charger"}),
    )
    .await;
    assert_eq!(first["refund"], again["refund"]);
    assert_eq!(first["payment"]["status"], "partially_refunded");
    let conflict = reqwest::Client::new()
        .post(format!("{}{path}", j.api.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", "refund-1")
        .json(&json!({"amount": "3.00", "reason": "slow charger"}))
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 409);
    let too_much = reqwest::Client::new()
        .post(format!("{}{path}", j.api.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", "refund-2")
        .json(&json!({"amount": "6.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_much.status(), 422);
    assert_eq!(
        too_much.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = too_much.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "amount", "{problem}");
    j.running.stop().await.unwrap();
}

struct LocalStripe(Child, u16);

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn localstripe() -> LocalStripe {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/localstripe.sh");
    let child = Command::new("bash")
        .arg(script)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("scripts/localstripe.sh");
    // Owned at once, so that it is killed and reaped whatever happens next.
    let stripe = LocalStripe(child, port);
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return stripe;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("localstripe did not start (scripts/localstripe.sh)")
}

#[tokio::test]
async fn an_ocpp_session_is_paid_through_the_stripe_adapter_against_localstripe() {
    init_tracing();
    let stripe = localstripe().await;
    let base = format!("http://127.0.0.1:{}", stripe.1);
    let j = Joule::spawn_with(|s| {
        s.payments_stripe_api_base = base.clone();
        s.payments_stripe_secret_key = "sk_test_e2e".into();
    })
    .await;
    let fx = register(&j.api, "pay-stripe").await.unwrap();

    // The driver's app created this PaymentMethod with Stripe.js; Joule only ever sees its id.
    let pm: Value = reqwest::Client::new()
        .post(format!("{base}/v1/payment_methods"))
        .bearer_auth("sk_test_e2e")
        .form(&[
            ("type", "card"),
            ("card[number]", "4242424242424242"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2031"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    post_with_key(
        &j.api,
        "/v1/payment_methods",
        "save-stripe-card",
        json!({"account_id": fx.account_id, "provider": "stripe", "provider_token": pm["id"], "make_default": true}),
    )
    .await;
    wait_until_charger_known(&j.ocpp, &fx.charge_point_id)
        .await
        .unwrap();

    let (payment, _) = charge(&j.api, &j.ocpp, &fx).await;
    assert_eq!(
        (
            payment["provider"].as_str(),
            payment["amount_captured"].as_str()
        ),
        (Some("stripe"), Some("7.62"))
    );
    let reference = payment["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "PaymentAuthorized")
        .and_then(|e| e["detail"].as_str())
        .unwrap()
        .to_owned();
    let pi: Value = reqwest::Client::new()
        .get(format!("{base}/v1/payment_intents/{reference}"))
        .bearer_auth("sk_test_e2e")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount"], 5000, "the hold");
    assert_eq!(pi["latest_charge"]["captured"], true);
    balanced_with_receivable_cleared(&j.api, "7.62").await;
    j.running.stop().await.unwrap();
}

#[tokio::test]
async fn an_ocpp_session_paid_from_a_prepaid_wallet_is_held_and_captured_from_its_balance() {
    init_tracing();
    let j = Joule::spawn().await;
    let fx = register(&j.api, "pay-wallet").await.unwrap();
    let wallet = post_with_key(
        &j.api,
        "/v1/wallets",
        "wallet-1",
        json!({"account_id": fx.account_id, "currency": "EUR", "make_default": true}),
    )
    .await;
    let wallet_id = wallet["id"].as_str().unwrap().to_owned();
    post_with_key(
        &j.api,
        &format!("/v1/wallets/{wallet_id}/top_ups"),
        "top-up-1",
        json!({"amount": "60.00", "reference": "bank transfer 0001"}),
    )
    .await;
    wait_until_charger_known(&j.ocpp, &fx.charge_point_id)
        .await
        .unwrap();

    let (payment, session) = charge(&j.api, &j.ocpp, &fx).await;
    assert_eq!(payment["provider"], "wallet", "{payment}");
    assert_eq!(payment["amount_authorized"], "50.00");
    let invoice = j
        .api
        .get(&format!(
            "/v1/invoices/{}",
            session["invoice_id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(invoice["total_incl_vat"], "7.62");
    assert_eq!(payment["amount_captured"], "7.62");

    // The balance paid the receipt; nothing stays held.
    let wallet = j
        .api
        .wait_for(&format!("/v1/wallets/{wallet_id}"), |w| {
            w["balance"] == "52.38" && w["available"] == "52.38"
        })
        .await
        .unwrap();
    assert_eq!(
        wallet["held"]
            .as_str()
            .map(|h| h.trim_end_matches(['0', '.'])),
        Some("")
    );
    let history = j
        .api
        .get(&format!("/v1/wallets/{wallet_id}/transactions"))
        .await
        .unwrap();
    let kinds: Vec<&str> = history["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"))
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(&kinds[..3], ["top_up", "hold", "capture"], "{history}");

    // Ledger: the bank holds the top-up, the wallet owes the rest to the driver, the receipt's
    // receivable is cleared by the capture, and the books balance.
    let tb = j
        .api
        .wait_for("/v1/ledger/trial-balance", |tb| {
            let row = |name: &str| {
                tb["accounts"]
                    .as_array()
                    .and_then(|a| a.iter().find(|r| r["account"] == name))
                    .and_then(|r| r["balance"].as_str())
                    .map(str::to_owned)
            };
            row("accounts_receivable").as_deref() == Some("0.00")
                && row("bank").as_deref() == Some("60.00")
                && row("wallet_liability").as_deref() == Some("-52.38")
        })
        .await
        .unwrap();
    assert_eq!(tb["total_debit"], tb["total_credit"]);
    j.running.stop().await.unwrap();
}
