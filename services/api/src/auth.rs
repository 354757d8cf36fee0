//! Bearer-token authentication. Only a SHA-256 digest of the admin token is kept after start, and
//! tokens are compared digest to digest in constant time, so neither the token's content nor its
//! length leaks through timing, logs or `Debug`.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use joule_domain::TenantId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::ApiError;

/// Why the api refuses to start with the configured admin token.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    #[error("JOULE_ADMIN_TOKEN must be set: the api refuses to start without an admin token")]
    Missing,
    /// The reason names lengths only, never the token.
    #[error(
        "JOULE_ADMIN_TOKEN is too weak: {0}. Use a random one, for example `openssl rand -hex 32`"
    )]
    Weak(String),
}

/// Who may call the API and for which tenant.
#[derive(Clone)]
pub struct Authenticator {
    admin_digest: [u8; 32],
    admin_tenant: TenantId,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("admin_tenant", &self.admin_tenant)
            .finish_non_exhaustive()
    }
}

/// The authenticated caller, available to handlers as a request extension.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
}

impl Authenticator {
    pub fn new(admin_token: &str, admin_tenant: TenantId) -> Result<Self, AdminTokenError> {
        if admin_token.trim().is_empty() {
            return Err(AdminTokenError::Missing);
        }
        if let Some(reason) = joule_config::admin_token_weakness(admin_token) {
            return Err(AdminTokenError::Weak(reason));
        }
        Ok(Self {
            admin_digest: digest(admin_token),
            admin_tenant,
        })
    }

    /// The caller a request's `Authorization` header value stands for.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        let token = authorization
            .and_then(bearer)
            .ok_or(ApiError::Unauthenticated)?;
        if bool::from(digest(token).ct_eq(&self.admin_digest)) {
            Ok(Caller {
                tenant: self.admin_tenant.clone(),
            })
        } else {
            Err(ApiError::Unauthenticated)
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

/// Middleware: refuses unauthenticated requests before any handler (or body parsing) runs.
pub async fn require_caller(
    State(auth): State<Authenticator>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = auth.authenticate(header)?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new("s3cret-9f4c1e7a2b6d8e0f5a", TenantId::default_tenant()).unwrap()
    }

    #[test]
    fn accepts_only_the_admin_token() {
        assert_eq!(
            auth()
                .authenticate(Some("Bearer s3cret-9f4c1e7a2b6d8e0f5a"))
                .unwrap()
                .tenant,
            TenantId::default_tenant()
        );
        assert!(
            auth()
                .authenticate(Some("bearer s3cret-9f4c1e7a2b6d8e0f5a"))
                .is_ok()
        );
        assert!(auth().authenticate(Some("Bearer s3cre")).is_err());
        assert!(
            auth()
                .authenticate(Some("Bearer s3cret-9f4c1e7a2b6d8e0f5a2"))
                .is_err()
        );
        assert!(
            auth()
                .authenticate(Some("Basic s3cret-9f4c1e7a2b6d8e0f5a"))
                .is_err()
        );
        assert!(auth().authenticate(Some("Bearer ")).is_err());
        assert!(
            auth()
                .authenticate(Some("s3cret-9f4c1e7a2b6d8e0f5a"))
                .is_err()
        );
        assert!(auth().authenticate(None).is_err());
    }

    #[test]
    fn refuses_an_empty_or_weak_admin_token_and_never_shows_it() {
        assert!(Authenticator::new("", TenantId::default_tenant()).is_err());
        assert!(Authenticator::new("  ", TenantId::default_tenant()).is_err());
        for weak in [
            "demo-admin-token",
            "test-admin-token",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            let error = Authenticator::new(weak, TenantId::default_tenant()).unwrap_err();
            assert!(matches!(error, AdminTokenError::Weak(_)), "{weak}");
            assert!(!error.to_string().contains(weak), "{error}");
        }
        assert!(!format!("{:?}", auth()).contains("s3cret-9f4c1e7a2b6d8e0f5a"));
    }
}
