//! One error shape (issue 14): every 4xx is problem+json whose `errors` names the field, a body
//! that is not a JSON object is refused, a body too large says so, and a 404 reads "no <thing> with
//! id <id>".

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;
use crate::tariffs::ocpi_tariff;

#[tokio::test]
async fn only_a_json_object_is_a_body_and_no_rust_type_is_named() {
    let app = App::spawn().await;
    for body in [
        json!(["ArraySite", "DE", "Europe/Berlin"]),
        json!([]),
        json!(5),
    ] {
        let reply = app.post("/v1/sites", &body).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            ["body"],
            "{body}"
        );
        assert!(
            !reply.body.to_string().contains("NewSite"),
            "{}",
            reply.body
        );
    }
    let reply = app
        .post(
            "/v1/sites",
            &json!({"name": ["Depot"], "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(reply.problem(StatusCode::UNPROCESSABLE_ENTITY), ["name"]);
    assert_eq!(app.get("/v1/sites").await.body["data"], json!([]));
    assert_eq!(app.stored_events().await, 0);
}

#[tokio::test]
async fn a_body_too_large_is_413_saying_so() {
    let app = App::spawn_with_pricing().await;
    let name = "x".repeat(100 * 1024);
    let reply = app
        .post(
            "/v1/sites",
            &json!({"name": name, "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(
        reply.problem(StatusCode::PAYLOAD_TOO_LARGE),
        ["body"],
        "{}",
        reply.body
    );
    assert!(
        reply.body["detail"].as_str().unwrap().contains("too large"),
        "{}",
        reply.body
    );
    let mut tariff = ocpi_tariff();
    tariff["id"] = json!("x".repeat(3 * 1024 * 1024));
    let reply = app.post("/v1/tariffs", &tariff).await;
    assert_eq!(reply.problem(StatusCode::PAYLOAD_TOO_LARGE), ["body"]);
}

#[tokio::test]
async fn conflicts_and_tariff_refusals_name_the_field() {
    let app = App::spawn_with_pricing().await;
    let tariff = app.create("/v1/tariffs", &ocpi_tariff()).await;
    let id = tariff["id"].as_str().unwrap();
    let site = app.create_site().await;
    let charger = json!({"charge_point_id": "CP-1", "site_id": site["id"], "tariff_id": id});
    app.create("/v1/chargers", &charger).await;
    let again = app.post("/v1/chargers", &charger).await;
    assert_eq!(again.problem(StatusCode::CONFLICT), ["charge_point_id"]);
    let account = app.create_account().await;
    let token = json!({"uid": "CARD-1", "account_id": account["id"]});
    app.create("/v1/tokens", &token).await;
    let again = app.post("/v1/tokens", &token).await;
    assert_eq!(again.problem(StatusCode::CONFLICT), ["uid"]);

    // A second tariff with the same OCPI identity.
    let again = app.post("/v1/tariffs", &ocpi_tariff()).await;
    assert_eq!(again.problem(StatusCode::CONFLICT), ["id"]);
    // A version that does not start after the latest.
    let versions = |from: &str| format!("/v1/tariffs/{id}/versions?valid_from={from}");
    app.create(&versions("2030-01-01T00:00:00Z"), &ocpi_tariff())
        .await;
    let early = app
        .post(&versions("2029-01-01T00:00:00Z"), &ocpi_tariff())
        .await;
    assert_eq!(early.problem(StatusCode::CONFLICT), ["valid_from"]);
    // A quote the engine refuses names a field too.
    let quote = format!("/v1/tariffs/{id}/quote");
    let zone = app
        .post(
            &quote,
            &json!({"energy_kwh": "10", "power_kw": "11", "time_zone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(
        zone.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["time_zone"]
    );
    // A retired tariff takes no versions.
    let retired = app
        .client
        .delete(app.url(&format!("/v1/tariffs/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(retired.status(), StatusCode::NO_CONTENT);
    let late = app
        .post(&versions("2100-01-01T00:00:00Z"), &ocpi_tariff())
        .await;
    assert_eq!(late.problem(StatusCode::CONFLICT), ["tariff_id"]);
}

#[tokio::test]
async fn every_client_error_names_a_field_and_404s_read_alike() {
    let app = App::spawn_with_pricing_and_payments().await;
    let unknown = uuid::Uuid::new_v4();
    let detail = |reply: &crate::helpers::Reply| reply.body["detail"].clone();
    for (path, noun) in [
        (format!("/v1/sites/{unknown}"), "site"),
        (format!("/v1/tariffs/{unknown}"), "tariff"),
        (format!("/v1/wallets/{unknown}"), "wallet"),
        (format!("/v1/payments/{unknown}"), "payment"),
        ("/v1/sites/not-an-id".to_owned(), "site"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.problem(StatusCode::NOT_FOUND), ["id"], "{path}");
        let id = path.rsplit('/').next().unwrap();
        assert_eq!(
            detail(&reply),
            Value::from(format!("no {noun} with id {id}")),
            "{path}"
        );
    }
    let anonymous = app.get_as("not-a-token", "/v1/sites").await;
    assert_eq!(
        anonymous.problem(StatusCode::UNAUTHORIZED),
        ["Authorization"]
    );
    let malformed = app
        .post_raw("/v1/sites", "application/json", "{\"name\": ")
        .await;
    assert_eq!(malformed.problem(StatusCode::BAD_REQUEST), ["body"]);
    let text = app.post_raw("/v1/sites", "text/plain", "{}").await;
    assert_eq!(
        text.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ["Content-Type"]
    );
}
