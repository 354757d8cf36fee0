//! OAuth2 in the api (ADR 033): the signing keys (sealed in `api.oauth_signing_keys`, rotated by
//! whichever replica finds the newest key too old), the issuer of client-credential tokens, the
//! optional external OpenID Connect issuer, and the verifier of bearer JWTs of both.
//!
//! Without `JOULE_OAUTH_KEY_ENCRYPTION_KEY` the process signs with one in-memory key: tokens die
//! with the process and another replica does not accept them (a warning says so at start).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use joule_auth::{
    ClaimMapping, DEFAULT_CACHE_CAPACITY, ExternalIssuer, ExternalIssuerConfig, KeyEncryptionKey,
    KeyPolicy, KeyRing, KeyStore, OwnTokens, TokenIssuer, Verifier,
};
use joule_config::Settings;
use joule_runtime::BoxError;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::SCHEMA;

/// How often the signing keys are rotated if due and reloaded (at most the activation delay, so a
/// new key is known to every replica before it signs).
const KEYS_EVERY: Duration = Duration::from_secs(60);
/// How often the external issuer's JWKS is fetched again.
const EXTERNAL_EVERY: Duration = Duration::from_secs(300);

/// The api's tokens: who signs them, how long they live, and who verifies bearer JWTs.
pub struct OAuth {
    store: Option<KeyStore>,
    pub issuer: TokenIssuer,
    pub verifier: Verifier,
    external: Option<Arc<ExternalIssuer>>,
    /// The lifetime of the tokens the token endpoint issues.
    pub ttl: Duration,
    rotation: Duration,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("issuer", &self.issuer.issuer())
            .field("stored_keys", &self.store.is_some())
            .field("external", &self.external.as_ref().map(|e| e.issuer()))
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// Checks the settings, loads (or creates) the signing keys and configures the external issuer.
    pub async fn start(pool: &PgPool, s: &Settings) -> Result<Self, BoxError> {
        let policy = KeyPolicy::default();
        let ttl = Duration::from_secs(s.oauth_token_ttl_secs);
        if ttl < Duration::from_secs(60) || ttl > policy.max_token_lifetime {
            return Err(format!(
                "JOULE_OAUTH_TOKEN_TTL_SECS must be between 60 and {}",
                policy.max_token_lifetime.as_secs()
            )
            .into());
        }
        if s.oauth_key_rotation_days == 0 || s.oauth_key_rotation_days > 366 {
            return Err("JOULE_OAUTH_KEY_ROTATION_DAYS must be between 1 and 366".into());
        }
        let rotation = Duration::from_secs(u64::from(s.oauth_key_rotation_days) * 86_400);
        let now = Utc::now();
        let (store, ring) = match s.oauth_key_encryption_key.expose().trim() {
            "" => {
                tracing::warn!(
                    "JOULE_OAUTH_KEY_ENCRYPTION_KEY is not set: OAuth2 tokens are signed with a key \
                     that lives only in this process; set it (32 random bytes, base64) when more than \
                     one api replica runs or tokens must survive a restart"
                );
                (None, KeyRing::ephemeral(policy, now)?)
            }
            kek => {
                let kek = KeyEncryptionKey::from_base64(kek)
                    .map_err(|e| format!("JOULE_OAUTH_KEY_ENCRYPTION_KEY: {e}"))?;
                let store = KeyStore::new(pool.clone(), SCHEMA, kek, policy)?;
                store.rotate_if_due(now, rotation).await?;
                store.refresh().await?;
                let ring = store.ring();
                (Some(store), ring)
            }
        };
        let issuer = TokenIssuer::new(ring, &s.oauth_issuer, &s.oauth_audience)
            .map_err(|e| format!("JOULE_OAUTH_ISSUER / JOULE_OAUTH_AUDIENCE: {e}"))?;
        let external = external_issuer(s)?.map(Arc::new);
        let verifier = Verifier::new(
            Some(OwnTokens::from(&issuer)),
            external.iter().cloned().collect(),
            DEFAULT_CACHE_CAPACITY,
        )?;
        Ok(Self {
            store,
            issuer,
            verifier,
            external,
            ttl,
            rotation,
        })
    }

    /// Whether `issuer` is Joule's own.
    pub fn is_own(&self, issuer: &str) -> bool {
        self.issuer.issuer() == issuer
    }

    /// Rotates and reloads the signing keys every minute and refetches the external issuer's keys
    /// every five, until `shutdown`. A failure is logged and tried again at the next turn.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), BoxError> {
        let mut keys = tokio::time::interval(KEYS_EVERY);
        let mut external = tokio::time::interval(EXTERNAL_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = keys.tick() => {
                    if let Some(store) = &self.store
                        && let Err(e) = rotate_and_refresh(store, self.rotation).await
                    {
                        tracing::warn!(error = %e, "OAuth2 signing keys not refreshed");
                    }
                }
                _ = external.tick() => {
                    if let Some(issuer) = &self.external
                        && let Err(e) = issuer.refresh(Utc::now()).await
                    {
                        tracing::warn!(issuer = issuer.issuer(), error = %e, "external issuer's keys not refreshed");
                    }
                }
            }
        }
    }
}

async fn rotate_and_refresh(store: &KeyStore, rotation: Duration) -> Result<(), BoxError> {
    store.rotate_if_due(Utc::now(), rotation).await?;
    store.refresh().await?;
    Ok(())
}

/// The external OpenID Connect issuer of the `JOULE_OIDC_*` settings, if one is configured.
fn external_issuer(s: &Settings) -> Result<Option<ExternalIssuer>, BoxError> {
    if s.oidc_issuer.trim().is_empty() {
        return Ok(None);
    }
    let optional = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let mapping = ClaimMapping {
        tenant_claim: optional(&s.oidc_tenant_claim),
        fixed_tenant: optional(&s.oidc_fixed_tenant),
        roles_claim: s.oidc_roles_claim.trim().to_owned(),
        role_map: role_map(&s.oidc_role_map)?,
        fleets_claim: optional(&s.oidc_fleets_claim),
        driver_claim: optional(&s.oidc_driver_claim),
    };
    let config = ExternalIssuerConfig {
        issuer: s.oidc_issuer.trim().to_owned(),
        jwks_url: s.oidc_jwks_url.trim().to_owned(),
        audience: s.oidc_audience.trim().to_owned(),
        mapping,
    };
    Ok(Some(
        ExternalIssuer::new(config).map_err(|e| format!("JOULE_OIDC_*: {e}"))?,
    ))
}

/// `value=role,value=role`: which claim values grant which of Joule's roles. Every role must be
/// one Joule knows, so a typo fails at start rather than refusing every token.
pub fn role_map(text: &str) -> Result<BTreeMap<String, String>, BoxError> {
    let mut map = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (value, role) = entry
            .split_once('=')
            .ok_or_else(|| format!("JOULE_OIDC_ROLE_MAP: {entry:?} is not `value=role`"))?;
        let role = role.trim();
        role.parse::<crate::access::Role>()
            .map_err(|e| format!("JOULE_OIDC_ROLE_MAP: {e}"))?;
        map.insert(value.trim().to_owned(), role.to_owned());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_map_names_only_joule_roles() {
        let map = role_map("billing=finance, ops = operator").unwrap();
        assert_eq!(map["billing"], "finance");
        assert_eq!(map["ops"], "operator");
        assert!(role_map("billing=accountant").is_err());
        assert!(role_map("billing").is_err());
        assert!(role_map("").unwrap().is_empty());
    }
}
