//! Verified tokens, remembered until they expire: one Ed25519 or RSA verification costs tens of
//! microseconds and a request's whole credential budget is 50 µs, while a client presents the same
//! token for its whole lifetime. Keyed by the token's SHA-256 (the token itself is not kept), bounded
//! in size; when full, the entry that expires soonest goes (expired ones first).
//!
//! A hit is only served while the token has not expired and the key that signed it is still one the
//! issuer publishes (the caller's check), so a retired or withdrawn key stops its tokens at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::claims::Principal;
use crate::jws::still_valid;

/// Whose keys verified a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Own,
    /// The index of the external issuer in the verifier.
    External(usize),
}

pub(crate) struct Entry {
    pub(crate) principal: Principal,
    pub(crate) exp: i64,
    pub(crate) source: Source,
    pub(crate) kid: String,
}

pub(crate) type TokenDigest = [u8; 32];

pub(crate) struct TokenCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<TokenDigest, Entry>,
    by_expiry: BTreeSet<(i64, TokenDigest)>,
}

impl Inner {
    fn remove(&mut self, digest: &TokenDigest) {
        if let Some(entry) = self.entries.remove(digest) {
            self.by_expiry.remove(&(entry.exp, *digest));
        }
    }
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The principal of a cached token still valid at `now` (seconds) whose key `key_valid` still
    /// accepts; an entry that fails either is dropped.
    pub(crate) fn get(
        &self,
        digest: &TokenDigest,
        now: i64,
        key_valid: impl FnOnce(Source, &str) -> bool,
    ) -> Option<Principal> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = inner.entries.get(digest)?;
        if still_valid(entry.exp, now) && key_valid(entry.source, &entry.kid) {
            return Some(entry.principal.clone());
        }
        inner.remove(digest);
        None
    }

    pub(crate) fn insert(&self, digest: TokenDigest, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.remove(&digest);
        while inner.entries.len() >= self.capacity {
            let Some(&(_, soonest)) = inner.by_expiry.first() else {
                break;
            };
            inner.remove(&soonest);
        }
        inner.by_expiry.insert((entry.exp, digest));
        inner.entries.insert(digest, entry);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(exp: i64) -> Entry {
        Entry {
            principal: Principal {
                issuer: "i".into(),
                subject: format!("s{exp}"),
                tenant: "t".into(),
                roles: vec!["r".into()],
                fleets: vec![],
                driver: None,
                client_id: None,
            },
            exp,
            source: Source::Own,
            kid: "k".into(),
        }
    }

    #[test]
    fn when_full_the_soonest_to_expire_goes() {
        let cache = TokenCache::new(2);
        cache.insert([1; 32], entry(500));
        cache.insert([2; 32], entry(100));
        cache.insert([3; 32], entry(300));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&[2; 32], 0, |_, _| true).is_none());
        assert!(cache.get(&[1; 32], 0, |_, _| true).is_some());
        assert!(cache.get(&[3; 32], 0, |_, _| true).is_some());
    }

    #[test]
    fn an_expired_entry_or_a_withdrawn_key_is_a_miss_and_is_dropped() {
        let cache = TokenCache::new(10);
        cache.insert([1; 32], entry(100));
        assert!(cache.get(&[1; 32], 100 + 60, |_, _| true).is_none());
        assert_eq!(cache.len(), 0);
        cache.insert([2; 32], entry(1000));
        assert!(cache.get(&[2; 32], 0, |_, kid| kid != "k").is_none());
        assert_eq!(cache.len(), 0);
    }
}
