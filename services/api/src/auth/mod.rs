//! Who is calling (ADR 034): every request carries `Authorization: Bearer <credential>`, one of
//! - an API key `jk_<env>_<id>_<secret>` of a tenant ([`keys`], checked against this replica's
//!   [`directory`] without a database round trip);
//! - the platform credential (`JOULE_PLATFORM_TOKEN`): tenants and their first keys only;
//! - the admin token (`JOULE_ADMIN_TOKEN`): the default tenant's break-glass admin.
//!
//! Secrets are compared digest to digest in constant time and never logged. After authentication
//! the request takes a token from its credential's and its tenant's rate-limit buckets ([`rate`]);
//! the route then checks its scope ([`crate::routes::table`]).

pub mod directory;
pub mod keys;
pub mod rate;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use joule_domain::{FleetId, TenantId};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::{Role, Scope, Scopes};
use crate::problem::ApiError;
use directory::Directory;
use rate::{Decision, Limiter, Quota};

/// Why the api refuses to start with the configured admin or platform token.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    #[error("JOULE_ADMIN_TOKEN must be set: the api refuses to start without an admin token")]
    Missing,
    /// The reason names lengths only, never the token.
    #[error("{0} is too weak: {1}. Use a random one, for example `openssl rand -hex 32`")]
    Weak(&'static str, String),
}

/// What acts: recorded in the audit log and used as the rate-limit bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    AdminToken,
    ApiKey(String),
    Platform,
}

impl Actor {
    /// The actor as the audit log names it.
    pub fn name(&self) -> String {
        match self {
            Actor::AdminToken => "admin-token".into(),
            Actor::ApiKey(id) => format!("key:{id}"),
            Actor::Platform => "platform".into(),
        }
    }

    /// The kind of credential.
    pub fn credential(&self) -> &'static str {
        match self {
            Actor::AdminToken => "admin_token",
            Actor::ApiKey(_) => "api_key",
            Actor::Platform => "platform_token",
        }
    }
}

/// A caller acting for a tenant, available to handlers as a request extension.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub actor: Actor,
    pub roles: Vec<Role>,
    pub scopes: Scopes,
    /// The fleets a `fleet_manager` credential is limited to (empty: not limited to fleets).
    pub fleets: Vec<FleetId>,
}

/// Whoever passed authentication: a tenant's caller or the platform administrator.
#[derive(Debug, Clone)]
pub enum Principal {
    Tenant(Caller),
    Platform,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        match self {
            Principal::Tenant(caller) => caller.scopes.contains(scope),
            Principal::Platform => scope == Scope::Platform,
        }
    }

    pub fn actor(&self) -> Actor {
        match self {
            Principal::Tenant(caller) => caller.actor.clone(),
            Principal::Platform => Actor::Platform,
        }
    }
}

/// Who may call the API.
#[derive(Clone)]
pub struct Authenticator {
    admin_digest: [u8; 32],
    admin_tenant: TenantId,
    platform_digest: Option<[u8; 32]>,
    pub directory: Arc<Directory>,
    limiter: Arc<Limiter>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("admin_tenant", &self.admin_tenant)
            .field("platform", &self.platform_digest.is_some())
            .finish_non_exhaustive()
    }
}

/// Checks a configured token: required (admin) or optional (platform), and strong.
pub fn token_digest(
    name: &'static str,
    token: &str,
    required: bool,
) -> Result<Option<[u8; 32]>, AdminTokenError> {
    if token.trim().is_empty() {
        return if required {
            Err(AdminTokenError::Missing)
        } else {
            Ok(None)
        };
    }
    if let Some(reason) = joule_config::admin_token_weakness(token) {
        return Err(AdminTokenError::Weak(name, reason));
    }
    Ok(Some(digest(token)))
}

impl Authenticator {
    pub fn new(
        admin_token: &str,
        admin_tenant: TenantId,
        platform_token: &str,
        directory: Arc<Directory>,
        limiter: Arc<Limiter>,
    ) -> Result<Self, AdminTokenError> {
        let admin_digest = token_digest("JOULE_ADMIN_TOKEN", admin_token, true)?
            .ok_or(AdminTokenError::Missing)?;
        let platform_digest = token_digest("JOULE_PLATFORM_TOKEN", platform_token, false)?;
        Ok(Self {
            admin_digest,
            admin_tenant,
            platform_digest,
            directory,
            limiter,
        })
    }

    /// Whom a request's `Authorization` header value stands for.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let token = authorization
            .and_then(bearer)
            .ok_or(ApiError::Unauthenticated)?;
        if let Some(key_id) = keys::key_id_of(token) {
            let now = Utc::now();
            let key = self
                .directory
                .key(key_id)
                .filter(|k| k.opens(&keys::digest(token), now))
                .ok_or(ApiError::Unauthenticated)?;
            self.directory.mark_used(key_id, now);
            return Ok(Principal::Tenant(Caller {
                tenant: key.tenant.clone(),
                actor: Actor::ApiKey(key.key_id.clone()),
                roles: key.roles.clone(),
                scopes: key.scopes,
                fleets: key.fleets.clone(),
            }));
        }
        let presented = digest(token);
        if bool::from(presented.ct_eq(&self.admin_digest)) {
            return Ok(Principal::Tenant(Caller {
                tenant: self.admin_tenant.clone(),
                actor: Actor::AdminToken,
                roles: vec![Role::Admin],
                scopes: Role::Admin.scopes(),
                fleets: Vec::new(),
            }));
        }
        match &self.platform_digest {
            Some(platform) if bool::from(presented.ct_eq(platform)) => Ok(Principal::Platform),
            _ => Err(ApiError::Unauthenticated),
        }
    }

    /// Takes the request's tokens from its rate-limit buckets.
    pub fn limit(&self, principal: &Principal) -> Decision {
        match principal {
            Principal::Tenant(caller) => {
                let bucket = caller.actor.name();
                self.limiter.check(&bucket, &caller.roles, &caller.tenant)
            }
            // The platform credential has buckets of its own ("platform" is no tenant's id),
            // limited like an admin key.
            Principal::Platform => {
                let platform: TenantId = "platform".parse().expect("a valid tenant id");
                self.limiter.check("platform", &[Role::Admin], &platform)
            }
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The credentials of `Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware: refuses unauthenticated and rate-limited requests before any handler (or body
/// parsing) runs, and adds the rate-limit headers to every answer.
pub async fn require_caller(
    State(auth): State<Authenticator>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = auth.authenticate(header)?;
    let decision = auth.limit(&principal);
    if let Principal::Tenant(caller) = &principal {
        request.extensions_mut().insert(caller.clone());
    }
    request.extensions_mut().insert(principal);
    let mut response = match decision {
        Decision::Allowed { .. } => next.run(request).await,
        Decision::Limited {
            retry_after_secs, ..
        } => ApiError::RateLimited { retry_after_secs }.into_response(),
    };
    rate_limit_headers(response.headers_mut(), decision);
    Ok(response)
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-11): the credential's
/// policy `"key"` and the tenant's `"tenant"`.
fn rate_limit_headers(headers: &mut HeaderMap, decision: Decision) {
    let (key, tenant) = match decision {
        Decision::Allowed { key, tenant } | Decision::Limited { key, tenant, .. } => (key, tenant),
    };
    let policy = |name: &str, q: Quota| {
        format!("\"{name}\";q={};w={}", q.limit.burst, q.limit.window_secs())
    };
    let state = |name: &str, q: Quota| format!("\"{name}\";r={};t={}", q.remaining, q.reset_secs);
    let values = [
        (
            "ratelimit-policy",
            format!("{}, {}", policy("key", key), policy("tenant", tenant)),
        ),
        (
            "ratelimit",
            format!("{}, {}", state("key", key), state("tenant", tenant)),
        ),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}
