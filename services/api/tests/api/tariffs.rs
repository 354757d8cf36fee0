//! Tariffs pass through to the pricing service.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;

pub fn ocpi_tariff() -> Value {
    json!({
        "country_code": "DE",
        "party_id": "JOU",
        "id": "AC-STANDARD",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 19.0, "step_size": 1}]}
        ],
        "last_updated": "2024-01-01T00:00:00Z"
    })
}

#[tokio::test]
async fn creates_a_tariff_and_reads_it_back() {
    let app = App::spawn_with_pricing().await;
    let reply = app.post("/v1/tariffs", &ocpi_tariff()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    id.parse::<uuid::Uuid>().expect("tariff id is a uuid");
    assert_eq!(reply.body["currency"], "EUR");
    assert_eq!(reply.body["tariff"]["elements"], ocpi_tariff()["elements"]);
    assert_eq!(
        reply.headers.get("location").unwrap().to_str().unwrap(),
        format!("/v1/tariffs/{id}")
    );

    let got = app.get(&format!("/v1/tariffs/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, reply.body);
}

#[tokio::test]
async fn invalid_and_unknown_tariffs_are_problems() {
    let app = App::spawn_with_pricing().await;
    let mut no_elements = ocpi_tariff();
    no_elements["elements"] = json!([]);
    let reply = app.post("/v1/tariffs", &no_elements).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body["detail"].as_str().unwrap().contains("elements"),
        "{}",
        reply.body
    );

    app.post("/v1/tariffs", &json!(["not", "an", "object"]))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get(&format!("/v1/tariffs/{}", uuid::Uuid::new_v4()))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get("/v1/tariffs/not-an-id")
        .await
        .problem(StatusCode::NOT_FOUND);
}
