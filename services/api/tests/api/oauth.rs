//! OAuth2 client credentials (RFC 6749 section 4.4) and external OpenID Connect tokens, end to end
//! over HTTP (issue 13, ADR 033).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use joule_auth::{KeyPolicy, KeyRing, NewToken, TokenIssuer};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{App, Reply};
use crate::identity::{app_with, key, tenant_with_admin};

/// 32 bytes, base64: the api seals its signing keys in PostgreSQL with it.
const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// HTTP Basic client credentials, if sent: (client_id, client_secret).
type Basic<'a> = Option<(&'a str, &'a str)>;

async fn token_request(app: &App, basic: Basic<'_>, form: &str) -> Reply {
    let mut request = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some((id, secret)) = basic {
        request = request.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    Reply::from(request.send().await.expect("request")).await
}

fn account() -> Value {
    json!({"name": "Fleet", "currency": "EUR"})
}

#[tokio::test]
async fn a_client_gets_a_token_that_acts_as_its_key_until_the_key_is_revoked() {
    let app = app_with(|s| s.oauth_key_encryption_key = KEK.into()).await;
    let admin = tenant_with_admin(&app, "acme").await;
    let (id, secret) = key(&app, &admin, &["finance", "read_only"]).await;

    let issued = token_request(&app, Some((&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    assert_eq!(issued.headers["cache-control"], "no-store");
    assert_eq!(issued.body["token_type"], "Bearer");
    assert_eq!(issued.body["expires_in"], 900);
    assert_eq!(issued.body["scope"], "finance read_only");
    let jwt = issued.body["access_token"].as_str().unwrap().to_owned();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["client_id"], id.as_str());

    // The JWKS publishes the key that signed it.
    let jwks = app.get_as("", "/.well-known/jwks.json").await;
    assert_eq!(jwks.status, StatusCode::OK, "{}", jwks.body);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert!(
        jwks.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"] && k["crv"] == "Ed25519")
    );

    // The token does what the key's roles allow, and nothing more.
    let created = app.post_as(&jwt, "/v1/accounts", &account()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let refused = app
        .post_as(
            &jwt,
            "/v1/sites",
            &json!({"name": "Depot", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await;
    refused.problem(StatusCode::FORBIDDEN);
    assert_eq!(refused.body["missing_scope"], "sites:write");
    let actor = format!("client:{id}");
    let recorded = joule_testkit::eventually("the client's write is in the audit log", || async {
        let reply = app
            .get_as(&admin, &format!("/v1/audit-events?actor={actor}"))
            .await;
        let data = reply.body["data"].as_array().cloned().unwrap_or_default();
        data.into_iter().find(|e| e["route"] == "/v1/accounts")
    })
    .await;
    assert_eq!(recorded["credential"], "oauth_client");
    assert_eq!(recorded["roles"], json!(["finance", "read_only"]));

    // A narrower scope gives a narrower token.
    let narrow = token_request(
        &app,
        None,
        &format!(
            "grant_type=client_credentials&scope=read_only&client_id={id}&client_secret={secret}"
        ),
    )
    .await;
    assert_eq!(narrow.status, StatusCode::OK, "{}", narrow.body);
    assert_eq!(narrow.body["scope"], "read_only");
    let narrow = narrow.body["access_token"].as_str().unwrap().to_owned();
    app.post_as(&narrow, "/v1/accounts", &account())
        .await
        .problem(StatusCode::FORBIDDEN);

    // A tampered token is refused.
    let mut tampered = jwt.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    app.get_as(&tampered, "/v1/accounts")
        .await
        .problem(StatusCode::UNAUTHORIZED);

    // Revoking the key ends its tokens.
    let revoked = app
        .post_as(&admin, &format!("/v1/api-keys/{id}/revoke"), &Value::Null)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    app.get_as(&jwt, "/v1/accounts")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let after = token_request(&app, Some((&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.body);
    assert_eq!(after.body["error"], "invalid_client");
}

#[tokio::test]
async fn the_token_endpoint_answers_bad_requests_as_rfc_6749_says() {
    let app = app_with(|_| {}).await;
    let admin = tenant_with_admin(&app, "acme").await;
    let (id, secret) = key(&app, &admin, &["finance"]).await;
    let (other_id, _) = key(&app, &admin, &["operator"]).await;
    let grant = "grant_type=client_credentials";
    let cases: Vec<(Basic, String, StatusCode, &str)> = vec![
        (
            Some((&id, "jk_test_wrong")),
            grant.into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some((&other_id, &secret)),
            grant.into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            None,
            grant.into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some((&id, &secret)),
            "grant_type=password".into(),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            Some((&id, &secret)),
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some((&id, &secret)),
            format!("{grant}&{grant}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some((&id, &secret)),
            format!("{grant}&scope=admin"),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            Some((&id, &secret)),
            format!("{grant}&client_secret={secret}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (basic, form, status, error) in cases {
        let reply = token_request(&app, basic, &form).await;
        assert_eq!(reply.status, status, "{form}: {}", reply.body);
        assert_eq!(reply.body["error"], error, "{form}: {}", reply.body);
        assert_eq!(reply.headers["cache-control"], "no-store");
    }
    let json = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let json = Reply::from(json).await;
    assert_eq!(json.body["error"], "invalid_request", "{}", json.body);
    // Nothing a refused request sent is accepted as a bearer token either.
    app.get_as(
        "eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJhY21lIn0.",
        "/v1/accounts",
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
}

/// An identity provider: signs tokens and serves its JWKS on a loopback port.
struct IdentityProvider {
    issuer: TokenIssuer,
    jwks_url: String,
}

impl IdentityProvider {
    async fn start() -> Self {
        let ring = KeyRing::ephemeral(KeyPolicy::default(), Utc::now()).unwrap();
        let issuer = TokenIssuer::new(ring, "https://idp.example", "joule-ext").unwrap();
        let jwks = issuer.jwks(Utc::now());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            issuer,
            jwks_url: format!("http://{addr}/jwks"),
        }
    }

    fn token(&self, tenant: &str, groups: &[&str]) -> String {
        let token = NewToken {
            client_id: "idp-app".into(),
            tenant: tenant.into(),
            roles: groups.iter().map(|g| (*g).to_owned()).collect(),
            fleets: Vec::new(),
        };
        self.issuer
            .issue(token, Duration::from_secs(300), Utc::now())
            .unwrap()
            .0
    }
}

#[tokio::test]
async fn an_external_issuers_tokens_get_the_roles_its_claims_map_to() {
    let idp = IdentityProvider::start().await;
    let jwks_url = idp.jwks_url.clone();
    let app = app_with(move |s| {
        s.oidc_issuer = "https://idp.example".into();
        s.oidc_jwks_url = jwks_url;
        s.oidc_audience = "joule-ext".into();
        s.oidc_tenant_claim = "tenant".into();
        s.oidc_roles_claim = "roles".into();
        s.oidc_role_map = "billing=finance,ops=operator".into();
    })
    .await;
    tenant_with_admin(&app, "acme").await;

    let billing = idp.token("acme", &["billing", "canteen"]);
    let created = app.post_as(&billing, "/v1/accounts", &account()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let refused = app
        .post_as(
            &billing,
            "/v1/sites",
            &json!({"name": "Depot", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await;
    refused.problem(StatusCode::FORBIDDEN);
    assert_eq!(refused.body["missing_scope"], "sites:write");

    // No mapped role, or a tenant this deployment does not have: refused.
    app.get_as(&idp.token("acme", &["canteen"]), "/v1/accounts")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    app.get_as(&idp.token("globex", &["billing"]), "/v1/accounts")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    // A role name the provider puts in the claim grants nothing unless the map says so.
    app.get_as(&idp.token("acme", &["admin"]), "/v1/accounts")
        .await
        .problem(StatusCode::UNAUTHORIZED);
}
