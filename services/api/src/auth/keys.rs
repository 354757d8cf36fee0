//! The API key format: `jk_<live|test>_<key id>_<secret>` (ADR 034).
//!
//! The key id (16 characters of lower-case base32, 80 random bits) names the key in lists, logs and
//! the audit log; the secret (43 base62 characters, 256 random bits) is shown once and only its
//! SHA-256 digest, over the whole key, is kept.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;

/// The SHA-256 of a whole key.
pub type KeyDigest = [u8; 32];

/// A new key: what its holder is shown once, and what is kept.
pub struct NewKey {
    pub key_id: String,
    pub secret: String,
    pub digest: KeyDigest,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A fresh key id.
pub fn new_key_id() -> String {
    random_string(ID_ALPHABET, ID_LEN)
}

/// A fresh secret for the key `key_id` in `environment` (`live` or `test`).
pub fn new_secret(environment: &str, key_id: &str) -> NewKey {
    let secret = format!(
        "jk_{environment}_{key_id}_{}",
        random_string(SECRET_ALPHABET, SECRET_LEN)
    );
    NewKey {
        key_id: key_id.to_owned(),
        digest: digest(&secret),
        secret,
    }
}

pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// Digests compared in constant time.
pub fn same(a: &KeyDigest, b: &KeyDigest) -> bool {
    bool::from(a.ct_eq(b))
}

/// The key id of something shaped like a key, or `None` for anything else (which is then no key).
pub fn key_id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("jk_")?;
    let rest = rest
        .strip_prefix("live_")
        .or_else(|| rest.strip_prefix("test_"))?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == ID_LEN
        && id.bytes().all(|b| ID_ALPHABET.contains(&b))
        && secret.len() == SECRET_LEN
        && secret.bytes().all(|b| SECRET_ALPHABET.contains(&b));
    well_formed.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_parses_back_to_its_id_and_digest() {
        let id = new_key_id();
        let key = new_secret("live", &id);
        assert!(key.secret.starts_with(&format!("jk_live_{id}_")));
        assert_eq!(key_id_of(&key.secret), Some(id.as_str()));
        assert!(same(&digest(&key.secret), &key.digest));
        assert!(!format!("{key:?}").contains(&key.secret));
    }

    #[test]
    fn keys_are_distinct_and_shapeless_tokens_are_no_keys() {
        let id = new_key_id();
        assert_ne!(
            new_secret("test", &id).secret,
            new_secret("test", &id).secret
        );
        assert_ne!(new_key_id(), new_key_id());
        for bad in [
            "",
            "jk_live_",
            "jk_prod_abcdefghijklmnop_x",
            "jk_live_ABCDEFGHIJKLMNOP_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "jk_live_abcdefghijklmnop_short",
            "Bearer whatever",
        ] {
            assert_eq!(key_id_of(bad), None, "{bad}");
        }
    }
}
