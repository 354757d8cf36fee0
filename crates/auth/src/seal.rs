//! Private signing keys at rest: AES-256-GCM under a 32-byte key-encryption key (KEK) the caller
//! reads from a secret. A sealed key is `nonce (12 bytes) || ciphertext || tag (16 bytes)`, with
//! the key's `kid` as associated data, so a sealed key copied to another row does not open either.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::ConfigError;

/// The key-encryption key. Its `Debug` shows nothing of it.
pub struct KeyEncryptionKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 takes any 32 bytes");
        Self {
            key: LessSafeKey::new(key),
        }
    }

    /// A KEK written as base64 (standard or URL-safe, padded or not), as a secret holds it: 32
    /// bytes exactly (for example `openssl rand -base64 32`). The error never shows the value.
    pub fn from_base64(text: &str) -> Result<Self, ConfigError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| ConfigError::Invalid("the key-encryption key is not base64".into()))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            ConfigError::Invalid(format!(
                "the key-encryption key must be 32 bytes, not {}",
                bytes.len()
            ))
        })?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A fresh random KEK, for a process that has none configured: what it seals cannot be
    /// opened by another process or after a restart.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's randomness");
        Self::from_bytes(&bytes)
    }

    /// Seals `plaintext` bound to `context` (the associated data: it opens only for the same
    /// context), with a fresh random nonce.
    pub fn seal_for(&self, context: &str, plaintext: &[u8]) -> Option<Vec<u8>> {
        self.seal(context, plaintext, &SystemRandom::new()).ok()
    }

    /// What [`KeyEncryptionKey::seal_for`] sealed for `context`; `None` for another KEK, another
    /// context or altered bytes.
    pub fn open_for(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.open(context, sealed)
    }

    /// Seals `plaintext` for the key `kid`.
    pub(crate) fn seal(
        &self,
        kid: &str,
        plaintext: &[u8],
        rng: &SystemRandom,
    ) -> Result<Vec<u8>, ring::error::Unspecified> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce)?;
        let mut in_out = plaintext.to_vec();
        self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(kid.as_bytes()),
            &mut in_out,
        )?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Opens what [`KeyEncryptionKey::seal`] sealed for `kid`; `None` for another KEK, another
    /// kid or altered bytes.
    pub(crate) fn open(&self, kid: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .ok()?;
        Some(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_same_kek_and_kid() {
        let rng = SystemRandom::new();
        let kek = KeyEncryptionKey::from_bytes(&[1; 32]);
        let sealed = kek.seal("k1", b"private", &rng).unwrap();
        assert_eq!(kek.open("k1", &sealed).as_deref(), Some(&b"private"[..]));
        assert_eq!(kek.open("k2", &sealed), None);
        assert_eq!(
            KeyEncryptionKey::from_bytes(&[2; 32]).open("k1", &sealed),
            None
        );
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(kek.open("k1", &altered), None);
        assert_eq!(kek.open("k1", &sealed[..5]), None);
    }

    #[test]
    fn sealed_for_a_context_opens_for_it_only() {
        let kek = KeyEncryptionKey::random();
        let sealed = kek.seal_for("acme/key-1", b"answer").unwrap();
        assert_eq!(
            kek.open_for("acme/key-1", &sealed).as_deref(),
            Some(&b"answer"[..])
        );
        assert_eq!(kek.open_for("globex/key-1", &sealed), None);
        assert_eq!(
            KeyEncryptionKey::random().open_for("acme/key-1", &sealed),
            None
        );
        assert!(!sealed.windows(6).any(|w| w == b"answer"));
    }

    #[test]
    fn reads_a_base64_kek_of_32_bytes_only() {
        let kek = STANDARD.encode([9u8; 32]);
        assert!(KeyEncryptionKey::from_base64(&kek).is_ok());
        assert!(KeyEncryptionKey::from_base64(&URL_SAFE_NO_PAD.encode([9u8; 32])).is_ok());
        let short = KeyEncryptionKey::from_base64(&STANDARD.encode([9u8; 16])).unwrap_err();
        assert!(short.to_string().contains("32 bytes, not 16"));
        assert!(KeyEncryptionKey::from_base64("not base64!").is_err());
        assert_eq!(
            format!("{:?}", KeyEncryptionKey::from_bytes(&[9; 32])),
            "KeyEncryptionKey(..)"
        );
    }
}
