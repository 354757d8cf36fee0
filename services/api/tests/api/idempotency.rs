//! `Idempotency-Key` on every POST (ADR 039): a retry with the same key and request answers what
//! the first answered without doing it again; another request under the key is a 409; keys are
//! per tenant.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{App, Reply};
use crate::identity::{app_with, tenant_with_admin};

async fn post_with_key(app: &App, token: &str, path: &str, key: &str, body: &Value) -> Reply {
    app.post_idempotent_as(token, path, key, body).await
}

fn site(name: &str) -> Value {
    json!({"name": name, "country": "DE", "time_zone": "Europe/Berlin"})
}

async fn sites(app: &App, token: &str) -> usize {
    let listed = app.get_as(token, "/v1/sites").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_retried_post_answers_the_first_answer_and_writes_once() {
    let app = app_with(|_| {}).await;
    let acme = tenant_with_admin(&app, "acme").await;
    let globex = tenant_with_admin(&app, "globex").await;

    let first = post_with_key(&app, &acme, "/v1/sites", "site-1", &site("Depot")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    let again = post_with_key(&app, &acme, "/v1/sites", "site-1", &site("Depot")).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["location"], first.headers["location"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(sites(&app, &acme).await, 1);

    // Another request under the key: refused, nothing written.
    let other = post_with_key(&app, &acme, "/v1/sites", "site-1", &site("Yard")).await;
    assert_eq!(other.problem(StatusCode::CONFLICT), ["Idempotency-Key"]);
    let elsewhere = post_with_key(&app, &acme, "/v1/accounts", "site-1", &site("Depot")).await;
    assert_eq!(elsewhere.problem(StatusCode::CONFLICT), ["Idempotency-Key"]);
    assert_eq!(sites(&app, &acme).await, 1);

    // A refusal is an answer too: the same bad request answers the same 422.
    let bad = json!({"name": "", "country": "DE", "time_zone": "Europe/Berlin"});
    let refused = post_with_key(&app, &acme, "/v1/sites", "bad-1", &bad).await;
    assert_eq!(refused.problem(StatusCode::UNPROCESSABLE_ENTITY), ["name"]);
    let refused_again = post_with_key(&app, &acme, "/v1/sites", "bad-1", &bad).await;
    assert_eq!(refused_again.body, refused.body);
    assert_eq!(refused_again.headers["idempotent-replayed"], "true");

    // Keys are per tenant: globex's "site-1" is its own.
    let theirs = post_with_key(&app, &globex, "/v1/sites", "site-1", &site("Yard")).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    assert!(!theirs.headers.contains_key("idempotent-replayed"));
    assert_eq!(sites(&app, &globex).await, 1);

    // A bad key is a 422 naming the header; without a key nothing changes.
    let long = "k".repeat(256);
    let refused = post_with_key(&app, &acme, "/v1/sites", &long, &site("Long")).await;
    assert_eq!(
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["Idempotency-Key"]
    );
    let plain = app.post_as(&acme, "/v1/sites", &site("Plain")).await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    assert_eq!(sites(&app, &acme).await, 2);
}

#[tokio::test]
async fn a_kept_answer_with_a_secret_is_sealed_at_rest_and_replayed_whole() {
    let app = app_with(|_| {}).await;
    let acme = tenant_with_admin(&app, "acme").await;
    let body = json!({"name": "ci", "roles": ["read_only"]});
    let first = post_with_key(&app, &acme, "/v1/api-keys", "key-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let secret = first.body["secret"].as_str().unwrap().to_owned();

    // The table holds the answer sealed: neither the secret nor the JSON is readable there.
    let pool = app.env.pool().await;
    let kept: Vec<u8> = sqlx::query_scalar(
        "SELECT body FROM api.idempotency_keys WHERE tenant_id = 'acme' AND key = 'key-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&kept);
    assert!(
        !text.contains(&secret) && !text.contains("\"roles\""),
        "{text}"
    );

    let again = post_with_key(&app, &acme, "/v1/api-keys", "key-1", &body).await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(
        again.body["secret"],
        secret.as_str(),
        "the same answer, secret included"
    );

    // An altered row does not open: a 409, never a wrong answer.
    sqlx::query(
        "UPDATE api.idempotency_keys SET body = $1 WHERE tenant_id = 'acme' AND key = 'key-1'",
    )
    .bind(&kept[..kept.len() - 1])
    .execute(&pool)
    .await
    .unwrap();
    let tampered = post_with_key(&app, &acme, "/v1/api-keys", "key-1", &body).await;
    assert_eq!(tampered.problem(StatusCode::CONFLICT), ["Idempotency-Key"]);
}
