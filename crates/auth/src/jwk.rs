//! Public keys as JSON Web Keys (RFC 7517) and the algorithms this crate verifies: EdDSA over
//! Ed25519 (RFC 8037), ES256 (ECDSA P-256 with SHA-256) and RS256 (RSA PKCS#1 v1.5 with SHA-256,
//! 2048 to 8192 bits). Each key is bound to exactly one algorithm, so a token cannot pick another
//! one for it (no alg/key-type confusion), and no symmetric algorithm exists here at all.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde_json::{Value, json};

/// A JWS algorithm this crate verifies. `none` and HMAC have no variant: they cannot be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    EdDSA,
    ES256,
    RS256,
}

impl Alg {
    /// The algorithm a header's `alg` names, if it is one of ours (case-sensitive, RFC 7515 4.1.1).
    pub fn from_header(alg: &str) -> Option<Self> {
        match alg {
            "EdDSA" => Some(Self::EdDSA),
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }
}

/// A public key that verifies one algorithm.
#[derive(Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    /// An Ed25519 public key, its point decompressed once when read: verifying with it costs
    /// about 40 µs on the benchmark machine against ring's 54 µs, which decompresses the point on
    /// every call (BENCHMARKS.md, `make bench-auth`).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// The uncompressed P-256 point (0x04 || x || y).
    P256(Vec<u8>),
    /// The modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ed25519(_) => f.write_str("VerifyingKey::Ed25519"),
            Self::P256(_) => f.write_str("VerifyingKey::P256"),
            Self::Rsa { n, .. } => {
                write!(f, "VerifyingKey::Rsa({} bits)", n.len().saturating_mul(8))
            }
        }
    }
}

impl VerifyingKey {
    /// The Ed25519 key of these 32 bytes (RFC 8032's encoding), if they encode a point.
    pub fn ed25519(x: &[u8]) -> Result<Self, JwkError> {
        let x: &[u8; 32] = x
            .try_into()
            .map_err(|_| JwkError("an Ed25519 key's x is not 32 bytes"))?;
        ed25519_dalek::VerifyingKey::from_bytes(x)
            .map(Self::Ed25519)
            .map_err(|_| JwkError("an Ed25519 key's x is not a point of the curve"))
    }

    pub fn alg(&self) -> Alg {
        match self {
            Self::Ed25519(_) => Alg::EdDSA,
            Self::P256(_) => Alg::ES256,
            Self::Rsa { .. } => Alg::RS256,
        }
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Ed25519(public) => {
                ed25519_dalek::Signature::from_slice(signature).is_ok_and(|signature| {
                    ed25519_dalek::Verifier::verify(public, message, &signature).is_ok()
                })
            }
            Self::P256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok(),
            Self::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
        }
    }

    /// The key as a JWK with its `kid`, `alg` and `use: "sig"`.
    pub fn to_jwk(&self, kid: &str) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            Self::Ed25519(x) => json!({
                "kty": "OKP", "crv": "Ed25519", "x": b64(x.as_bytes()),
                "kid": kid, "alg": "EdDSA", "use": "sig",
            }),
            Self::P256(point) => {
                let coordinates = point.get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(32.min(coordinates.len()));
                json!({
                    "kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y),
                    "kid": kid, "alg": "ES256", "use": "sig",
                })
            }
            Self::Rsa { n, e } => json!({
                "kty": "RSA", "n": b64(n), "e": b64(e),
                "kid": kid, "alg": "RS256", "use": "sig",
            }),
        }
    }

    /// Reads a JWK. `Ok(None)` for a well-formed key this crate does not use (another key type,
    /// curve or algorithm, or `use` other than `sig`): a JWKS may hold those beside ours.
    pub fn from_jwk(jwk: &Value) -> Result<Option<(String, Self)>, JwkError> {
        let field = |name: &'static str| jwk.get(name).and_then(Value::as_str);
        if let Some(usage) = jwk.get("use")
            && usage.as_str() != Some("sig")
        {
            return Ok(None);
        }
        let kid = field("kid").ok_or(JwkError("a key has no kid"))?;
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Err(JwkError("a key's kid is empty or too long"));
        }
        let key = match (field("kty"), field("crv")) {
            (Some("OKP"), Some("Ed25519")) => Self::ed25519(&b64_field(jwk, "x")?)?,
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (b64_field(jwk, "x")?, b64_field(jwk, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(JwkError("a P-256 key's x or y is not 32 bytes"));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::P256(point)
            }
            (Some("RSA"), _) => {
                let n = strip_leading_zeros(b64_field(jwk, "n")?);
                let e = strip_leading_zeros(b64_field(jwk, "e")?);
                // The top byte is non-zero after stripping: 256 bytes are at least 2041 bits, and
                // ring refuses anything under 2048 at verification anyway.
                if n.len() < 256 || n.len() > 1024 {
                    return Ok(None);
                }
                if e.is_empty() || e.len() > 4 {
                    return Err(JwkError("an RSA key's exponent is invalid"));
                }
                Self::Rsa { n, e }
            }
            _ => return Ok(None),
        };
        // A key that names an algorithm is used with that one only.
        if let Some(alg) = jwk.get("alg")
            && alg.as_str() != Some(key.alg().as_str())
        {
            return Ok(None);
        }
        Ok(Some((kid.to_owned(), key)))
    }
}

/// The longest `kid` accepted, in bytes.
pub const MAX_KID_LEN: usize = 128;

/// Why a JWK or JWKS is unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JWK: {0}")]
pub struct JwkError(pub &'static str);

fn b64_field(jwk: &Value, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or(JwkError("a key lacks a required member"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwkError("a key member is not base64url without padding"))
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// The usable keys of a JWKS (`{"keys": [...]}`), by `kid`. Keys of other types are skipped; a
/// `kid` that appears twice makes the set invalid (which key would it mean?).
pub fn parse_jwks(jwks: &Value) -> Result<HashMap<String, VerifyingKey>, JwkError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwkError("a JWKS is an object with a `keys` array"))?;
    let mut out = HashMap::with_capacity(keys.len());
    for jwk in keys {
        if let Some((kid, key)) = VerifyingKey::from_jwk(jwk)?
            && out.insert(kid, key).is_some()
        {
            return Err(JwkError("two keys share a kid"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed25519() -> VerifyingKey {
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        VerifyingKey::ed25519(pair.public_key().as_ref()).unwrap()
    }

    #[test]
    fn reads_an_ed25519_jwk_and_writes_it_back() {
        let key = ed25519();
        let jwk = key.to_jwk("k1");
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(
            VerifyingKey::from_jwk(&jwk).unwrap(),
            Some(("k1".to_owned(), key))
        );
    }

    #[test]
    fn a_key_bound_to_another_algorithm_or_use_is_skipped() {
        let mut jwk = VerifyingKey::P256([vec![4], vec![1; 64]].concat()).to_jwk("k");
        jwk["alg"] = json!("ES384");
        assert_eq!(VerifyingKey::from_jwk(&jwk).unwrap(), None);
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("enc");
        assert_eq!(VerifyingKey::from_jwk(&jwk).unwrap(), None);
        let hmac = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"});
        assert_eq!(VerifyingKey::from_jwk(&hmac).unwrap(), None);
    }

    #[test]
    fn short_rsa_keys_are_skipped_and_bad_members_refused() {
        let small = VerifyingKey::Rsa {
            n: vec![0xc1; 128],
            e: vec![1, 0, 1],
        };
        assert_eq!(VerifyingKey::from_jwk(&small.to_jwk("r")).unwrap(), None);
        let bad = json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA====", "kid": "e"});
        assert!(VerifyingKey::from_jwk(&bad).is_err());
        let short = json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "e"});
        assert!(VerifyingKey::from_jwk(&short).is_err());
    }

    #[test]
    fn a_jwks_with_a_duplicate_kid_is_refused() {
        let key = ed25519().to_jwk("same");
        assert!(parse_jwks(&json!({"keys": [key.clone(), key]})).is_err());
        assert!(parse_jwks(&json!({"nokeys": []})).is_err());
    }
}
