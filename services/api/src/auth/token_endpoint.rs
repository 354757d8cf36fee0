//! The OAuth2 token endpoint (RFC 6749 section 4.4, client credentials) and the JWKS that
//! verifies its tokens. Both are public: the token endpoint authenticates the client itself.
//!
//! A client is an API key: `client_id` is the key's id, `client_secret` the whole key, sent as HTTP
//! Basic (`client_secret_basic`, RFC 6749 section 2.3.1) or in the form (`client_secret_post`).
//! `scope` optionally narrows the token to some of the key's roles (space-separated role names).
//! Errors are RFC 6749 section 5.2 JSON; answers are never cached.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use joule_auth::NewToken;
use serde_json::json;

use super::{Actor, Authenticator, Caller, Principal, rate_limit_headers};
use crate::access::Role;
use crate::auth::rate::Decision;
use crate::problem::ApiError;

pub const TOKEN_PATH: &str = "/oauth/token";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The public routes: the token endpoint and the JWKS (none without OAuth configured).
pub fn routes(auth: Authenticator) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route(JWKS_PATH, get(jwks))
        .with_state(auth)
}

/// An RFC 6749 section 5.2 error.
struct OAuthError {
    code: &'static str,
    description: String,
}

fn error(code: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        code,
        description: description.into(),
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = json!({"error": self.code, "error_description": self.description});
        let mut response = (status, no_store(), axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"joule\""),
            );
        }
        response
    }
}

fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// The form's parameters, each at most once (RFC 6749 section 3.2).
#[derive(Default)]
struct Form {
    grant_type: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(error(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let mut form = Form::default();
    for (name, value) in form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "grant_type" => &mut form.grant_type,
            "scope" => &mut form.scope,
            "client_id" => &mut form.client_id,
            "client_secret" => &mut form.client_secret,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(error(
                "invalid_request",
                format!("`{name}` is given more than once"),
            ));
        }
    }
    Ok(form)
}

/// `client_id` and `client_secret` from HTTP Basic (each form-urlencoded, RFC 6749 section
/// 2.3.1) or from the form; both at once is refused (section 2.3).
fn client_credentials(headers: &HeaderMap, form: &Form) -> Result<(String, String), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    match (basic, &form.client_id, &form.client_secret) {
        (Some(_), _, Some(_)) => Err(error(
            "invalid_request",
            "authenticate with HTTP Basic or with client_secret in the form, not both",
        )),
        (Some((_, encoded)), _, None) => {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| error("invalid_client", "malformed HTTP Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| error("invalid_client", "malformed HTTP Basic credentials"))?;
            let unescape = |s: &str| -> String {
                form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Ok((unescape(id), unescape(secret)))
        }
        (None, Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
        _ => Err(error(
            "invalid_client",
            "send client_id and client_secret (HTTP Basic or the form)",
        )),
    }
}

/// `POST /oauth/token`.
async fn token(State(auth): State<Authenticator>, headers: HeaderMap, body: Bytes) -> Response {
    match issue(&auth, &headers, &body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn issue(auth: &Authenticator, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let oauth = auth
        .oauth
        .as_ref()
        .ok_or_else(|| error("unauthorized_client", "OAuth2 is not enabled"))?;
    let form = parse_form(headers, body)?;
    let (client_id, secret) = client_credentials(headers, &form)?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(error(
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
        None => return Err(error("invalid_request", "`grant_type` is required")),
    }
    let now = Utc::now();
    let key = auth.client(&client_id, &secret, now).ok_or_else(|| {
        error(
            "invalid_client",
            "unknown client, wrong secret, or a revoked or expired key",
        )
    })?;
    let roles = match form.scope.as_deref().map(str::trim) {
        None | Some("") => key.roles.clone(),
        Some(scope) => {
            let mut roles = Vec::new();
            for name in scope.split(' ').filter(|s| !s.is_empty()) {
                let role = name
                    .parse::<Role>()
                    .ok()
                    .filter(|r| key.roles.contains(r))
                    .ok_or_else(|| {
                        error(
                            "invalid_scope",
                            format!("{name:?} is not a role of this client"),
                        )
                    })?;
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
            roles
        }
    };
    let caller = Caller {
        tenant: key.tenant.clone(),
        actor: Actor::OAuthClient(key.key_id.clone()),
        scopes: Role::scopes_of(&roles),
        roles: roles.clone(),
        fleets: key.fleets.clone(),
        driver: key.driver,
    };
    let decision = auth.limit(&Principal::Tenant(caller));
    if let Decision::Limited {
        retry_after_secs, ..
    } = decision
    {
        let mut response = ApiError::RateLimited { retry_after_secs }.into_response();
        rate_limit_headers(response.headers_mut(), decision);
        return Ok(response);
    }
    let names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let new = NewToken {
        client_id: key.key_id.clone(),
        tenant: key.tenant.to_string(),
        roles: names.clone(),
        fleets: key.fleets.iter().map(ToString::to_string).collect(),
    };
    let (jwt, expires_in) = match oauth.issuer.issue(new, oauth.ttl, now) {
        Ok(issued) => issued,
        Err(e) => {
            tracing::error!(error = %e, "no OAuth2 token could be issued");
            let why = "no token can be issued now; retry".into();
            return Ok(ApiError::Unavailable(why).into_response());
        }
    };
    auth.directory.mark_used(&key.key_id, now);
    let body = json!({
        "access_token": jwt,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": names.join(" "),
    });
    let mut response = (StatusCode::OK, no_store(), axum::Json(body)).into_response();
    rate_limit_headers(response.headers_mut(), decision);
    Ok(response)
}

/// `GET /.well-known/jwks.json`: the public keys of Joule's tokens.
async fn jwks(State(auth): State<Authenticator>) -> Response {
    let Some(oauth) = auth.oauth.as_ref().map(Arc::clone) else {
        return ApiError::NotFound("OAuth2 is not enabled".into()).into_response();
    };
    let keys = oauth.issuer.jwks(Utc::now());
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        axum::Json(keys),
    )
        .into_response()
}
