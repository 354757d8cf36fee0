//! The access matrix (issue 13, ADR 034), generated from the route table, and again from the
//! OpenAPI document the API serves (what integrators read): every route against every role, and
//! every route that names a record against another tenant's records.

use joule_api::access::{Role, Scope};
use joule_api::routes::entries;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::App;
use crate::identity::{PLATFORM, key, tenant_with_admin};

fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
        .replace("{command}", "reset")
        .replace("{version}", "1")
}

fn method(m: &axum::http::Method) -> Method {
    Method::from_bytes(m.as_str().as_bytes()).unwrap()
}

/// The api alone, with the platform credential and a key of tenant `acme` per role.
async fn app_with_every_role() -> (App, Vec<(Option<Role>, String)>) {
    let app = App::spawn_adjusted(&[joule_api::SERVICE], |s| {
        s.platform_token = PLATFORM.into();
        // Hundreds of requests at once: the matrix is about scopes, not rates.
        s.api_rate_limits = "default=1000/1000".into();
    })
    .await;
    let admin = tenant_with_admin(&app, "acme").await;
    let mut credentials = vec![(None, PLATFORM.to_owned())];
    for role in Role::ALL {
        let (_, secret) = key(&app, &admin, &[role.as_str()]).await;
        credentials.push((Some(*role), secret));
    }
    (app, credentials)
}

/// Asserts that `reply` is what a caller `allowed` (or not) the route's `scope` gets.
fn answered_as_scoped(reply: &crate::helpers::Reply, allowed: bool, scope: Scope, what: &str) {
    if allowed {
        assert!(
            reply.status != StatusCode::UNAUTHORIZED && reply.status != StatusCode::FORBIDDEN,
            "allowed but refused: {what}"
        );
    } else {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what}");
        assert_eq!(reply.body["missing_scope"], scope.as_str(), "{what}");
    }
}

#[tokio::test]
async fn every_route_answers_each_role_as_its_scopes_say() {
    let (app, credentials) = app_with_every_role().await;
    let routes = entries();
    assert!(routes.len() > 40, "the table lists every route");
    let id = uuid::Uuid::new_v4().to_string();
    let mut checked = 0;
    for (role, secret) in &credentials {
        for route in &routes {
            let allowed = match role {
                Some(role) => role.scopes().contains(route.scope),
                None => route.scope == Scope::Platform,
            };
            let path = concrete(route.path, &id);
            let reply = app
                .send_as(secret, method(&route.method), &path, &json!({}))
                .await;
            let what = format!(
                "{role:?} {} {path}: {} {}",
                route.method, reply.status, reply.body
            );
            answered_as_scoped(&reply, allowed, route.scope, &what);
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * (Role::ALL.len() + 1));
}

/// The scope an operation of the served document requires: its bearer requirement's one scope.
fn documented_scope(operation: &Value) -> Option<Scope> {
    let name = operation["security"][0]["bearer"][0].as_str()?;
    Scope::ALL.iter().copied().find(|s| s.as_str() == name)
}

#[tokio::test]
async fn every_documented_operation_answers_each_role_as_its_documented_scope_says() {
    let (app, credentials) = app_with_every_role().await;
    let document = app.get("/v1/openapi.json").await;
    assert_eq!(document.status, StatusCode::OK);
    let paths = document.body["paths"].as_object().expect("paths").clone();
    let mut operations = Vec::new();
    for (path, item) in &paths {
        for (verb, operation) in item.as_object().expect("a path item") {
            let Ok(method) = Method::from_bytes(verb.to_uppercase().as_bytes()) else {
                continue;
            };
            if operation.get("security").is_none() {
                continue; // the document, the reference page, the token endpoint, JWKS, health
            }
            let scope = documented_scope(operation)
                .unwrap_or_else(|| panic!("{verb} {path}: a scope the API knows"));
            operations.push((method, path.clone(), scope));
        }
    }
    // The document and the table agree on every route and its scope.
    let mut table: Vec<(String, String, &str)> = entries()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned(), r.scope.as_str()))
        .collect();
    let mut served: Vec<(String, String, &str)> = operations
        .iter()
        .map(|(m, p, s)| (m.to_string(), p.clone(), s.as_str()))
        .collect();
    table.sort();
    served.sort();
    assert_eq!(served, table);

    let id = uuid::Uuid::new_v4().to_string();
    for (role, secret) in &credentials {
        for (method, path, scope) in &operations {
            let allowed = match role {
                Some(role) => role.scopes().contains(*scope),
                None => *scope == Scope::Platform,
            };
            let concrete = concrete(path, &id);
            let reply = app
                .send_as(secret, method.clone(), &concrete, &json!({}))
                .await;
            let what = format!(
                "{role:?} {method} {concrete}: {} {}",
                reply.status, reply.body
            );
            answered_as_scoped(&reply, allowed, *scope, &what);
        }
    }
}

#[tokio::test]
async fn a_tenant_never_reads_or_changes_another_tenants_records() {
    let app = App::spawn_adjusted(
        &[
            joule_api::SERVICE,
            joule_pricing::SERVICE,
            joule_payments::SERVICE,
        ],
        |s| s.platform_token = PLATFORM.into(),
    )
    .await;
    let a = tenant_with_admin(&app, "tenant-a").await;
    let b = tenant_with_admin(&app, "tenant-b").await;

    // Tenant A's records, one of each kind the api and its neighbours here keep.
    let mut a_ids: Vec<String> = Vec::new();
    let create = |reply: crate::helpers::Reply| {
        assert!(reply.status.is_success(), "{}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    };
    let site = create(
        app.post_as(
            &a,
            "/v1/sites",
            &json!({"name": "A depot", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await,
    );
    let account = create(
        app.post_as(
            &a,
            "/v1/accounts",
            &json!({"name": "A fleet", "currency": "EUR"}),
        )
        .await,
    );
    let token = create(
        app.post_as(
            &a,
            "/v1/tokens",
            &json!({"uid": "A-CARD-1", "account_id": account}),
        )
        .await,
    );
    let (key_id, _) = key(&app, &a, &["read_only"]).await;
    a_ids.extend([site.clone(), account.clone(), token, key_id.clone()]);
    let fleet = create(
        app.post_as(
            &a,
            "/v1/fleets",
            &json!({"account_id": account, "name": "A vans"}),
        )
        .await,
    );
    let cost_centre = create(
        app.post_as(
            &a,
            "/v1/cost-centres",
            &json!({"account_id": account, "code": "A-1", "name": "A sales"}),
        )
        .await,
    );
    let driver = create(
        app.post_as(
            &a,
            "/v1/drivers",
            &json!({"fleet_id": fleet, "name": "A driver", "cost_centre_id": cost_centre}),
        )
        .await,
    );
    let vehicle = create(
        app.post_as(
            &a,
            "/v1/vehicles",
            &json!({"fleet_id": fleet, "vin": "WVWZZZ1JZXW000001", "make": "VW",
                    "model": "ID. Buzz", "battery_capacity_kwh": "77"}),
        )
        .await,
    );
    a_ids.extend([fleet, cost_centre, driver, vehicle]);
    let tariff = app
        .post_as(&a, "/v1/tariffs", &crate::tariffs::ocpi_tariff())
        .await;
    assert!(tariff.status.is_success(), "{}", tariff.body);
    let tariff_id = tariff.body["id"].as_str().unwrap().to_owned();
    a_ids.push(tariff_id.clone());
    let charger = create(
        app.post_as(
            &a,
            "/v1/chargers",
            &json!({"charge_point_id": "CP-A1", "site_id": site, "tariff_id": tariff_id}),
        )
        .await,
    );
    a_ids.push(charger);
    let wallet = app
        .client
        .post(app.url("/v1/wallets"))
        .bearer_auth(&a)
        .header("Idempotency-Key", "a-wallet")
        .json(&json!({"account_id": account, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    let wallet = crate::helpers::Reply::from(wallet).await;
    a_ids.push(create(wallet));

    let routes = entries();
    let tenant_routes: Vec<_> = routes
        .iter()
        .filter(|r| r.scope != Scope::Platform)
        .collect();
    // Lists first: B's own audit log will name the ids B tries below.
    for route in tenant_routes
        .iter()
        .filter(|r| r.method == axum::http::Method::GET && !r.path.contains('{'))
    {
        let reply = app.get_as(&b, route.path).await;
        for id in &a_ids {
            assert!(
                !reply.body.to_string().contains(id.as_str()),
                "B's {} shows A's {id}: {}",
                route.path,
                reply.body
            );
        }
    }
    for route in tenant_routes.iter().filter(|r| r.path.contains("{id}")) {
        for id in &a_ids {
            let path = concrete(route.path, id);
            let reply = app
                .send_as(&b, method(&route.method), &path, &json!({}))
                .await;
            let what = format!("B {} {path}: {} {}", route.method, reply.status, reply.body);
            assert!(!reply.status.is_success(), "{what}");
            assert_ne!(reply.status, StatusCode::FORBIDDEN, "{what}");
            assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
            let others = a_ids.iter().filter(|other| *other != id);
            for other in others {
                assert!(!reply.body.to_string().contains(other.as_str()), "{what}");
            }
        }
    }
    // A's records are as they were: its key still opens, its site still reads.
    let (_, reader) = key(&app, &a, &["read_only"]).await;
    assert_eq!(
        app.get_as(&reader, &format!("/v1/sites/{site}"))
            .await
            .status,
        StatusCode::OK
    );
    let revoked = app.get_as(&a, &format!("/v1/api-keys/{key_id}")).await;
    assert!(revoked.body["revoked_at"].is_null(), "{}", revoked.body);
    let _: Value = revoked.body;
}
