//! Endpoint secrets and the `Joule-Signature` header (ADR 040).
//!
//! A secret is `whsec_` + 32 random bytes in unpadded base64url; the HMAC key is the whole secret
//! string. The header is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, with one
//! `v1=` per secret that signs (two while a rotated-out secret overlaps the new one): a receiver
//! accepts the request when any `v1` matches with its secret and `t` is recent.
//!
//! Neither secrets nor signatures are ever logged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

/// A fresh secret: `whsec_` + 32 bytes from the thread's CSPRNG (seeded by the OS), base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC accepts keys of every length")
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// The `Joule-Signature` header value for `body` sent at `timestamp`, signed by each of `secrets`.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, timestamp, body));
    }
    header
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_the_prefix_and_32_random_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let raw = a.strip_prefix(SECRET_PREFIX).expect("prefix");
        assert_eq!(URL_SAFE_NO_PAD.decode(raw).expect("base64url").len(), 32);
    }

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_and_body() {
        // RFC 4231 style check against an independent computation of the same construction.
        let signature = sign("whsec_test", 1_700_000_000, b"{\"a\":1}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").expect("key");
        mac.update(b"1700000000.{\"a\":1}");
        assert!(mac.verify_slice(&decode_hex(&signature)).is_ok());
        assert_eq!(signature.len(), 64);
    }

    #[test]
    fn the_header_has_one_v1_per_secret() {
        let header = signature_header(["s1", "s2"], 42, b"x");
        let parts: Vec<&str> = header.split(',').collect();
        assert_eq!(parts[0], "t=42");
        assert_eq!(parts[1], format!("v1={}", sign("s1", 42, b"x")));
        assert_eq!(parts[2], format!("v1={}", sign("s2", 42, b"x")));
        assert_eq!(signature_header(["s1"], 42, b"x").matches("v1=").count(), 1);
    }

    fn decode_hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }
}
