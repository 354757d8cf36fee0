//! The request limits (`joule_domain::limits`, ADR 024) at the REST edge: each out-of-range value is
//! a 422 problem+json whose `errors` name the field, whether the api refuses it itself (quotes,
//! re-ratings) or the service behind it does (CDRs, amounts, settlement reports).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;
use crate::tariffs::ocpi_tariff;

fn century_cdr() -> Value {
    json!({
        "id": "CDR-CENTURY", "currency": "EUR",
        "start_date_time": "1925-01-01T00:00:00Z",
        "end_date_time": "2025-01-01T00:00:00Z",
        "charging_periods": [{
            "start_date_time": "1925-01-01T00:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 30}, {"type": "TIME", "volume": 1}]
        }]
    })
}

#[tokio::test]
async fn quotes_cdrs_and_reratings_outside_the_limits_are_422_naming_the_field() {
    let app = App::spawn_with_pricing().await;
    let tariff = app.create("/v1/tariffs", &ocpi_tariff()).await;
    let quote = format!("/v1/tariffs/{}/quote", tariff["id"].as_str().unwrap());

    // A century of charging at 0.001 kW.
    for (body, field) in [
        (
            json!({"energy_kwh": "876", "power_kw": "0.001"}),
            "energy_kwh",
        ),
        (
            json!({"energy_kwh": "100001", "power_kw": "350"}),
            "energy_kwh",
        ),
        (json!({"energy_kwh": "30", "power_kw": "10001"}), "power_kw"),
        (
            json!({"energy_kwh": "30", "power_kw": "50", "parking_minutes": 44641}),
            "parking_minutes",
        ),
    ] {
        let reply = app.post(&quote, &body).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{body}"
        );
    }
    let priced = app
        .post(&quote, &json!({"energy_kwh": "30", "power_kw": "50"}))
        .await;
    assert_eq!(priced.status, StatusCode::OK, "{}", priced.body);

    // An inline-tariff CDR over a century: refused by pricing, the field named in the problem.
    let reply = app
        .post(
            "/v1/pricing/cdrs",
            &json!({"tariff": ocpi_tariff(), "cdr": century_cdr()}),
        )
        .await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["cdr.end_date_time"]
    );

    let ids: Vec<String> = (0..1_001)
        .map(|i| joule_domain::SessionId::derived(&format!("limits/{i}")).to_string())
        .collect();
    let reply = app
        .post(
            "/v1/pricing/reratings",
            &json!({"session_ids": ids, "reason": "limits"}),
        )
        .await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["session_ids"]
    );
    let one = joule_domain::SessionId::derived("limits/one").to_string();
    let reply = app
        .post(
            "/v1/pricing/reratings",
            &json!({"session_ids": [one], "corrected_energy_wh": "100000001", "reason": "limits"}),
        )
        .await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["corrected_energy_wh"]
    );
}

#[tokio::test]
async fn amounts_and_settlement_reports_outside_the_limits_are_422_naming_the_field() {
    let app = App::spawn_with_pricing_and_payments().await;
    let account = app.create_account().await;
    let wallet = app
        .post_idempotent(
            "/v1/wallets",
            "wallet",
            &json!({"account_id": account["id"], "currency": "EUR"}),
        )
        .await;
    assert_eq!(wallet.status, StatusCode::CREATED, "{}", wallet.body);
    let top_up = format!(
        "/v1/wallets/{}/top_ups",
        wallet.body["id"].as_str().unwrap()
    );
    let reply = app
        .post_idempotent(
            &top_up,
            "too-much",
            &json!({"amount": "1000000.01", "reference": "bank transfer"}),
        )
        .await;
    assert_eq!(reply.problem(StatusCode::UNPROCESSABLE_ENTITY), ["amount"]);
    let reply = app
        .post_idempotent(
            &top_up,
            "far-too-much",
            &json!({"amount": 1e300, "reference": "bank transfer"}),
        )
        .await;
    assert_eq!(reply.problem(StatusCode::UNPROCESSABLE_ENTITY), ["amount"]);

    let mut content = String::from(
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category\n",
    );
    for i in 0..10_001 {
        content.push_str(&format!(
            "txn_{i},2026-11-02 08:00:00,eur,1.00,0.10,0.90,charge\n"
        ));
    }
    let reply = app
        .post_idempotent(
            "/v1/settlements",
            "settlement",
            &json!({"provider": "stripe", "format": "csv", "content": content}),
        )
        .await;
    assert_eq!(reply.problem(StatusCode::UNPROCESSABLE_ENTITY), ["content"]);
}
