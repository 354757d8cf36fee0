//! Every write checks the records its body refers to (issue 14): an unknown account, site or
//! charger is a 422 naming the field, and nothing is written.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::App;
use crate::tariffs::ocpi_tariff;

#[tokio::test]
async fn payment_methods_and_wallets_need_an_account_of_the_tenant() {
    let app = App::spawn_with_pricing_and_payments().await;
    let unknown = uuid::Uuid::new_v4();
    let card =
        json!({"account_id": unknown, "provider": "sandbox", "provider_token": "tok_sandbox_ok"});
    let reply = app
        .post_idempotent("/v1/payment_methods", "card", &card)
        .await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["account_id"]
    );
    let reply = app
        .post_idempotent(
            "/v1/payment_methods",
            "card-2",
            &json!({"account_id": "nope", "provider": "sandbox", "provider_token": "tok_sandbox_ok"}),
        )
        .await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["account_id"]
    );
    let reply = app
        .post_idempotent(
            "/v1/wallets",
            "wallet",
            &json!({"account_id": unknown, "currency": "EUR"}),
        )
        .await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["account_id"]
    );

    // A wallet holds the account's currency only.
    let account = app.create_account().await;
    let reply = app
        .post_idempotent(
            "/v1/wallets",
            "usd-wallet",
            &json!({"account_id": account["id"], "currency": "USD"}),
        )
        .await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["currency"]
    );
    let wallet = app
        .post_idempotent(
            "/v1/wallets",
            "eur-wallet",
            &json!({"account_id": account["id"], "currency": "EUR"}),
        )
        .await;
    assert_eq!(wallet.status, StatusCode::CREATED, "{}", wallet.body);
    assert_eq!(wallet.body["currency"], "EUR");
    let method = app
        .post_idempotent(
            "/v1/payment_methods",
            "card-3",
            &json!({"account_id": account["id"], "provider": "sandbox", "provider_token": "tok_sandbox_ok"}),
        )
        .await;
    assert_eq!(method.status, StatusCode::CREATED, "{}", method.body);
}

#[tokio::test]
async fn a_tariff_is_assigned_only_to_a_site_or_charger_of_the_tenant() {
    let app = App::spawn_with_pricing().await;
    let tariff = app.create("/v1/tariffs", &ocpi_tariff()).await;
    let assign = format!("/v1/tariffs/{}/assignments", tariff["id"].as_str().unwrap());
    let unknown = uuid::Uuid::new_v4();
    for body in [
        json!({"scope": "charger", "scope_id": unknown}),
        json!({"scope": "connector", "scope_id": unknown, "connector_id": 1}),
        json!({"scope": "site", "scope_id": unknown}),
        json!({"scope": "charger", "scope_id": "CP-1"}),
    ] {
        let reply = app.post(&assign, &body).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            ["scope_id"],
            "{body}"
        );
    }

    let site = app.create_site().await;
    let charger = app
        .create(
            "/v1/chargers",
            &json!({"charge_point_id": "CP-1", "site_id": site["id"], "tariff_id": tariff["id"]}),
        )
        .await;
    for body in [
        json!({"scope": "charger", "scope_id": charger["id"]}),
        json!({"scope": "connector", "scope_id": charger["id"], "connector_id": 2}),
        json!({"scope": "site", "scope_id": site["id"]}),
    ] {
        let reply = app.post(&assign, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "{body}: {}",
            reply.body
        );
    }
}
