//! Joule's signing keys in PostgreSQL: table `<schema>.oauth_signing_keys` ([`MIGRATION_SQL`]),
//! one row per Ed25519 key with its public JWK and its PKCS#8 private key sealed under the
//! key-encryption key ([`crate::KeyEncryptionKey`]).
//!
//! [`KeyStore::rotate_if_due`] adds a key when the newest is older than the rotation period, under
//! an advisory lock so that replicas racing at the same moment add one key between them, and marks
//! the keys it replaces with `retire_after` ([`KeyPolicy::retire_after`]). [`KeyStore::refresh`]
//! loads the keys not retired yet into the [`KeyRing`] that issuing and verification read; the
//! caller runs both periodically. A key that does not open under the key-encryption key fails the
//! load (and a rotation) with [`KeyStoreError::Unseal`]: the ring then keeps what it had and never
//! holds key material it could not authenticate.

mod keyset;

pub use keyset::{KeyPolicy, KeyRing, KeySet};
pub(crate) use keyset::{OwnKey, delta};

use std::time::Duration;

use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;
use sqlx::{PgPool, Row};

use crate::error::KeyStoreError;
use crate::jwk::VerifyingKey;
use crate::seal::KeyEncryptionKey;

/// The signing-key table, `{schema}` standing for the caller's schema (the api's migration list
/// runs it with `"api"`; [`create_table`] runs it directly). `retire_after` is null for the newest
/// key and set when a newer one replaces it.
pub const MIGRATION_SQL: &str = r#"
CREATE TABLE IF NOT EXISTS {schema}.oauth_signing_keys (
    kid                text PRIMARY KEY,
    alg                text NOT NULL CHECK (alg = 'EdDSA'),
    public_jwk         jsonb NOT NULL,
    sealed_private_key bytea NOT NULL,
    created_at         timestamptz NOT NULL,
    retire_after       timestamptz
);
CREATE INDEX IF NOT EXISTS oauth_signing_keys_newest
    ON {schema}.oauth_signing_keys (created_at DESC, kid DESC);
"#;

/// Creates `schema` (if needed) and the signing-key table: for tests and tools; a service lists
/// [`MIGRATION_SQL`] among its migrations instead.
pub async fn create_table(pool: &PgPool, schema: &str) -> Result<(), KeyStoreError> {
    check_schema(schema)?;
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut *tx)
        .await?;
    for statement in MIGRATION_SQL.replace("{schema}", schema).split(';') {
        if !statement.trim().is_empty() {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

fn check_schema(schema: &str) -> Result<(), KeyStoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 40
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    ok.then_some(()).ok_or(KeyStoreError::InvalidSchema)
}

/// What [`KeyStore::rotate_if_due`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// This store added the key `kid` (and refreshed its ring).
    Rotated { kid: String },
    /// The newest key is younger than the period (possibly because another replica just added it).
    NotDue,
}

/// The signing keys of one schema, and the ring this process signs and verifies with.
pub struct KeyStore {
    pool: PgPool,
    table: String,
    lock_name: String,
    kek: KeyEncryptionKey,
    ring: KeyRing,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("table", &self.table)
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// A store on `<schema>.oauth_signing_keys` (the table must exist). Its ring is empty until
    /// [`KeyStore::refresh`] (or a rotation) loads it.
    pub fn new(
        pool: PgPool,
        schema: &str,
        kek: KeyEncryptionKey,
        policy: KeyPolicy,
    ) -> Result<Self, KeyStoreError> {
        check_schema(schema)?;
        policy.check()?;
        Ok(Self {
            pool,
            table: format!("{schema}.oauth_signing_keys"),
            lock_name: format!("joule_auth_rotate_{schema}"),
            kek,
            ring: KeyRing::empty(policy),
            rng: SystemRandom::new(),
        })
    }

    /// The ring this store loads; give it to the `TokenIssuer` and the `Verifier`.
    pub fn ring(&self) -> KeyRing {
        self.ring.clone()
    }

    /// Adds a new key if there is none or the newest was created `rotation_period` or longer
    /// before `now`; the keys it replaces retire at [`KeyPolicy::retire_after`]`(now)`. Safe to
    /// call from every replica at once: an advisory lock serialises them and the first one's key
    /// makes the others' `NotDue`. Refuses to add a key when the newest does not open under this
    /// store's key-encryption key, so a misconfigured replica cannot seal keys the others cannot
    /// read.
    pub async fn rotate_if_due(
        &self,
        now: DateTime<Utc>,
        rotation_period: Duration,
    ) -> Result<Rotation, KeyStoreError> {
        if rotation_period < Duration::from_secs(60) {
            return Err(KeyStoreError::InvalidPolicy(
                "the rotation period must be at least a minute",
            ));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(&self.lock_name)
            .execute(&mut *tx)
            .await?;
        let newest = sqlx::query(&format!(
            "SELECT kid, created_at, sealed_private_key FROM {} \
             ORDER BY created_at DESC, kid DESC LIMIT 1",
            self.table
        ))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(newest) = newest {
            let kid: String = newest.try_get("kid")?;
            let created_at: DateTime<Utc> = newest.try_get("created_at")?;
            let sealed: Vec<u8> = newest.try_get("sealed_private_key")?;
            if self.kek.open(&kid, &sealed).is_none() {
                return Err(KeyStoreError::Unseal { kid });
            }
            let due_before = now
                .checked_sub_signed(delta(rotation_period))
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            if created_at > due_before {
                return Ok(Rotation::NotDue);
            }
        }
        let (kid, pkcs8, pair) = keyset::generate_key(&self.rng, now)?;
        let sealed = self
            .kek
            .seal(&kid, &pkcs8, &self.rng)
            .map_err(|_| KeyStoreError::Crypto("cannot seal a new key"))?;
        let jwk = keyset::public_of(&pair).to_jwk(&kid);
        sqlx::query(&format!(
            "INSERT INTO {} (kid, alg, public_jwk, sealed_private_key, created_at) \
             VALUES ($1, 'EdDSA', $2, $3, $4)",
            self.table
        ))
        .bind(&kid)
        .bind(&jwk)
        .bind(&sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "UPDATE {} SET retire_after = $1 WHERE retire_after IS NULL AND kid <> $2",
            self.table
        ))
        .bind(self.ring.policy().retire_after(now))
        .bind(&kid)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(kid, "added an OAuth signing key");
        self.refresh_at(now).await?;
        Ok(Rotation::Rotated { kid })
    }

    /// Loads the keys not retired now into the ring (see [`KeyStore::refresh_at`]).
    pub async fn refresh(&self) -> Result<(), KeyStoreError> {
        self.refresh_at(Utc::now()).await
    }

    /// Loads the keys not retired at `now` into the ring, decrypting each. On any error the ring
    /// keeps its previous snapshot.
    pub async fn refresh_at(&self, now: DateTime<Utc>) -> Result<(), KeyStoreError> {
        let rows = sqlx::query(&format!(
            "SELECT kid, alg, public_jwk, sealed_private_key, created_at, retire_after FROM {} \
             WHERE retire_after IS NULL OR retire_after > $1 ORDER BY created_at DESC, kid DESC",
            self.table
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let kid: String = row.try_get("kid")?;
            let alg: String = row.try_get("alg")?;
            let jwk: serde_json::Value = row.try_get("public_jwk")?;
            let sealed: Vec<u8> = row.try_get("sealed_private_key")?;
            keys.push(OwnKey {
                public: self.check_public(&kid, &alg, &jwk)?,
                pair: self.open_pair(&kid, &sealed)?,
                created_at: row.try_get("created_at")?,
                retire_after: row.try_get("retire_after")?,
                kid,
            });
        }
        for key in &keys {
            if keyset::public_of(&key.pair) != key.public {
                return Err(KeyStoreError::CorruptKey {
                    kid: key.kid.clone(),
                    reason: "the private key does not match the public JWK",
                });
            }
        }
        self.ring.replace(KeySet::new(keys));
        Ok(())
    }

    fn check_public(
        &self,
        kid: &str,
        alg: &str,
        jwk: &serde_json::Value,
    ) -> Result<VerifyingKey, KeyStoreError> {
        let corrupt = |reason| KeyStoreError::CorruptKey {
            kid: kid.to_owned(),
            reason,
        };
        if alg != "EdDSA" {
            return Err(corrupt("not an EdDSA key"));
        }
        match VerifyingKey::from_jwk(jwk) {
            Ok(Some((jwk_kid, key @ VerifyingKey::Ed25519(_)))) if jwk_kid == kid => Ok(key),
            _ => Err(corrupt("the public JWK is not this kid's Ed25519 key")),
        }
    }

    fn open_pair(&self, kid: &str, sealed: &[u8]) -> Result<Ed25519KeyPair, KeyStoreError> {
        let pkcs8 = self
            .kek
            .open(kid, sealed)
            .ok_or_else(|| KeyStoreError::Unseal {
                kid: kid.to_owned(),
            })?;
        Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyStoreError::CorruptKey {
            kid: kid.to_owned(),
            reason: "the private key is not an Ed25519 PKCS#8 document",
        })
    }
}
