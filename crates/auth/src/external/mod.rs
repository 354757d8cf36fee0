//! An external OpenID Connect issuer whose tokens Joule accepts: configured by its `iss`, its JWKS
//! URL, the audience its tokens must name for Joule, and a [`ClaimMapping`].
//!
//! The JWKS is fetched over HTTPS (plain HTTP only to a loopback address, for tests), without
//! following redirects, at most 256 KiB, and cached. A token whose `kid` is not in the cache makes
//! one fetch, at most once per [`MIN_REFETCH_SECS`] (by the verification's clock), so a flood of
//! made-up kids cannot hammer the issuer; [`ExternalIssuer::refresh`] refetches unconditionally
//! (the caller runs it every few minutes), and a key gone from the JWKS stops verifying then.
//! RS256 (2048 bits or more), ES256 and EdDSA keys are used; others in the JWKS are ignored.

mod mapping;

pub use mapping::ClaimMapping;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Url;

use crate::AuthError;
use crate::claims::Principal;
use crate::error::ConfigError;
use crate::jwk::{VerifyingKey, parse_jwks};
use crate::jws::{Compact, Expected, check_registered_claims};

/// The least time between two fetches caused by unknown kids, in seconds.
pub const MIN_REFETCH_SECS: i64 = 30;
/// The largest JWKS accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The configuration of one external issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIssuerConfig {
    /// Its `iss` value, exactly as in its tokens.
    pub issuer: String,
    /// Where its JWKS is (`https://`, or `http://` to a loopback address).
    pub jwks_url: String,
    /// The `aud` its tokens must carry to be accepted by Joule.
    pub audience: String,
    pub mapping: ClaimMapping,
}

type Keys = Arc<HashMap<String, VerifyingKey>>;

/// An external issuer and its cached keys.
pub struct ExternalIssuer {
    config: ExternalIssuerConfig,
    url: Url,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    /// When the last fetch started (successful or not), by the callers' clock.
    last_fetch: Mutex<Option<DateTime<Utc>>>,
    /// One fetch at a time; the others wait and then see its result.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ExternalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIssuer")
            .field("issuer", &self.config.issuer)
            .field("jwks_url", &self.config.jwks_url)
            .field("kids", &self.current().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ExternalIssuer {
    /// Checks the configuration; fetches nothing yet (the first token does, or
    /// [`ExternalIssuer::refresh`]).
    pub fn new(config: ExternalIssuerConfig) -> Result<Self, ConfigError> {
        if config.issuer.is_empty() || config.audience.is_empty() {
            return Err(ConfigError::Invalid(
                "an external issuer needs its issuer and audience".into(),
            ));
        }
        config.mapping.check()?;
        let url = jwks_url(&config.jwks_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            url,
            http,
            keys: RwLock::new(Arc::new(HashMap::new())),
            last_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn config(&self) -> &ExternalIssuerConfig {
        &self.config
    }

    fn current(&self) -> Keys {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether the cached JWKS holds `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.current().contains_key(kid)
    }

    /// Fetches the JWKS now and replaces the cached keys; on failure the cache is kept.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(), AuthError> {
        let _fetching = self.fetching.lock().await;
        self.fetch(now).await
    }

    /// After a token named `kid` that is not cached: fetches the JWKS unless the last fetch was
    /// less than [`MIN_REFETCH_SECS`] before `now`. Whether `kid` is known afterwards.
    pub(crate) async fn refetch_for(
        &self,
        kid: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let _fetching = self.fetching.lock().await;
        if self.has_kid(kid) {
            return Ok(true);
        }
        let last = *self.last_fetch.lock().unwrap_or_else(|e| e.into_inner());
        let throttled = last.is_some_and(|last| {
            last.checked_add_signed(TimeDelta::seconds(MIN_REFETCH_SECS))
                .is_none_or(|next| now < next)
        });
        if throttled {
            return Ok(false);
        }
        self.fetch(now).await?;
        Ok(self.has_kid(kid))
    }

    async fn fetch(&self, now: DateTime<Utc>) -> Result<(), AuthError> {
        *self.last_fetch.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        let keys = self.download().await.map_err(|reason| {
            AuthError::KeysUnavailable(format!("{} ({})", reason, self.config.jwks_url))
        })?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }

    async fn download(&self) -> Result<HashMap<String, VerifyingKey>, String> {
        let mut response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("cannot fetch the JWKS: {}", error_kind(&e)))?;
        if !response.status().is_success() {
            return Err(format!("the JWKS URL answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("cannot read the JWKS: {}", error_kind(&e)))?
        {
            if body.len().saturating_add(chunk.len()) > MAX_JWKS_BYTES {
                return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let jwks: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| "the JWKS is not JSON".to_owned())?;
        parse_jwks(&jwks).map_err(|e| e.to_string())
    }

    /// Verifies a token of this issuer with the cached keys ([`AuthError::UnknownKey`] when its
    /// kid is not cached): its principal and `exp`.
    pub(crate) fn verify(
        &self,
        token: &Compact<'_>,
        now: DateTime<Utc>,
    ) -> Result<(Principal, i64), AuthError> {
        match token.header.typ.as_deref() {
            None => {}
            Some(typ)
                if ["JWT", "at+jwt", "application/at+jwt"]
                    .iter()
                    .any(|t| typ.eq_ignore_ascii_case(t)) => {}
            Some(_) => return Err(AuthError::WrongType),
        }
        let keys = self.current();
        let key = keys.get(&token.header.kid).ok_or(AuthError::UnknownKey)?;
        token.verify_signature(key)?;
        let expected = Expected {
            issuer: &self.config.issuer,
            audience: &self.config.audience,
        };
        let exp = check_registered_claims(&token.claims, expected, now)?;
        let principal = self
            .config
            .mapping
            .principal(&self.config.issuer, &token.claims)?;
        Ok((principal, exp))
    }
}

/// What went wrong with a request, in a word (the caller adds the URL once).
fn error_kind(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_redirect() {
        "redirected (redirects are not followed)"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// The JWKS URL: `https://`, or `http://` to a loopback address only.
fn jwks_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text)
        .map_err(|_| ConfigError::Invalid(format!("the JWKS URL {text:?} is not a URL")))?;
    let loopback = url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(ConfigError::Invalid(format!(
            "the JWKS URL {text:?} must be https:// (http:// only to a loopback address)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwks_url_is_https_or_loopback_http() {
        assert!(jwks_url("https://idp.example/.well-known/jwks.json").is_ok());
        assert!(jwks_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(jwks_url("http://[::1]:8080/jwks").is_ok());
        assert!(jwks_url("http://localhost/jwks").is_ok());
        assert!(jwks_url("http://idp.example/jwks").is_err());
        assert!(jwks_url("http://10.0.0.1/jwks").is_err());
        assert!(jwks_url("file:///etc/jwks").is_err());
        assert!(jwks_url("idp.example").is_err());
    }
}
