//! The one entry point for a bearer JWT: [`Verifier::verify`] routes a token by its `iss` to Joule's
//! own key ring or to the configured external issuer, and remembers verified tokens until they
//! expire (see `cache`). The path is synchronous except when an external issuer's JWKS has to be
//! fetched for a kid it does not know yet.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::AuthError;
use crate::cache::{Entry, Source, TokenCache};
use crate::claims::{Claims, Principal};
use crate::error::ConfigError;
use crate::external::ExternalIssuer;
use crate::issuer::TokenIssuer;
use crate::jws::{Compact, Expected, MAX_TOKEN_BYTES, check_registered_claims};
use crate::keys::KeyRing;

/// The default number of verified tokens remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Joule's own tokens: the `iss` and `aud` they carry, and the ring whose keys verify them.
#[derive(Debug, Clone)]
pub struct OwnTokens {
    pub issuer: String,
    pub audience: String,
    pub ring: KeyRing,
}

impl From<&TokenIssuer> for OwnTokens {
    fn from(issuer: &TokenIssuer) -> Self {
        Self {
            issuer: issuer.issuer().to_owned(),
            audience: issuer.audience().to_owned(),
            ring: issuer.ring().clone(),
        }
    }
}

/// Verifies bearer JWTs of Joule and of external issuers.
pub struct Verifier {
    own: Option<OwnTokens>,
    external: Vec<Arc<ExternalIssuer>>,
    cache: TokenCache,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("own", &self.own.as_ref().map(|o| &o.issuer))
            .field("external", &self.external)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier of Joule's tokens (if `own`) and of `external` issuers' tokens, remembering up
    /// to `cache_capacity` verified tokens (0: none). Two issuers with the same `iss` are refused.
    pub fn new(
        own: Option<OwnTokens>,
        external: Vec<Arc<ExternalIssuer>>,
        cache_capacity: usize,
    ) -> Result<Self, ConfigError> {
        let mut names: Vec<&str> = external.iter().map(|e| e.issuer()).collect();
        names.extend(own.as_ref().map(|o| o.issuer.as_str()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        if names.len() != count {
            return Err(ConfigError::Invalid(
                "two trusted issuers have the same `iss`".into(),
            ));
        }
        Ok(Self {
            own,
            external,
            cache: TokenCache::new(cache_capacity),
        })
    }

    /// Who `jwt` stands for at `now`, or why it is refused.
    pub async fn verify(&self, jwt: &str, now: DateTime<Utc>) -> Result<Principal, AuthError> {
        if jwt.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge {
                limit: MAX_TOKEN_BYTES,
            });
        }
        let digest: [u8; 32] = Sha256::digest(jwt.as_bytes()).into();
        let cached = self.cache.get(&digest, now.timestamp(), |source, kid| {
            self.key_still_valid(source, kid, now)
        });
        if let Some(principal) = cached {
            return Ok(principal);
        }
        let token = Compact::parse(jwt)?;
        let kid = token.header.kid.clone();
        let issuer = token.unverified_issuer()?;
        let (principal, exp, source) = match &self.own {
            Some(own) if own.issuer == issuer => {
                let (principal, exp) = verify_own(own, token, now)?;
                (principal, exp, Source::Own)
            }
            _ => {
                let (index, external) = self
                    .external
                    .iter()
                    .enumerate()
                    .find(|(_, e)| e.issuer() == issuer)
                    .ok_or(AuthError::UnknownIssuer)?;
                let (principal, exp) = match external.verify(&token, now) {
                    Err(AuthError::UnknownKey) if external.refetch_for(&kid, now).await? => {
                        external.verify(&token, now)?
                    }
                    verified => verified?,
                };
                (principal, exp, Source::External(index))
            }
        };
        self.cache.insert(
            digest,
            Entry {
                principal: principal.clone(),
                exp,
                source,
                kid,
            },
        );
        Ok(principal)
    }

    fn key_still_valid(&self, source: Source, kid: &str, now: DateTime<Utc>) -> bool {
        match source {
            Source::Own => self
                .own
                .as_ref()
                .is_some_and(|own| own.ring.current().verifying_key(kid, now).is_some()),
            Source::External(index) => self.external.get(index).is_some_and(|e| e.has_kid(kid)),
        }
    }
}

/// A token of Joule's: a current key of the ring, type `JWT`, the registered claims, then exactly
/// the claims Joule writes.
fn verify_own(
    own: &OwnTokens,
    mut token: Compact<'_>,
    now: DateTime<Utc>,
) -> Result<(Principal, i64), AuthError> {
    if !token
        .header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case("JWT"))
    {
        return Err(AuthError::WrongType);
    }
    let keys = own.ring.current();
    let key = keys
        .verifying_key(&token.header.kid, now)
        .ok_or(AuthError::UnknownKey)?;
    token.verify_signature(key)?;
    let expected = Expected {
        issuer: &own.issuer,
        audience: &own.audience,
    };
    let exp = check_registered_claims(&token.claims, expected, now)?;
    let claims: Claims =
        serde_json::from_value(serde_json::Value::Object(std::mem::take(&mut token.claims)))
            .map_err(|_| AuthError::InvalidClaim("claims"))?;
    Ok((claims.into_principal()?, exp))
}

#[cfg(test)]
mod tests;
