//! An in-memory copy of the registry projection, so that upgrades and authorisations do not each
//! wait for a PostgreSQL query (BENCHMARKS.md: Authorize p50 1.4 s → 17 ms at saturation).
//!
//! PostgreSQL stays the source. The copy is loaded at start, updated by this replica's
//! [`crate::consumers::registry::RegistryProjection`], and a miss falls back to a query (whose answer is then
//! kept). Only found entries are kept, so a charger or token registered through another replica
//! (the REGISTRY consumer is shared, so each event reaches one replica) is found at once by the
//! fallback. A change to an existing entry made through another replica (a token moved to another
//! account) is seen once the entry is older than [`MAX_AGE`].
//!
//! Every key is `(tenant, id)` (ADR 032): a tenant's lookups never find another tenant's entries.
//!
//! Charge point ids the projection does not know are remembered as unknown for a short time
//! (`JOULE_OCPP_UNKNOWN_ID_CACHE_SECS`), so that a flood of upgrades with made-up ids costs no
//! database query; a charger registered through this replica is known at once, one registered
//! through another replica once its unknown entry expires.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use joule_domain::{ChargePointId, TenantId};
use sqlx::PgPool;

use crate::projections::registry::{self, ChargePointKey, KnownCharger, KnownToken};

/// How long a kept entry is trusted before it is read again.
pub const MAX_AGE: Duration = Duration::from_secs(60);

struct Entry<T> {
    value: T,
    at: Instant,
}

impl<T: Clone> Entry<T> {
    fn fresh(&self) -> Option<T> {
        (self.at.elapsed() < MAX_AGE).then(|| self.value.clone())
    }
}

/// Lookups of idTags as chargers spelled them, grouped by the lower-case uid: matching is
/// case-insensitive with an exact match winning, so each spelling keeps its own answer.
type TokenSpellings = Vec<(String, Entry<KnownToken>)>;

/// Unknown charge point ids remembered at most; beyond, expired ones are dropped, then all.
const MAX_UNKNOWN: usize = 100_000;

/// Chargers by tenant and charge point id; token lookups by tenant and lower-case idTag; ids known
/// to be unknown.
#[derive(Default)]
pub struct RegistryCache {
    chargers: RwLock<HashMap<ChargePointKey, Entry<KnownCharger>>>,
    tokens: RwLock<HashMap<(TenantId, String), TokenSpellings>>,
    unknown: RwLock<HashMap<ChargePointKey, Instant>>,
    unknown_ttl: Duration,
}

impl RegistryCache {
    /// Loads every charger and token; unknown ids are remembered for `unknown_ttl`.
    pub async fn load(pool: &PgPool, unknown_ttl: Duration) -> Result<Self, sqlx::Error> {
        let cache = Self {
            unknown_ttl,
            ..Self::default()
        };
        let now = Instant::now();
        let chargers: Vec<(String, String, String)> =
            sqlx::query_as("SELECT tenant_id, charge_point_id, charger_id FROM gateway.chargers")
                .fetch_all(pool)
                .await?;
        {
            let mut map = cache.chargers.write().expect("cache lock");
            for (tenant, cp, charger_id) in chargers {
                // The projection only stores ids it could parse.
                let (Ok(tenant), Ok(cp), Ok(charger_id)) = (
                    tenant.parse::<TenantId>(),
                    cp.parse::<ChargePointId>(),
                    charger_id.parse(),
                ) else {
                    continue;
                };
                let value = KnownCharger {
                    tenant,
                    charge_point_id: cp,
                    charger_id,
                };
                map.insert(value.key(), Entry { value, at: now });
            }
        }
        let tokens: Vec<(String, String, String, String)> =
            sqlx::query_as("SELECT tenant_id, uid, token_id, account_id FROM gateway.tokens")
                .fetch_all(pool)
                .await?;
        {
            let mut map = cache.tokens.write().expect("cache lock");
            for (tenant, uid, token_id, account_id) in tokens {
                let (Ok(tenant), Ok(token_id), Ok(account_id)) = (
                    tenant.parse::<TenantId>(),
                    token_id.parse(),
                    account_id.parse(),
                ) else {
                    continue;
                };
                let value = KnownToken {
                    token_id,
                    account_id,
                };
                map.entry((tenant, uid.to_lowercase()))
                    .or_default()
                    .push((uid, Entry { value, at: now }));
            }
        }
        Ok(cache)
    }

    pub async fn find_charger(
        &self,
        pool: &PgPool,
        cp: &ChargePointKey,
    ) -> Result<Option<KnownCharger>, sqlx::Error> {
        let kept = self
            .chargers
            .read()
            .expect("cache lock")
            .get(cp)
            .and_then(Entry::fresh);
        if kept.is_some() {
            return Ok(kept);
        }
        let unknown_since = self.unknown.read().expect("cache lock").get(cp).copied();
        if unknown_since.is_some_and(|at| at.elapsed() < self.unknown_ttl) {
            return Ok(None);
        }
        let found = registry::find_charger(pool, cp).await?;
        match &found {
            Some(charger) => self.put_charger(charger.clone()),
            None if !self.unknown_ttl.is_zero() => {
                let mut unknown = self.unknown.write().expect("cache lock");
                if unknown.len() >= MAX_UNKNOWN {
                    let ttl = self.unknown_ttl;
                    unknown.retain(|_, at| at.elapsed() < ttl);
                    if unknown.len() >= MAX_UNKNOWN {
                        unknown.clear();
                    }
                }
                unknown.insert(cp.clone(), Instant::now());
            }
            None => {}
        }
        Ok(found)
    }

    pub async fn find_token(
        &self,
        pool: &PgPool,
        tenant: &TenantId,
        id_tag: &str,
    ) -> Result<Option<KnownToken>, sqlx::Error> {
        let lower = (tenant.clone(), id_tag.to_lowercase());
        let kept = self
            .tokens
            .read()
            .expect("cache lock")
            .get(&lower)
            .and_then(|spellings| spellings.iter().find(|(tag, _)| tag == id_tag))
            .and_then(|(_, entry)| entry.fresh());
        if kept.is_some() {
            return Ok(kept);
        }
        let found = registry::find_token(pool, tenant, id_tag).await?;
        if let Some(token) = &found {
            let entry = Entry {
                value: token.clone(),
                at: Instant::now(),
            };
            let mut tokens = self.tokens.write().expect("cache lock");
            let spellings = tokens.entry(lower).or_default();
            spellings.retain(|(tag, _)| tag != id_tag);
            spellings.push((id_tag.to_owned(), entry));
        }
        Ok(found)
    }

    /// A charger the projection just stored.
    pub fn put_charger(&self, charger: KnownCharger) {
        let key = charger.key();
        self.unknown.write().expect("cache lock").remove(&key);
        self.chargers.write().expect("cache lock").insert(
            key,
            Entry {
                value: charger,
                at: Instant::now(),
            },
        );
    }

    /// A token the projection just stored: every spelling of its uid is read again, since the
    /// case-insensitive match may now pick another row.
    pub fn token_changed(&self, tenant: &TenantId, uid: &str) {
        self.tokens
            .write()
            .expect("cache lock")
            .remove(&(tenant.clone(), uid.to_lowercase()));
    }
}
