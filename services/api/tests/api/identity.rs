//! Tenants, API keys, roles, rate limits and the audit log (ADR 034), end to end over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;

pub const PLATFORM: &str = "platform-7c1e9a3f5b2d8e4a6c0f";

pub async fn app_with(adjust: impl FnOnce(&mut joule_config::Settings)) -> App {
    App::spawn_adjusted(&[joule_api::SERVICE], |s| {
        s.platform_token = PLATFORM.into();
        adjust(s);
    })
    .await
}

/// Creates tenant `id` and its first admin key; returns the key's secret.
pub async fn tenant_with_admin(app: &App, id: &str) -> String {
    let created = app
        .post_as(
            PLATFORM,
            "/v1/tenants",
            &json!({"id": id, "name": format!("Tenant {id}")}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = app
        .post_as(
            PLATFORM,
            &format!("/v1/tenants/{id}/api-keys"),
            &json!({"name": "first admin", "roles": ["admin"]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    key.body["secret"].as_str().expect("secret").to_owned()
}

/// Creates a key with `roles` using `admin`; returns (id, secret). A fleet manager's key names a
/// new fleet of a new account, a driver's a new driver of it.
pub async fn key(app: &App, admin: &str, roles: &[&str]) -> (String, String) {
    let mut body = json!({"name": "a key", "roles": roles});
    if roles.contains(&"fleet_manager") || roles.contains(&"driver") {
        let account = app
            .post_as(
                admin,
                "/v1/accounts",
                &json!({"name": "Fleet customer", "currency": "EUR"}),
            )
            .await;
        assert_eq!(account.status, StatusCode::CREATED, "{}", account.body);
        let fleet = app
            .post_as(
                admin,
                "/v1/fleets",
                &json!({"account_id": account.body["id"], "name": "Vans"}),
            )
            .await;
        assert_eq!(fleet.status, StatusCode::CREATED, "{}", fleet.body);
        if roles.contains(&"fleet_manager") {
            body["fleets"] = json!([fleet.body["id"]]);
        }
        if roles.contains(&"driver") {
            let driver = app
                .post_as(
                    admin,
                    "/v1/drivers",
                    &json!({"fleet_id": fleet.body["id"], "name": "Ana"}),
                )
                .await;
            assert_eq!(driver.status, StatusCode::CREATED, "{}", driver.body);
            body["driver_id"] = driver.body["id"].clone();
        }
    }
    let reply = app.post_as(admin, "/v1/api-keys", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (
        reply.body["id"].as_str().unwrap().to_owned(),
        reply.body["secret"].as_str().unwrap().to_owned(),
    )
}

fn site() -> Value {
    json!({"name": "Depot", "country": "DE", "time_zone": "Europe/Berlin"})
}

#[tokio::test]
async fn only_the_platform_creates_tenants_and_their_first_keys() {
    let app = app_with(|_| {}).await;
    let body = json!({"id": "acme", "name": "Acme"});
    app.post_as("nope-nope-nope-nope-nope-nope", "/v1/tenants", &body)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let refused = app.post_as(&app.token, "/v1/tenants", &body).await;
    refused.problem(StatusCode::FORBIDDEN);
    assert_eq!(refused.body["missing_scope"], "platform");
    let bad = app
        .post_as(
            PLATFORM,
            "/v1/tenants",
            &json!({"id": "Acme Corp", "name": ""}),
        )
        .await;
    assert_eq!(
        bad.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["id", "name"]
    );

    let secret = tenant_with_admin(&app, "acme").await;
    assert!(secret.starts_with("jk_test_"), "{secret}");
    app.post_as(PLATFORM, "/v1/tenants", &body)
        .await
        .problem(StatusCode::CONFLICT);
    // The platform reads tenants, not their data.
    let listed = app.get_as(PLATFORM, "/v1/tenants").await;
    let ids: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", "acme"]);
    let sites = app.get_as(PLATFORM, "/v1/sites").await;
    assert_eq!(sites.body["missing_scope"], "sites:read");
    app.post_as(
        PLATFORM,
        "/v1/tenants/nobody/api-keys",
        &json!({"name": "x", "roles": ["admin"]}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);

    // The new tenant's admin works in its own tenant only.
    let site = app.post_as(&secret, "/v1/sites", &site()).await;
    assert_eq!(site.status, StatusCode::CREATED, "{}", site.body);
    let id = site.body["id"].as_str().unwrap();
    app.get(&format!("/v1/sites/{id}"))
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v1/sites").await.body["data"], json!([]));
    assert_eq!(
        app.get_as(&secret, &format!("/v1/sites/{id}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_grant_their_scopes_and_a_missing_scope_is_a_403_naming_it() {
    let app = app_with(|_| {}).await;
    let admin = tenant_with_admin(&app, "acme").await;
    let (_, finance) = key(&app, &admin, &["finance"]).await;
    let (_, operator) = key(&app, &admin, &["operator"]).await;
    let (_, reader) = key(&app, &admin, &["read_only"]).await;

    assert_eq!(
        app.post_as(&operator, "/v1/sites", &site()).await.status,
        StatusCode::CREATED
    );
    let before = app.stored_events().await;
    for (secret, path, body, scope) in [
        (&finance, "/v1/sites", site(), "sites:write"),
        (&reader, "/v1/sites", site(), "sites:write"),
        (
            &operator,
            "/v1/api-keys",
            json!({"name": "x", "roles": ["admin"]}),
            "api_keys:write",
        ),
    ] {
        let reply = app.post_as(secret, path, &body).await;
        reply.problem(StatusCode::FORBIDDEN);
        assert_eq!(reply.body["missing_scope"], scope);
        assert!(reply.body["detail"].as_str().unwrap().contains(scope));
    }
    let reply = app.get_as(&finance, "/v1/sites").await;
    assert_eq!(reply.body["missing_scope"], "sites:read");
    assert_eq!(
        app.get_as(&reader, "/v1/sites").await.status,
        StatusCode::OK
    );
    assert_eq!(app.stored_events().await, before, "a refused write wrote");

    // Bad roles are named.
    let bad = app
        .post_as(
            &admin,
            "/v1/api-keys",
            &json!({"name": "x", "roles": ["admin", "boss"]}),
        )
        .await;
    assert_eq!(bad.problem(StatusCode::UNPROCESSABLE_ENTITY), ["roles[1]"]);
    let none = app
        .post_as(&admin, "/v1/api-keys", &json!({"name": "x", "roles": []}))
        .await;
    assert_eq!(none.problem(StatusCode::UNPROCESSABLE_ENTITY), ["roles"]);
    // Fleets go with fleet_manager keys, and only with them.
    let unlimited = app
        .post_as(
            &admin,
            "/v1/api-keys",
            &json!({"name": "x", "roles": ["fleet_manager"]}),
        )
        .await;
    assert_eq!(
        unlimited.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["fleets"]
    );
    let stray = app
        .post_as(
            &admin,
            "/v1/api-keys",
            &json!({"name": "x", "roles": ["finance"], "fleets": [uuid::Uuid::new_v4()]}),
        )
        .await;
    assert_eq!(stray.problem(StatusCode::UNPROCESSABLE_ENTITY), ["fleets"]);
    // The fleets must be the tenant's.
    let unknown = app
        .post_as(
            &admin,
            "/v1/api-keys",
            &json!({"name": "x", "roles": ["fleet_manager"], "fleets": [uuid::Uuid::new_v4()]}),
        )
        .await;
    assert_eq!(unknown.problem(StatusCode::NOT_FOUND), ["fleets[0]"]);
}

#[tokio::test]
async fn keys_rotate_with_an_overlap_revoke_and_expire() {
    let app = app_with(|_| {}).await;
    let admin = tenant_with_admin(&app, "acme").await;
    let (id, old) = key(&app, &admin, &["read_only"]).await;

    // The secret is shown once: reads never carry it.
    let read = app.get_as(&admin, &format!("/v1/api-keys/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.body.get("secret").is_none());
    assert!(!read.body.to_string().contains(&old));
    let listed = app.get_as(&admin, "/v1/api-keys").await;
    assert!(!listed.body.to_string().contains("jk_test_"));

    let rotated = app
        .post_as(
            &admin,
            &format!("/v1/api-keys/{id}/rotate"),
            &json!({"overlap_seconds": 3600}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    for secret in [&old, &new] {
        assert_eq!(app.get_as(secret, "/v1/sites").await.status, StatusCode::OK);
    }
    // A rotation without overlap ends the old secret at once.
    let again = app
        .post_as(
            &admin,
            &format!("/v1/api-keys/{id}/rotate"),
            &json!({"overlap_seconds": 0}),
        )
        .await;
    let newest = again.body["secret"].as_str().unwrap().to_owned();
    app.get_as(&new, "/v1/sites")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get_as(&newest, "/v1/sites").await.status,
        StatusCode::OK
    );

    let revoked = app
        .post_as(&admin, &format!("/v1/api-keys/{id}/revoke"), &Value::Null)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    let ids = |reply: crate::helpers::Reply| -> Vec<String> {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(ids(app.get_as(&admin, "/v1/api-keys?status=revoked").await).contains(&id));
    assert!(!ids(app.get_as(&admin, "/v1/api-keys?status=active").await).contains(&id));
    assert!(
        ids(app.get_as(&admin, "/v1/api-keys?role=admin").await)
            .iter()
            .all(|k| k != &id)
    );
    assert_eq!(
        app.get_as(&admin, "/v1/api-keys?status=gone&role=boss")
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["role", "status"]
    );
    app.get_as(&newest, "/v1/sites")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    app.post_as(&admin, &format!("/v1/api-keys/{id}/rotate"), &Value::Null)
        .await
        .problem(StatusCode::CONFLICT);

    // Another tenant's key is a 404, to revoke as to read.
    let other = tenant_with_admin(&app, "other").await;
    app.post_as(&other, &format!("/v1/api-keys/{id}/revoke"), &Value::Null)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get_as(&other, &format!("/v1/api-keys/{id}"))
        .await
        .problem(StatusCode::NOT_FOUND);

    // Expiry.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let expiring = app
        .post_as(
            &admin,
            "/v1/api-keys",
            &json!({"name": "short", "roles": ["read_only"], "expires_at": soon}),
        )
        .await;
    let secret = expiring.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get_as(&secret, "/v1/sites").await.status,
        StatusCode::OK
    );
    joule_testkit::eventually("the key expires", || async {
        (app.get_as(&secret, "/v1/sites").await.status == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    let past = app
        .post_as(
            &admin,
            "/v1/api-keys",
            &json!({"name": "x", "roles": ["admin"], "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        past.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["expires_at"]
    );
}

#[tokio::test]
async fn last_use_is_recorded() {
    let app = app_with(|_| {}).await;
    let admin = tenant_with_admin(&app, "acme").await;
    let (id, secret) = key(&app, &admin, &["read_only"]).await;
    assert!(app.get_as(&admin, &format!("/v1/api-keys/{id}")).await.body["last_used_at"].is_null());
    app.get_as(&secret, "/v1/sites").await;
    joule_testkit::eventually("last use is written", || async {
        let read = app.get_as(&admin, &format!("/v1/api-keys/{id}")).await;
        read.body["last_used_at"].is_string().then_some(())
    })
    .await;
}

#[tokio::test]
async fn over_its_rate_limit_a_key_gets_429_with_retry_after_and_ratelimit_headers() {
    let app = app_with(|s| {
        s.api_rate_limits = "default=1/3".into();
        s.api_tenant_rate_limit = "1000/1000".into();
    })
    .await;
    let admin = tenant_with_admin(&app, "acme").await;
    let (_, reader) = key(&app, &admin, &["read_only"]).await;
    let first = app.get_as(&reader, "/v1/sites").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        first.headers["ratelimit-policy"],
        "\"key\";q=3;w=3, \"tenant\";q=1000;w=1"
    );
    assert!(
        first.headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"key\";r=2;")
    );
    app.get_as(&reader, "/v1/sites").await;
    app.get_as(&reader, "/v1/sites").await;
    let limited = app.get_as(&reader, "/v1/sites").await;
    limited.problem(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers["retry-after"], "1");
    assert!(
        limited.headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"key\";r=0;")
    );
    // Another key of the tenant has its own bucket.
    let (_, other) = key(&app, &admin, &["read_only"]).await;
    assert_eq!(app.get_as(&other, "/v1/sites").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_tenant_bucket_limits_all_its_keys_together() {
    let app = app_with(|s| {
        s.api_rate_limits = "default=1000/1000".into();
        s.api_tenant_rate_limit = "1/4".into();
    })
    .await;
    // Creating the tenant and its key spends none of the tenant's tokens (the platform has its own).
    let admin = tenant_with_admin(&app, "acme").await;
    let (_, a) = key(&app, &admin, &["read_only"]).await; // 1
    let (_, b) = key(&app, &admin, &["read_only"]).await; // 2
    assert_eq!(app.get_as(&a, "/v1/sites").await.status, StatusCode::OK); // 3
    assert_eq!(app.get_as(&b, "/v1/sites").await.status, StatusCode::OK); // 4
    app.get_as(&a, "/v1/sites")
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS);
    // Another tenant is not affected.
    assert_eq!(app.get("/v1/sites").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_write_is_in_the_audit_log_with_who_what_and_how_it_ended() {
    let app = app_with(|_| {}).await;
    let admin = tenant_with_admin(&app, "acme").await;
    let (finance_id, finance) = key(&app, &admin, &["finance"]).await;
    let site = app.post_as(&admin, "/v1/sites", &site()).await;
    let site_id = site.body["id"].as_str().unwrap().to_owned();
    app.post_as(&finance, "/v1/sites", &json!({})).await; // 403
    app.get_as(&admin, "/v1/sites").await; // a read: not audited
    let request = app
        .client
        .post(app.url("/v1/sites"))
        .bearer_auth(&admin)
        .header("X-Request-Id", "req-42")
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(request.headers()["x-request-id"], "req-42");

    let all = joule_testkit::eventually("the audit log has 5 records", || async {
        let reply = app.get_as(&admin, "/v1/audit-events").await;
        let data = reply.body["data"].as_array().cloned().unwrap_or_default();
        (data.len() >= 5).then_some(data)
    })
    .await;
    // Platform: tenant and first key; admin: finance key, site, bad site; finance: refused site.
    let routes: Vec<(&str, &str, i64)> = all
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["route"].as_str().unwrap(),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        routes.contains(&("platform", "/v1/tenants/{id}/api-keys", 201)),
        "{routes:?}"
    );
    let created_site = all
        .iter()
        .find(|e| e["route"] == "/v1/sites" && e["status"] == 201)
        .expect("the site's creation");
    assert!(
        created_site["target_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(site_id))
    );
    assert_eq!(created_site["outcome"], "succeeded");
    assert_eq!(created_site["roles"], json!(["admin"]));
    let refused = app
        .get_as(
            &admin,
            &format!("/v1/audit-events?outcome=refused&actor=key:{finance_id}"),
        )
        .await;
    let refused = refused.body["data"].as_array().unwrap().clone();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["status"], 403);
    assert_eq!(refused[0]["credential"], "api_key");
    let tagged = app.get_as(&admin, "/v1/audit-events?outcome=refused").await;
    assert!(
        tagged.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["request_id"] == "req-42" && e["status"] == 422)
    );
    // Another tenant sees none of it; finance may not read the audit log.
    assert_eq!(app.get("/v1/audit-events").await.body["data"], json!([]));
    assert_eq!(
        app.get_as(&finance, "/v1/audit-events").await.body["missing_scope"],
        "audit:read"
    );
    app.get_as(&admin, "/v1/audit-events?colour=red")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
}
