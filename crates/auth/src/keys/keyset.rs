//! The in-memory snapshot of Joule's signing keys ([`KeySet`]) and the shared handle that holds the
//! current one ([`KeyRing`]). Issuing and verifying read the snapshot only; the key store replaces
//! it on refresh, so the hot path never touches the database.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};

use crate::error::KeyStoreError;
use crate::jwk::VerifyingKey;

/// How keys rotate and retire, and how long the tokens they sign may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The longest lifetime of a token (the issuer refuses longer ones). Default 1 h.
    pub max_token_lifetime: Duration,
    /// How long a new key is published (in the JWKS and every replica's key set) before it signs.
    /// Must be at least the interval at which replicas call `KeyStore::refresh`. Default 5 min.
    pub activation_delay: Duration,
    /// Added to the last possible expiry of a replaced key's tokens before it leaves the key set;
    /// at least the 60 s leeway. Default 5 min.
    pub retirement_margin: Duration,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            max_token_lifetime: Duration::from_secs(3600),
            activation_delay: Duration::from_secs(300),
            retirement_margin: Duration::from_secs(300),
        }
    }
}

impl KeyPolicy {
    pub(crate) fn check(&self) -> Result<(), KeyStoreError> {
        if self.max_token_lifetime < Duration::from_secs(1)
            || self.max_token_lifetime > Duration::from_secs(24 * 3600)
        {
            return Err(KeyStoreError::InvalidPolicy(
                "the maximum token lifetime must be between 1 s and 24 h",
            ));
        }
        if self.activation_delay > Duration::from_secs(24 * 3600) {
            return Err(KeyStoreError::InvalidPolicy(
                "the activation delay must be at most 24 h",
            ));
        }
        let leeway = Duration::from_secs(crate::jws::LEEWAY_SECS.unsigned_abs());
        if self.retirement_margin < leeway || self.retirement_margin > Duration::from_secs(86400) {
            return Err(KeyStoreError::InvalidPolicy(
                "the retirement margin must be between the 60 s leeway and 24 h",
            ));
        }
        Ok(())
    }

    /// When a key replaced at `replaced_at` leaves the key set: after the replacement activated,
    /// the last token the old key signed expired, and the margin passed.
    pub(crate) fn retire_after(&self, replaced_at: DateTime<Utc>) -> DateTime<Utc> {
        let total = self
            .activation_delay
            .saturating_add(self.max_token_lifetime)
            .saturating_add(self.retirement_margin);
        replaced_at
            .checked_add_signed(delta(total))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// A std duration as a chrono one (policies are bounded to a day, so this never saturates).
pub(crate) fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// One of Joule's Ed25519 keys, with its private half (decrypted at load).
pub(crate) struct OwnKey {
    pub(crate) kid: String,
    pub(crate) public: VerifyingKey,
    pub(crate) pair: Ed25519KeyPair,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) retire_after: Option<DateTime<Utc>>,
}

impl OwnKey {
    fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.retire_after.is_none_or(|retire| now < retire)
    }
}

/// A snapshot of the signing keys: newest first.
pub struct KeySet {
    keys: Vec<OwnKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.keys
                    .iter()
                    .map(|k| (&k.kid, k.created_at, k.retire_after)),
            )
            .finish()
    }
}

impl KeySet {
    pub(crate) fn new(mut keys: Vec<OwnKey>) -> Self {
        keys.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
        Self { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The kids in the set, newest first (retired ones included until the next refresh).
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The key `kid`, if it is in the set and not retired at `now`.
    pub fn verifying_key(&self, kid: &str, now: DateTime<Utc>) -> Option<&VerifyingKey> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.usable_at(now))
            .map(|k| &k.public)
    }

    /// The key that signs at `now`: the newest one published for at least `activation_delay`; while
    /// none is (the very first key), the oldest one.
    pub(crate) fn signer(&self, now: DateTime<Utc>, activation_delay: Duration) -> Option<&OwnKey> {
        let active_before = now
            .checked_sub_signed(delta(activation_delay))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let usable = || self.keys.iter().filter(|k| k.usable_at(now));
        usable()
            .find(|k| k.created_at <= active_before)
            .or_else(|| usable().next_back())
    }

    /// The JWKS (RFC 7517) of the keys not retired at `now`, including a key published but not
    /// signing yet.
    pub fn jwks(&self, now: DateTime<Utc>) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.usable_at(now))
            .map(|k| k.public.to_jwk(&k.kid))
            .collect();
        json!({ "keys": keys })
    }
}

/// A new Ed25519 key: its kid (the creation date and 96 random bits), PKCS#8 document and pair.
pub(crate) fn generate_key(
    rng: &SystemRandom,
    now: DateTime<Utc>,
) -> Result<(String, Vec<u8>, Ed25519KeyPair), KeyStoreError> {
    let mut random = [0u8; 12];
    rng.fill(&mut random)
        .map_err(|_| KeyStoreError::Crypto("no randomness for a key id"))?;
    let kid = format!(
        "{}-{}",
        now.format("%Y%m%d"),
        URL_SAFE_NO_PAD.encode(random)
    );
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(rng)
        .map_err(|_| KeyStoreError::Crypto("cannot generate an Ed25519 key"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| KeyStoreError::Crypto("cannot read a generated Ed25519 key"))?;
    Ok((kid, pkcs8.as_ref().to_vec(), pair))
}

pub(crate) fn public_of(pair: &Ed25519KeyPair) -> VerifyingKey {
    VerifyingKey::ed25519(pair.public_key().as_ref()).expect("ring's Ed25519 public key is a point")
}

/// The shared handle on the current [`KeySet`] and the [`KeyPolicy`]: the key store writes it, the
/// issuer and the verifier read it. Cloning shares it.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<RingInner>,
}

struct RingInner {
    policy: KeyPolicy,
    current: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("policy", &self.inner.policy)
            .field("keys", &self.current())
            .finish()
    }
}

impl KeyRing {
    /// An empty ring: nothing signs or verifies until the key store loads it.
    pub(crate) fn empty(policy: KeyPolicy) -> Self {
        Self {
            inner: Arc::new(RingInner {
                policy,
                current: RwLock::new(Arc::new(KeySet::new(Vec::new()))),
            }),
        }
    }

    /// A ring with one fresh key that lives only in this process and is never stored: for tests and
    /// benchmarks. Joule's services use `KeyStore::ring`.
    pub fn ephemeral(policy: KeyPolicy, now: DateTime<Utc>) -> Result<Self, KeyStoreError> {
        policy.check()?;
        let (kid, _, pair) = generate_key(&SystemRandom::new(), now)?;
        let ring = Self::empty(policy);
        ring.replace(KeySet::new(vec![OwnKey {
            kid,
            public: public_of(&pair),
            pair,
            created_at: now,
            retire_after: None,
        }]));
        Ok(ring)
    }

    pub fn policy(&self) -> KeyPolicy {
        self.inner.policy
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<KeySet> {
        // A poisoned lock only means a writer panicked between two whole snapshots: the value is
        // still one of them.
        let guard = self.inner.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard)
    }

    pub(crate) fn replace(&self, keys: KeySet) {
        let mut guard = self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *guard = Arc::new(keys);
    }
}
