//! A long DC session whose hold is extended twice and then captured, end to end: a simulated OCPP 1.6
//! charger (joule-sim) charges on a token whose account has a sandbox card; every MeterValues makes
//! pricing publish the running cost (`SessionCostUpdated`); payments raises the hold each time the cost
//! nears it; the stop is priced, invoiced, and payments captures exactly the invoice's gross; the ledger
//! balances with the receivable cleared.

use chrono::{Duration, Utc};
use joule_e2e::{ADMIN_TOKEN, Api, Joule, init_tracing, register, wait_until_charger_known};
use serde_json::{Value, json};

/// The session's one payment, once `done` holds.
async fn payment_of(api: &Api, account_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let list = api
        .wait_for(&format!("/v1/payments?account_id={account_id}"), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1 && done(&d[0]))
        })
        .await
        .unwrap();
    list["data"][0].clone()
}

async fn meter(charger: &mut joule_sim::Charger, tx: i64, at: chrono::DateTime<Utc>, wh: u64) {
    charger
        .call(
            "MeterValues",
            json!({"connectorId": 1, "transactionId": tx, "meterValue": [{
                "timestamp": at.to_rfc3339(),
                "sampledValue": [{"value": wh.to_string(), "measurand": "Energy.Active.Import.Register",
                                  "unit": "Wh", "context": "Sample.Periodic"}]
            }]}),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_long_dc_session_whose_hold_is_extended_twice_and_then_captured() {
    init_tracing();
    let j = Joule::spawn().await;
    let fx = register(&j.api, "pay-live").await.unwrap();
    let saved = reqwest::Client::new()
        .post(format!("{}/v1/payment_methods", j.api.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", "save-card-live")
        .json(&json!({"account_id": fx.account_id, "provider": "sandbox",
                      "provider_token": "tok_sandbox_ok", "make_default": true}))
        .send()
        .await
        .unwrap();
    assert!(saved.status().is_success());
    wait_until_charger_known(&j.ocpp, &fx.charge_point_id)
        .await
        .unwrap();

    let mut charger = joule_sim::Charger::connect(&j.ocpp, &fx.charge_point_id)
        .await
        .unwrap();
    charger.boot().await.unwrap();
    let auth = charger
        .call("Authorize", json!({"idTag": fx.token_uid}))
        .await
        .unwrap();
    assert_eq!(auth["idTagInfo"]["status"], "Accepted");
    // An hour of DC charging at 200 kW, reported as it happened (timestamps in the past).
    let start = Utc::now() - Duration::minutes(60);
    let started = charger
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": fx.token_uid, "meterStart": 0, "timestamp": start.to_rfc3339()}),
        )
        .await
        .unwrap();
    assert_eq!(started["idTagInfo"]["status"], "Accepted");
    let tx = started["transactionId"].as_i64().unwrap();
    let held = payment_of(&j.api, &fx.account_id, |p| p["status"] == "authorized").await;
    assert_eq!(
        held["amount_authorized"], "50.00",
        "the operator's EUR hold"
    );

    // E2E tariff: 0.50 flat + 0.40/kWh + 1.20/h, 19 % VAT. 90 kWh after 20 min: 36.90 net, about
    // 43.91 gross, over 80 % of 50: the hold goes to max(65.87 -> 70, 50 + 50) = 100.
    meter(&mut charger, tx, start + Duration::minutes(20), 90_000).await;
    payment_of(&j.api, &fx.account_id, |p| {
        p["amount_authorized"] == "100.00"
    })
    .await;
    // 180 kWh after 40 min: 73.30 net, about 87.23 gross, over 80 of 100: max(130.85 -> 140, 150).
    meter(&mut charger, tx, start + Duration::minutes(40), 180_000).await;
    payment_of(&j.api, &fx.account_id, |p| {
        p["amount_authorized"] == "150.00"
    })
    .await;

    let stop = start + Duration::minutes(60);
    charger
        .call(
            "StopTransaction",
            json!({"transactionId": tx, "idTag": fx.token_uid, "meterStop": 200_000,
                   "timestamp": stop.to_rfc3339(), "reason": "Local"}),
        )
        .await
        .unwrap();
    let payment = payment_of(&j.api, &fx.account_id, |p| p["status"] == "captured").await;
    let sessions = j
        .api
        .wait_for(&format!("/v1/sessions?charger_id={}", fx.charger_id), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1 && d[0]["invoice_id"].is_string())
        })
        .await
        .unwrap();
    let invoice = j
        .api
        .get(&format!(
            "/v1/invoices/{}",
            sessions["data"][0]["invoice_id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    // 200 kWh, 1 h: 0.50 + 80.00 + 1.20 net, each line with 19 % VAT: 0.60 + 95.20 + 1.43 = 97.23.
    assert_eq!(invoice["total_incl_vat"], "97.23");
    assert_eq!(payment["amount_captured"], invoice["total_incl_vat"]);
    assert_eq!(payment["amount_authorized"], "150.00");
    let kinds: Vec<&str> = payment["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "HoldExtended").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"PaymentCaptured"));

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
            row("cash_clearing").as_deref() == Some("97.23")
                && row("accounts_receivable").as_deref() == Some("0.00")
        })
        .await
        .unwrap();
    assert_eq!(tb["total_debit"], tb["total_credit"]);
    charger.close().await.unwrap();
    j.running.stop().await.unwrap();
}
