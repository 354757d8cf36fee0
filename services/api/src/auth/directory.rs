//! This replica's copy of the tenants and API keys (ADR 034): loaded at start, refreshed from the
//! read tables every second (only rows whose `seq` grew), so checking a credential never waits for
//! the database. The replica that runs a key command applies its effect at once ([`Directory::put_key`]).
//! Last use is recorded in memory and written at most every [`FLUSH_EVERY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use joule_domain::{DriverId, FleetId, TenantId};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::keys::{self, KeyDigest};
use crate::SCHEMA;
use crate::access::{Role, Scopes};

pub const REFRESH_EVERY: Duration = Duration::from_secs(1);
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// What a replica knows of a key.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key_id: String,
    pub tenant: TenantId,
    pub roles: Vec<Role>,
    pub scopes: Scopes,
    /// The fleets a `fleet_manager` key is limited to.
    pub fleets: Vec<FleetId>,
    /// The driver a `driver` key acts for.
    pub driver: Option<DriverId>,
    pub digest: KeyDigest,
    /// The secret a rotation replaced, and until when it is still valid.
    pub previous: Option<(KeyDigest, DateTime<Utc>)>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl KeyRecord {
    /// Whether the key is neither revoked nor expired at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires_at.is_none_or(|e| now < e)
    }

    /// Whether `digest` opens this key at `now`.
    pub fn opens(&self, digest: &KeyDigest, now: DateTime<Utc>) -> bool {
        if self.revoked || self.expires_at.is_some_and(|e| e <= now) {
            return false;
        }
        let current = keys::same(&self.digest, digest);
        let previous = self
            .previous
            .as_ref()
            .is_some_and(|(d, until)| now < *until && keys::same(d, digest));
        current | previous
    }
}

/// What a replica knows of a tenant.
#[derive(Debug, Clone)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    /// Keys the derivation of its records' ids; empty for the default tenant (unkeyed, as before).
    pub id_key: String,
}

#[derive(Debug, Default)]
struct Seen {
    tenants: i64,
    keys: i64,
}

/// The tenants and keys of this replica.
#[derive(Debug)]
pub struct Directory {
    pool: PgPool,
    keys: RwLock<HashMap<String, Arc<KeyRecord>>>,
    tenants: RwLock<HashMap<TenantId, Arc<TenantRecord>>>,
    seen: tokio::sync::Mutex<Seen>,
    used: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// A row of `api_keys` as the directory reads it.
#[derive(sqlx::FromRow)]
struct KeyRow {
    key_id: String,
    tenant_id: String,
    roles: Vec<String>,
    fleets: Vec<uuid::Uuid>,
    driver_id: Option<uuid::Uuid>,
    digest: String,
    previous_digest: Option<String>,
    previous_valid_until: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    seq: i64,
}

impl Directory {
    /// Loads everything; `default_tenant` is known even before any tenant is created.
    pub async fn load(pool: PgPool, default_tenant: &TenantId) -> Result<Self, sqlx::Error> {
        let directory = Self {
            pool,
            keys: RwLock::default(),
            tenants: RwLock::default(),
            seen: tokio::sync::Mutex::default(),
            used: Mutex::default(),
        };
        directory.put_tenant(TenantRecord {
            id: default_tenant.clone(),
            name: default_tenant.to_string(),
            id_key: String::new(),
        });
        directory.refresh().await?;
        Ok(directory)
    }

    pub fn key(&self, key_id: &str) -> Option<Arc<KeyRecord>> {
        read(&self.keys).get(key_id).cloned()
    }

    pub fn tenant(&self, id: &TenantId) -> Option<Arc<TenantRecord>> {
        read(&self.tenants).get(id).cloned()
    }

    pub fn put_key(&self, key: KeyRecord) {
        write(&self.keys).insert(key.key_id.clone(), Arc::new(key));
    }

    pub fn put_tenant(&self, tenant: TenantRecord) {
        write(&self.tenants).insert(tenant.id.clone(), Arc::new(tenant));
    }

    /// Notes that `key_id` was used at `at` (written by the next flush).
    pub fn mark_used(&self, key_id: &str, at: DateTime<Utc>) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        match used.get_mut(key_id) {
            Some(last) => *last = (*last).max(at),
            None => {
                used.insert(key_id.to_owned(), at);
            }
        }
    }

    /// Reads what changed in the tables since the last refresh.
    pub async fn refresh(&self) -> Result<(), sqlx::Error> {
        let mut seen = self.seen.lock().await;
        let tenants: Vec<(String, String, String, i64)> = sqlx::query_as(&format!(
            "SELECT id, name, id_key, seq FROM {SCHEMA}.tenants WHERE seq > $1 ORDER BY seq"
        ))
        .bind(seen.tenants)
        .fetch_all(&self.pool)
        .await?;
        for (id, name, id_key, seq) in tenants {
            seen.tenants = seen.tenants.max(seq);
            match id.parse() {
                Ok(id) => self.put_tenant(TenantRecord { id, name, id_key }),
                Err(e) => tracing::error!(tenant = %id, error = %e, "unreadable tenant row"),
            }
        }
        let rows: Vec<KeyRow> = sqlx::query_as(&format!(
            "SELECT key_id, tenant_id, roles, fleets, driver_id, digest, previous_digest,
                    previous_valid_until, expires_at, revoked_at, seq
             FROM {SCHEMA}.api_keys WHERE seq > $1 ORDER BY seq"
        ))
        .bind(seen.keys)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            seen.keys = seen.keys.max(row.seq);
            let key_id = row.key_id.clone();
            match key_record(row) {
                Ok(key) => self.put_key(key),
                // A key that cannot be read opens nothing.
                Err(e) => {
                    tracing::error!(%key_id, error = %e, "unreadable API key row; the key is refused");
                    write(&self.keys).remove(&key_id);
                }
            }
        }
        Ok(())
    }

    /// Writes the last uses noted since the previous flush.
    pub async fn flush_used(&self) -> Result<(), sqlx::Error> {
        let used = std::mem::take(&mut *self.used.lock().unwrap_or_else(|e| e.into_inner()));
        if used.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<String>, Vec<DateTime<Utc>>) = used.into_iter().unzip();
        sqlx::query(&format!(
            "UPDATE {SCHEMA}.api_keys k SET last_used_at = GREATEST(k.last_used_at, u.at)
             FROM unnest($1::text[], $2::timestamptz[]) AS u(key_id, at)
             WHERE k.key_id = u.key_id"
        ))
        .bind(ids)
        .bind(times)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Refreshes every [`REFRESH_EVERY`] and flushes last uses every [`FLUSH_EVERY`] until shutdown
    /// (then flushes once more). A failed refresh keeps the last copy and is retried.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), String> {
        let mut refresh = tokio::time::interval(REFRESH_EVERY);
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = refresh.tick() => {
                    if let Err(e) = self.refresh().await {
                        tracing::warn!(error = %e, "cannot refresh tenants and API keys; keeping the last copy");
                    }
                }
                _ = flush.tick() => {
                    if let Err(e) = self.flush_used().await {
                        tracing::warn!(error = %e, "cannot record API keys' last use");
                    }
                }
            }
        }
        self.flush_used().await.map_err(|e| e.to_string())
    }
}

fn key_record(row: KeyRow) -> Result<KeyRecord, String> {
    let roles = row
        .roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()?;
    let previous = match (row.previous_digest, row.previous_valid_until) {
        (Some(d), Some(until)) => Some((hex_digest(&d)?, until)),
        _ => None,
    };
    Ok(KeyRecord {
        scopes: Role::scopes_of(&roles),
        key_id: row.key_id,
        tenant: row.tenant_id.parse().map_err(|e| format!("tenant: {e}"))?,
        roles,
        fleets: row.fleets.into_iter().map(FleetId::from).collect(),
        driver: row.driver_id.map(DriverId::from),
        digest: hex_digest(&row.digest)?,
        previous,
        expires_at: row.expires_at,
        revoked: row.revoked_at.is_some(),
    })
}

/// A digest as the tables and events hold it: 64 hex digits.
pub fn hex_digest(raw: &str) -> Result<KeyDigest, String> {
    let bytes = raw.as_bytes();
    if bytes.len() != 64 {
        return Err("a digest has 64 hex digits".into());
    }
    let mut digest = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
        digest[i] = u8::from_str_radix(text, 16).map_err(|e| e.to_string())?;
    }
    Ok(digest)
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn record(digest: KeyDigest) -> KeyRecord {
        KeyRecord {
            key_id: "k".into(),
            tenant: TenantId::default_tenant(),
            roles: vec![Role::Admin],
            scopes: Role::Admin.scopes(),
            fleets: vec![],
            driver: None,
            digest,
            previous: None,
            expires_at: None,
            revoked: false,
        }
    }

    #[test]
    fn a_key_opens_with_its_secret_until_revoked_or_expired() {
        let now = Utc::now();
        let key = record(keys::digest("a"));
        assert!(key.opens(&keys::digest("a"), now));
        assert!(!key.opens(&keys::digest("b"), now));
        let revoked = KeyRecord {
            revoked: true,
            ..key.clone()
        };
        assert!(!revoked.opens(&keys::digest("a"), now));
        let expired = KeyRecord {
            expires_at: Some(now),
            ..key
        };
        assert!(!expired.opens(&keys::digest("a"), now));
    }

    #[test]
    fn a_rotated_key_opens_with_the_old_secret_only_during_the_overlap() {
        let now = Utc::now();
        let key = KeyRecord {
            previous: Some((keys::digest("old"), now + Duration::minutes(5))),
            ..record(keys::digest("new"))
        };
        assert!(key.opens(&keys::digest("new"), now));
        assert!(key.opens(&keys::digest("old"), now));
        assert!(!key.opens(&keys::digest("old"), now + Duration::minutes(5)));
        assert!(key.opens(&keys::digest("new"), now + Duration::minutes(5)));
    }

    #[test]
    fn digests_read_back_from_hex() {
        let d = keys::digest("x");
        assert_eq!(hex_digest(&to_hex(&d)).unwrap(), d);
        assert!(hex_digest("zz").is_err());
        assert!(hex_digest(&"g".repeat(64)).is_err());
    }
}
