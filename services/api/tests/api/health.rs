//! `GET /healthz`: unauthenticated; 200 while the api's PostgreSQL and NATS answer, 503
//! (problem+json) once NATS is gone. The api runs on a private nats-server the test stops.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{App, PROBLEM_JSON};

#[tokio::test]
async fn healthz_answers_without_credentials_and_says_when_nats_is_gone() {
    let config = std::env::temp_dir().join(format!("joule-health-{}.conf", uuid::Uuid::new_v4()));
    std::fs::write(
        &config,
        "# no users, no permissions: a plain local server\n",
    )
    .unwrap();
    let nats = joule_testkit::NatsServer::start(&config).await;
    let url = nats.url.clone();
    let app = App::spawn_adjusted(&[joule_api::SERVICE], |s| s.nats_url = url).await;

    let healthy = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthy.status(), StatusCode::OK);
    let body: serde_json::Value = healthy.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "database": "ok", "nats": "ok"})
    );
    // A wrong credential changes nothing: the probe reads no one's data.
    let with_bad_token = app
        .client
        .get(app.url("/healthz"))
        .bearer_auth("not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(with_bad_token.status(), StatusCode::OK);

    drop(nats);
    let _ = std::fs::remove_file(&config);
    let down = joule_testkit::eventually("the probe sees NATS gone", || async {
        let reply = app.client.get(app.url("/healthz")).send().await.unwrap();
        (reply.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(reply)
    })
    .await;
    assert_eq!(
        down.headers()["content-type"].to_str().unwrap(),
        PROBLEM_JSON
    );
    let problem: serde_json::Value = down.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("NATS is not connected"),
        "{problem}"
    );
}
