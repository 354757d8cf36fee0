//! Who is calling (ADR 034): every request carries `Authorization: Bearer <credential>`, one of
//! - an API key `jk_<env>_<id>_<secret>` of a tenant ([`keys`], checked against this replica's
//!   [`directory`] without a database round trip);
//! - an OAuth2 access token (a JWT, [`oauth`]): one the token endpoint issued to an API key
//!   (`client_id` = the key's id; valid while the key is), or one of the configured external
//!   OpenID Connect issuer, whose claims map to a tenant, roles and fleets;
//! - the platform credential (`JOULE_PLATFORM_TOKEN`): tenants and their first keys only;
//! - the admin token (`JOULE_ADMIN_TOKEN`): the default tenant's break-glass admin.
//!
//! Secrets are compared digest to digest in constant time and never logged. After authentication
//! the request takes a token from its credential's and its tenant's rate-limit buckets ([`rate`]);
//! the route then checks its scope ([`crate::routes::table`]).

pub mod directory;
pub mod keys;
pub mod oauth;
pub mod rate;
pub mod token_endpoint;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use joule_auth::AuthError;
use joule_domain::{DriverId, FleetId, TenantId};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::{Role, Scope, Scopes};
use crate::problem::ApiError;
use directory::Directory;
use oauth::OAuth;
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
    /// An access token the token endpoint issued to the API key with this id.
    OAuthClient(String),
    /// An external issuer's token for this subject.
    External(String),
    Platform,
}

impl Actor {
    /// The actor as the audit log names it.
    pub fn name(&self) -> String {
        match self {
            Actor::AdminToken => "admin-token".into(),
            Actor::ApiKey(id) => format!("key:{id}"),
            Actor::OAuthClient(id) => format!("client:{id}"),
            Actor::External(subject) => format!("oidc:{subject}"),
            Actor::Platform => "platform".into(),
        }
    }

    /// The kind of credential.
    pub fn credential(&self) -> &'static str {
        match self {
            Actor::AdminToken => "admin_token",
            Actor::ApiKey(_) => "api_key",
            Actor::OAuthClient(_) => "oauth_client",
            Actor::External(_) => "oidc_token",
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
    /// The driver a `driver` credential acts for (ADR 038).
    pub driver: Option<DriverId>,
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
    /// Bearer JWTs are accepted only with it.
    pub oauth: Option<Arc<OAuth>>,
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
            oauth: None,
        })
    }

    /// Accepts OAuth2 access tokens too.
    pub fn with_oauth(mut self, oauth: Arc<OAuth>) -> Self {
        self.oauth = Some(oauth);
        self
    }

    /// Whom a request's `Authorization` header value stands for: an access token (a JWT) or any
    /// other credential ([`Authenticator::authenticate`]).
    pub async fn authenticate_any(
        &self,
        authorization: Option<&str>,
    ) -> Result<Principal, ApiError> {
        match authorization.and_then(bearer) {
            Some(token) if is_jwt(token) => self.authenticate_jwt(token).await,
            _ => self.authenticate(authorization),
        }
    }

    /// The caller of an access token. Joule's own tokens hold while the API key they were issued
    /// to is live (revoking the key ends them) and only with roles the key still has; an external
    /// issuer's need a tenant this deployment has. A fleet manager without fleets is refused.
    pub async fn authenticate_jwt(&self, jwt: &str) -> Result<Principal, ApiError> {
        let oauth = self.oauth.as_ref().ok_or(ApiError::Unauthenticated)?;
        let now = Utc::now();
        let principal = oauth.verifier.verify(jwt, now).await.map_err(|e| match e {
            AuthError::KeysUnavailable(why) => {
                ApiError::Unavailable(format!("the token issuer's keys are unavailable: {why}"))
            }
            _ => ApiError::Unauthenticated,
        })?;
        let tenant: TenantId = principal
            .tenant
            .parse()
            .map_err(|_| ApiError::Unauthenticated)?;
        if self.directory.tenant(&tenant).is_none() {
            return Err(ApiError::Unauthenticated);
        }
        let roles = parse_all::<Role>(&principal.roles)?;
        let mut fleets = parse_all::<FleetId>(&principal.fleets)?;
        let mut driver = principal
            .driver
            .as_deref()
            .map(str::parse::<DriverId>)
            .transpose()
            .map_err(|_| ApiError::Unauthenticated)?;
        let actor = if oauth.is_own(&principal.issuer) {
            let client = principal.client_id.as_deref().unwrap_or(&principal.subject);
            let key = self
                .directory
                .key(client)
                .filter(|k| k.tenant == tenant && k.is_live(now))
                .filter(|k| roles.iter().all(|r| k.roles.contains(r)))
                .ok_or(ApiError::Unauthenticated)?;
            // The key's fleets and driver as they are now, not as when the token was issued.
            fleets.clone_from(&key.fleets);
            driver = key.driver;
            self.directory.mark_used(&key.key_id, now);
            Actor::OAuthClient(key.key_id.clone())
        } else {
            Actor::External(principal.subject)
        };
        // A fleet manager without fleets or a driver who is no one would reach nothing.
        if (roles.contains(&Role::FleetManager) && fleets.is_empty())
            || (roles.contains(&Role::Driver) && driver.is_none())
        {
            return Err(ApiError::Unauthenticated);
        }
        Ok(Principal::Tenant(Caller {
            tenant,
            actor,
            scopes: Role::scopes_of(&roles),
            roles,
            fleets,
            driver,
        }))
    }

    /// The API key `secret` if it is live at `now` and its id is `client_id`: the token
    /// endpoint's client authentication.
    pub fn client(
        &self,
        client_id: &str,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Option<Arc<directory::KeyRecord>> {
        let key_id = keys::key_id_of(secret).filter(|id| *id == client_id)?;
        self.directory
            .key(key_id)
            .filter(|k| k.opens(&keys::digest(secret), now))
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
                driver: key.driver,
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
                driver: None,
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

/// Whether a bearer token is a JWT (three base64url parts) rather than a key or a token.
fn is_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Every claim value parsed, or the token is refused.
fn parse_all<T: std::str::FromStr>(values: &[String]) -> Result<Vec<T>, ApiError> {
    values
        .iter()
        .map(|v| v.parse().map_err(|_| ApiError::Unauthenticated))
        .collect()
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
    let principal = auth.authenticate_any(header).await?;
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
