//! `GET /v1/sessions/{id}/cost` (issue 14): the running estimate while a session runs, the final
//! price once it is priced, equal to what pricing priced and the receipt bills. A real OCPP 1.6
//! charger, and api, gateway, sessions, pricing and invoicing in one process.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::charge_point::ChargePoint;
use crate::helpers::App;

fn decimal(v: &Value) -> Decimal {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
}

/// What `path` answers once `ready` accepts it.
async fn once(app: &App, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let reply = app.get(path).await;
        if reply.status == StatusCode::OK && ready(&reply.body) {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never got there: {}", app.get(path).await.body);
}

#[tokio::test]
async fn the_cost_of_a_completed_session_is_its_final_price() {
    let app = App::spawn_adjusted(
        &[
            joule_api::SERVICE,
            joule_gateway::SERVICE,
            joule_sessions::SERVICE,
            joule_pricing::SERVICE,
            joule_invoicing::SERVICE,
        ],
        |_| {},
    )
    .await;
    let account = app.create_account().await;
    app.create(
        "/v1/tokens",
        &json!({"uid": "CARD-COST-1", "account_id": account["id"]}),
    )
    .await;
    let site = app.create_site().await;
    // 0.30 per kWh, 19 % VAT.
    let tariff = app
        .create("/v1/tariffs", &crate::tariffs::ocpi_tariff())
        .await;
    let charger = app
        .create(
            "/v1/chargers",
            &json!({"charge_point_id": "CP-COST-1", "site_id": site["id"], "tariff_id": tariff["id"]}),
        )
        .await;
    let ocpp = format!("ws://{}/ocpp", app.addr("ocpp"));
    let cp = ChargePoint::connect(&ocpp, "CP-COST-1", "Accepted").await;
    let now = || Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);

    let started = cp
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "CARD-COST-1", "meterStart": 0, "timestamp": now()}),
        )
        .await;
    assert_eq!(started["idTagInfo"]["status"], "Accepted", "{started}");
    let transaction = started["transactionId"].clone();
    cp.call(
        "MeterValues",
        json!({"connectorId": 1, "transactionId": transaction, "meterValue": [{
            "timestamp": now(),
            "sampledValue": [{"value": "5000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
        }]}),
    )
    .await;
    let sessions = format!(
        "/v1/sessions?charger_id={}",
        charger["id"].as_str().unwrap()
    );
    let session = once(&app, &sessions, |b| b["data"][0]["id"].is_string()).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cost = format!("/v1/sessions/{session}/cost");

    // Running: the estimate at the latest reading, 5 kWh.
    let running = once(&app, &cost, |b| b["energy_kwh"] == "5").await;
    assert_eq!(running["final"], false, "{running}");
    assert_eq!(decimal(&running["total_incl_vat"]), Decimal::new(1785, 3));

    let stopped = cp
        .call(
            "StopTransaction",
            json!({"transactionId": transaction, "meterStop": 20000, "timestamp": now(), "reason": "Local"}),
        )
        .await;
    assert!(stopped.is_object(), "{stopped}");
    let receipts = format!("/v1/invoices?session_id={session}");
    let receipt =
        once(&app, &receipts, |b| b["data"][0]["id"].is_string()).await["data"][0].clone();

    // Priced and billed: the cost is the final price, no longer the last estimate.
    let cost = app.get(&cost).await;
    assert_eq!(cost.status, StatusCode::OK, "{}", cost.body);
    let cost = cost.body;
    assert_eq!(cost["final"], true, "{cost}");
    assert_eq!(cost["energy_kwh"], "20", "{cost}");
    let priced = app
        .get(&format!("/v1/pricing/sessions/{session}"))
        .await
        .body;
    for total in ["total_excl_vat", "total_incl_vat"] {
        assert_eq!(
            decimal(&cost[total]),
            decimal(&priced[total]),
            "{total}: {priced}"
        );
        assert_eq!(
            decimal(&cost[total]),
            decimal(&receipt[total]),
            "{total}: {receipt}"
        );
    }
    // 20 kWh at 0.30 = 6.00, incl. 19 % VAT 7.14.
    assert_eq!(decimal(&cost["total_incl_vat"]), Decimal::new(714, 2));
    assert_eq!(cost["tariff_id"], tariff["id"]);
    assert!(cost["as_of"].is_string(), "the stop: {cost}");
    let lines: Decimal = cost["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| decimal(&l["amount_incl_vat"]))
        .sum();
    assert_eq!(lines, decimal(&cost["total_incl_vat"]), "{cost}");
}
