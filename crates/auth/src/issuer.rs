//! Issuing Joule's access tokens (the OAuth2 client-credentials grant's answer, RFC 6749 section
//! 4.4): EdDSA JWTs signed by the key ring's active key, and the JWKS that publishes the keys.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

use crate::claims::{Claims, NewToken, valid_value, valid_values};
use crate::error::{ConfigError, IssueError};
use crate::keys::{KeyRing, delta};

/// The token lifetime proposed for the token endpoint (ADR 033); configurable per call.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// Signs Joule's tokens with the ring's active key.
#[derive(Debug)]
pub struct TokenIssuer {
    ring: KeyRing,
    issuer: String,
    audience: String,
    rng: SystemRandom,
}

impl TokenIssuer {
    /// An issuer writing `iss` = `issuer` (Joule's public URL, say) and `aud` = `audience`.
    pub fn new(ring: KeyRing, issuer: &str, audience: &str) -> Result<Self, ConfigError> {
        if !valid_value(issuer) || !valid_value(audience) {
            return Err(ConfigError::Invalid(
                "the issuer and audience must be non-empty, at most 128 bytes".into(),
            ));
        }
        Ok(Self {
            ring,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            rng: SystemRandom::new(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// A signed token for `token`, valid from `now` for `ttl` (1 s up to the policy's maximum
    /// token lifetime), and its lifetime in seconds (the token endpoint's `expires_in`).
    pub fn issue(
        &self,
        token: NewToken,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(String, u64), IssueError> {
        let max = self.ring.policy().max_token_lifetime;
        if ttl < Duration::from_secs(1) || ttl > max {
            return Err(IssueError::InvalidLifetime { max });
        }
        if !valid_value(&token.client_id) {
            return Err(IssueError::InvalidClaim("client_id"));
        }
        if !valid_value(&token.tenant) {
            return Err(IssueError::InvalidClaim("tenant"));
        }
        if token.roles.is_empty() || !valid_values(&token.roles) {
            return Err(IssueError::InvalidClaim("roles"));
        }
        if !valid_values(&token.fleets) {
            return Err(IssueError::InvalidClaim("fleets"));
        }
        let keys = self.ring.current();
        let key = keys
            .signer(now, self.ring.policy().activation_delay)
            .ok_or(IssueError::NoSigningKey)?;
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| IssueError::Crypto("no randomness for a token id"))?;
        let iat = now.timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: token.client_id.clone(),
            aud: self.audience.clone(),
            exp: now
                .checked_add_signed(delta(ttl))
                .ok_or(IssueError::InvalidLifetime { max })?
                .timestamp(),
            iat,
            nbf: iat,
            jti: URL_SAFE_NO_PAD.encode(jti),
            tenant: token.tenant,
            roles: token.roles,
            fleets: token.fleets,
            client_id: token.client_id,
        };
        let header = json!({"alg": "EdDSA", "kid": key.kid, "typ": "JWT"});
        let jwt = crate::jws::encode_with(&header, &claims, |input| {
            key.pair.sign(input).as_ref().to_vec()
        })
        .map_err(|_| IssueError::Crypto("cannot serialise the claims"))?;
        Ok((jwt, ttl.as_secs()))
    }

    /// The JWKS (RFC 7517) of Joule's keys not retired at `now`, for the JWKS route:
    /// `{"keys":[{"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"alg":"EdDSA","use":"sig"}]}`.
    pub fn jwks(&self, now: DateTime<Utc>) -> Value {
        self.ring.current().jwks(now)
    }
}
