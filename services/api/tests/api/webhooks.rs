//! Webhook endpoints through the REST API, with the webhooks service running (ADR 040): an endpoint
//! created by `POST /v1/webhook-endpoints` receives a site's `SiteRegistered`, signed with the
//! secret the creation answered; the delivery log, redelivery, rotation, disabling and removal;
//! what bad input gets.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::App;

type Hits = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A real HTTP receiver on 127.0.0.1 that records what it is sent and answers 200.
async fn receiver() -> (String, Hits) {
    let hits: Hits = Arc::default();
    let kept = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                let body = String::from_utf8_lossy(&body).into_owned();
                kept.lock().expect("lock").push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

async fn received(hits: &Hits, n: usize) -> Vec<(HeaderMap, String)> {
    joule_testkit::eventually(&format!("{n} webhook deliveries"), || async {
        let now = hits.lock().expect("lock").clone();
        (now.len() >= n).then_some(now)
    })
    .await
}

/// Whether a `v1=` of `Joule-Signature` is HMAC-SHA256(secret, "<t>.<body>"), computed here.
fn signed_by(headers: &HeaderMap, body: &str, secret: &str) -> bool {
    let header = headers["joule-signature"].to_str().unwrap();
    let t = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .expect("t=");
    header
        .split(',')
        .filter_map(|p| p.strip_prefix("v1="))
        .any(|v1| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(format!("{t}.{body}").as_bytes());
            let expected: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            v1 == expected
        })
}

/// The body validates against `docs/events/joule.v1.events.schema.json` by Python's `jsonschema`
/// (in `.venv`, a dependency of schemathesis), an implementation we did not write.
fn conforms_to_the_published_schema(body: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "run `make python` (make test does)");
    let check = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft202012Validator(schema).validate(json.loads(sys.stdin.read()))\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", check])
        .arg(root.join("docs/events/joule.v1.events.schema.json"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write the body");
    let output = child.wait_with_output().expect("python ran");
    assert!(
        output.status.success(),
        "the webhook body does not match the published schema:\n{}\n{body}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn an_endpoint_made_through_the_api_receives_signed_events_and_keeps_a_log() {
    let app = App::spawn_adjusted(&[joule_api::SERVICE, joule_webhooks::SERVICE], |s| {
        s.webhooks_poll_interval_ms = 100;
    })
    .await;
    let (url, hits) = receiver().await;

    let created = app
        .post(
            "/v1/webhook-endpoints",
            &json!({"url": url, "event_types": ["joule.v1.SiteRegistered"], "description": "ops"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let endpoint = created.body.clone();
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        created.headers["location"],
        format!("/v1/webhook-endpoints/{id}").as_str()
    );
    // The secret is shown once: reads do not carry it.
    let read = app.get(&format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.body.get("secret").is_none(), "{}", read.body);
    assert_eq!(read.body["enabled"], true);
    let listed = app.get("/v1/webhook-endpoints").await;
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    assert_eq!(listed.body["next_cursor"], Value::Null);

    // A site registered through the API is delivered, signed with that secret.
    let site = app.create_site().await;
    let delivered = received(&hits, 1).await;
    let (headers, body) = &delivered[0];
    assert!(signed_by(headers, body, &secret), "{headers:?}");
    assert_eq!(headers["joule-event-type"], "joule.v1.SiteRegistered");
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "joule.v1.SiteRegistered");
    assert_eq!(event["data"]["site_id"], site["id"]);
    assert_eq!(headers["joule-event-id"].to_str().unwrap(), event["id"]);
    conforms_to_the_published_schema(body);

    // The delivery log says it succeeded; a redelivery sends the same event again.
    let log = joule_testkit::eventually("a succeeded delivery", || async {
        let log = app
            .get(&format!("/v1/webhook-endpoints/{id}/deliveries"))
            .await;
        (log.body["data"][0]["status"] == "succeeded").then_some(log)
    })
    .await;
    let delivery = &log.body["data"][0];
    assert_eq!(delivery["event_id"], event["id"]);
    assert_eq!(delivery["last_status_code"], 200);
    let again = app
        .post(
            &format!(
                "/v1/webhook-deliveries/{}/redeliver",
                delivery["id"].as_str().unwrap()
            ),
            &Value::Null,
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    let delivered = received(&hits, 2).await;
    assert_eq!(delivered[1].1, *body, "the same bytes again");

    // A rotation answers the new secret; both sign during the overlap.
    let rotated = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    app.create_site().await;
    let delivered = received(&hits, 3).await;
    let (headers, body) = &delivered[2];
    assert!(signed_by(headers, body, &new_secret));
    assert!(signed_by(headers, body, &secret));

    // Disabled, it receives nothing; removed, it is gone.
    let disabled = app
        .send_as(
            &app.token,
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(disabled.body["enabled"], false);
    let removed = app
        .send_as(
            &app.token,
            Method::DELETE,
            &format!("/v1/webhook-endpoints/{id}"),
            &Value::Null,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/webhook-endpoints/{id}"))
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_endpoints_are_refused_naming_the_field() {
    // The api on a port known before it starts, as a deployment configures it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let app = App::spawn_adjusted(&[joule_api::SERVICE, joule_webhooks::SERVICE], |s| {
        s.api_addr = format!("127.0.0.1:{port}");
    })
    .await;
    let create = |body: Value| {
        let app = &app;
        async move { app.post("/v1/webhook-endpoints", &body).await }
    };
    let types = json!(["joule.v1.SessionCompleted"]);
    assert_eq!(
        create(json!({"url": "ftp://example.com/hook", "event_types": types}))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["url"]
    );
    // The platform's own API.
    let own = format!("http://localhost:{port}/v1/sessions");
    assert_eq!(
        create(json!({"url": own, "event_types": types}))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["url"]
    );
    assert_eq!(
        create(
            json!({"url": "https://example.com/hook", "event_types": ["joule.v1.AuditRecorded"]})
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["event_types"]
    );
    assert_eq!(
        create(json!({"url": "https://example.com/hook", "event_types": types, "secret": "mine"}))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["secret"]
    );
    app.get("/v1/webhook-endpoints/not-an-id")
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/webhook-endpoints?limit=0")
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["limit"]
    );
}
