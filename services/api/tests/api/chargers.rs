//! Charger registration checks the site (registry) and the tariff (pricing, over gRPC).

use joule_proto::Message;
use joule_proto::v1;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;
use crate::tariffs::ocpi_tariff;

async fn tariff(app: &App) -> Value {
    app.create("/v1/tariffs", &ocpi_tariff()).await
}

#[tokio::test]
async fn registers_a_charger_once_and_publishes_it_with_the_site_time_zone() {
    let app = App::spawn_with_pricing().await;
    let site = app
        .create(
            "/v1/sites",
            &json!({"name": "Quai", "country": "FR", "time_zone": "Europe/Paris"}),
        )
        .await;
    let tariff = tariff(&app).await;
    let body =
        json!({"charge_point_id": "CP-0001", "site_id": site["id"], "tariff_id": tariff["id"]});
    let charger = app.create("/v1/chargers", &body).await;
    assert_eq!(charger["charge_point_id"], "CP-0001");
    assert_eq!(charger["site_id"], site["id"]);
    assert_eq!(charger["tariff_id"], tariff["id"]);
    let id = charger["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/v1/chargers/{id}")).await.body, charger);
    assert_eq!(app.get("/v1/chargers").await.body["data"], json!([charger]));

    let events = app.stored_events().await;
    let again = app.post("/v1/chargers", &body).await;
    again.problem(StatusCode::CONFLICT);
    assert!(
        again.body["detail"].as_str().unwrap().contains("CP-0001"),
        "{}",
        again.body
    );
    assert_eq!(app.stored_events().await, events);

    let messages = app.registry_messages(2).await;
    let (subject, envelope, _) = messages
        .iter()
        .find(|(_, e, _)| e.event_type == "joule.v1.ChargerRegistered")
        .expect("ChargerRegistered on the REGISTRY stream");
    assert_eq!(
        subject,
        &format!("{}.registry.charger.{id}", app.env.namespace)
    );
    let registered = v1::ChargerRegistered::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(
        registered,
        v1::ChargerRegistered {
            charger_id: id,
            charge_point_id: "CP-0001".into(),
            site_id: site["id"].as_str().unwrap().into(),
            tariff_id: tariff["id"].as_str().unwrap().into(),
            time_zone: "Europe/Paris".into(),
        }
    );
}

#[tokio::test]
async fn a_charger_needs_an_existing_site_and_tariff() {
    let app = App::spawn_with_pricing().await;
    let site = app.create_site().await;
    let tariff = tariff(&app).await;
    let events = app.stored_events().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases: [(Value, &[&str]); 5] = [
        (
            json!({"charge_point_id": "CP-1", "site_id": site["id"], "tariff_id": unknown}),
            &["tariff_id"],
        ),
        (
            json!({"charge_point_id": "CP-1", "site_id": unknown, "tariff_id": tariff["id"]}),
            &["site_id"],
        ),
        (
            json!({"charge_point_id": "CP-1", "site_id": unknown, "tariff_id": unknown}),
            &["site_id", "tariff_id"],
        ),
        (
            json!({"charge_point_id": "CP/1", "site_id": site["id"], "tariff_id": tariff["id"]}),
            &["charge_point_id"],
        ),
        (
            json!({"site_id": site["id"], "tariff_id": tariff["id"]}),
            &["charge_point_id"],
        ),
    ];
    for (body, fields) in cases {
        let reply = app.post("/v1/chargers", &body).await;
        let named = reply.problem(unprocessable);
        assert_eq!(named, fields, "{body}: {}", reply.body);
    }
    assert_eq!(app.stored_events().await, events);
    assert_eq!(app.get("/v1/chargers").await.body["data"], json!([]));
}

#[tokio::test]
async fn weak_charger_passwords_are_refused_naming_the_field() {
    let app = App::spawn_with_pricing().await;
    let site = app.create_site().await;
    let tariff = tariff(&app).await;
    for weak in [
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklmnopqr",
        "Password12345678",
        "my-cp-0042-password",
    ] {
        let reply = app
            .post(
                "/v1/chargers",
                &json!({"charge_point_id": "CP-0042", "site_id": site["id"], "tariff_id": tariff["id"], "password": weak}),
            )
            .await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            ["password"],
            "{weak}"
        );
        assert!(
            !reply.body.to_string().contains(weak),
            "the password is not echoed"
        );
    }
    let charger = app
        .create(
            "/v1/chargers",
            &json!({"charge_point_id": "CP-0042", "site_id": site["id"], "tariff_id": tariff["id"], "password": "k7#Qz9-vT2m!Lp4x"}),
        )
        .await;
    let credentials = app.url(&format!(
        "/v1/chargers/{}/credentials",
        charger["id"].as_str().unwrap()
    ));
    let put = |password: &'static str| {
        app.client
            .put(&credentials)
            .bearer_auth(&app.token)
            .json(&json!({ "password": password }))
            .send()
    };
    let weak = crate::helpers::Reply::from(put("CP-0042CP-0042CP-0042").await.unwrap()).await;
    assert_eq!(weak.problem(StatusCode::UNPROCESSABLE_ENTITY), ["password"]);
    let strong = put("Zq8-xT2#mW4!pL6$rK").await.unwrap();
    assert_eq!(strong.status(), StatusCode::NO_CONTENT);
}
