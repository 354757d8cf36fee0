//! `/v1/nats-credentials` (ADR 043): the `.creds` a tenant gets lets it read its own stream on an
//! operator-mode `nats-server` (a site registered through the API is there, in JSON); the secret
//! is shown once; what bad input gets; a deployment without an integrator plane says so.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use joule_testkit::IntegratorPlane;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;

/// An operator-mode server, and an App whose api signs for it and whose webhooks publishes to it.
async fn with_plane() -> (App, IntegratorPlane) {
    let plane = IntegratorPlane::start().await;
    let app = App::spawn_adjusted(&[joule_api::SERVICE, joule_webhooks::SERVICE], |s| {
        plane.configure(s)
    })
    .await;
    (app, plane)
}

#[tokio::test]
async fn a_tenants_credential_reads_its_stream_and_is_shown_once() {
    let (app, plane) = with_plane().await;
    let server = &plane.server;
    let created = app
        .post("/v1/nats-credentials", &json!({"name": "dashboard"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let body = created.body.clone();
    let id = body["id"].as_str().unwrap().to_owned();
    let creds = body["creds"].as_str().unwrap().to_owned();
    assert!(creds.contains("-----BEGIN NATS USER JWT-----"), "{creds}");
    assert!(body["public_key"].as_str().unwrap().starts_with('U'));
    let nats = &body["nats"];
    assert_eq!(nats["url"], server.url.as_str());
    let stream = nats["stream"].as_str().unwrap().to_owned();
    let inbox = nats["inbox_prefix"].as_str().unwrap().to_owned();
    assert!(stream.ends_with("_T_default"), "{stream}");
    assert_eq!(
        created.headers["location"],
        format!("/v1/nats-credentials/{id}").as_str()
    );
    // About 30 days by default.
    let expires: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "{days}");

    // Reads and lists never carry the secret.
    let read = app.get(&format!("/v1/nats-credentials/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.body.get("creds").is_none(), "{}", read.body);
    let listed = app.get("/v1/nats-credentials").await;
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    assert!(listed.body["data"][0].get("creds").is_none());
    assert_eq!(listed.body["next_cursor"], Value::Null);

    // A site registered through the API reaches the tenant's stream, read with those creds.
    let site = app.create_site().await;
    let client = async_nats::ConnectOptions::with_credentials(&creds)
        .unwrap()
        .custom_inbox_prefix(inbox)
        .connect(&server.url)
        .await
        .expect("the credential connects");
    let js = jetstream::new(client);
    let stream = joule_testkit::eventually("the tenant's stream", || {
        let (js, stream) = (js.clone(), stream.clone());
        async move { js.get_stream(&stream).await.ok() }
    })
    .await;
    let reader = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("sites".into()),
            ..Default::default()
        })
        .await
        .expect("a consumer of its stream");
    let mut messages = reader.messages().await.unwrap();
    let message = tokio::time::timeout(Duration::from_secs(20), messages.next())
        .await
        .expect("an event within 20 s")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(event["type"], "joule.v1.SiteRegistered");
    assert_eq!(event["tenant_id"], "default");
    assert_eq!(event["aggregate_id"], site["id"]);
    message.ack().await.unwrap();
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_field() {
    let (app, _plane) = with_plane().await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "expires_at": "2999-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (json!({"name": "x", "scope": "all"}), "scope"),
    ] {
        let refused = app.post("/v1/nats-credentials", &body).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            refused.body
        );
        assert!(
            refused
                .problem(StatusCode::UNPROCESSABLE_ENTITY)
                .contains(&field.to_owned()),
            "{}",
            refused.body
        );
    }
    let unknown = app
        .get("/v1/nats-credentials/6f1c1d8e-0000-4000-8000-000000000000")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let listed = app.get("/v1/nats-credentials").await;
    assert_eq!(listed.body["data"], json!([]), "nothing was made");
}

#[tokio::test]
async fn without_an_integrator_plane_a_credential_is_a_conflict() {
    let app = App::spawn().await;
    let refused = app
        .post("/v1/nats-credentials", &json!({"name": "dashboard"}))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("integrator plane")
            || refused.body.to_string().contains("integrator plane"),
        "{}",
        refused.body
    );
}
