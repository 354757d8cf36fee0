use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{App, PROBLEM_JSON};

#[tokio::test]
async fn every_route_needs_the_admin_token() {
    let app = App::spawn().await;
    let body = json!({"name": "Depot", "country": "DE", "time_zone": "Europe/Berlin"});
    let cases = [
        app.client.get(app.url("/v1/sites")),
        app.client
            .get(app.url("/v1/sites"))
            .bearer_auth("wrong-token"),
        app.client
            .get(app.url("/v1/sites"))
            .header("Authorization", format!("Basic {}", app.token)),
        app.client.post(app.url("/v1/sites")).json(&body),
        app.client
            .post(app.url("/v1/sites"))
            .bearer_auth(format!("{}x", app.token))
            .json(&body),
        app.client
            .get(app.url("/v1/ledger/trial-balance"))
            .bearer_auth("wrong-token"),
        app.client.get(app.url("/v1/no-such-route")),
    ];
    for request in cases {
        let reply = crate::helpers::Reply::from(request.send().await.unwrap()).await;
        reply.problem(StatusCode::UNAUTHORIZED);
        assert_eq!(reply.content_type, PROBLEM_JSON);
        assert_eq!(reply.headers.get("www-authenticate").unwrap(), "Bearer");
        assert!(!reply.body.to_string().contains(&app.token));
    }
    // The refused POSTs wrote nothing.
    assert_eq!(app.stored_events().await, 0);
    let list = app.get("/v1/sites").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body, json!({"data": [], "next_cursor": null}));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = App::spawn().await;
    app.get("/v1/nothing-here")
        .await
        .problem(StatusCode::NOT_FOUND);
    let reply = crate::helpers::Reply::from(
        app.client
            .delete(app.url("/v1/sites"))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.problem(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_api_refuses_to_start_without_an_admin_token() {
    let env = joule_testkit::TestEnv::new().await;
    let mut settings = env.settings_running(&["api"]);
    settings.admin_token = Default::default();
    let error = match joule_runtime::spawn(settings, &[joule_api::SERVICE]).await {
        Ok(running) => {
            running.shutdown.cancel();
            panic!("started without an admin token");
        }
        Err(e) => e.to_string(),
    };
    assert!(error.contains("JOULE_ADMIN_TOKEN must be set"), "{error}");
}

#[tokio::test]
async fn the_api_refuses_to_start_with_a_weak_admin_token() {
    let env = joule_testkit::TestEnv::new().await;
    let mut settings = env.settings_running(&["api"]);
    settings.admin_token = "demo-admin-token".into();
    let error = match joule_runtime::spawn(settings, &[joule_api::SERVICE]).await {
        Ok(running) => {
            running.shutdown.cancel();
            panic!("started with a weak admin token");
        }
        Err(e) => e.to_string(),
    };
    assert!(error.contains("JOULE_ADMIN_TOKEN is too weak"), "{error}");
    assert!(!error.contains("demo-admin-token"), "{error}");
}
