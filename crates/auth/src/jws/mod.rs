//! Compact JWS (RFC 7515) carrying JWT claims (RFC 7519), parsed strictly: at most
//! [`MAX_TOKEN_BYTES`], exactly three base64url parts without padding, a JSON header naming one of
//! the algorithms of [`Alg`] and a `kid`, no `crit` extensions, a payload that is a JSON object
//! without duplicate members. The signature is checked against a key chosen by `kid` whose own
//! algorithm must be the header's; then the registered claims (`iss`, `aud`, `exp`, `nbf`, `iat`)
//! with [`LEEWAY_SECS`] of clock skew.
//!
//! Nothing in a [`Compact`] is trusted before [`Compact::verify_signature`] succeeded, except for
//! choosing the issuer and key to check it with.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::AuthError;
use crate::jwk::{Alg, MAX_KID_LEN, VerifyingKey};

/// The largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// The protected header: the algorithm, the key id and the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: Alg,
    pub kid: String,
    pub typ: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Value>,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug)]
pub struct Compact<'a> {
    pub header: Header,
    /// The payload's members. Untrusted until [`Compact::verify_signature`] succeeded.
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> Compact<'a> {
    /// Parses `token` without verifying it.
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge {
                limit: MAX_TOKEN_BYTES,
            });
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed("a token has exactly three parts"));
        };
        let header: RawHeader =
            serde_json::from_slice(&b64(header, "the header is not base64url without padding")?)
                .map_err(|_| AuthError::Malformed("the header is not a JSON object with `alg`"))?;
        if header.crit.is_some() {
            return Err(AuthError::CriticalHeader);
        }
        let alg = Alg::from_header(&header.alg).ok_or(AuthError::AlgorithmNotAllowed)?;
        let kid = header.kid.ok_or(AuthError::MissingKeyId)?;
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Err(AuthError::Malformed("the key id is empty or too long"));
        }
        let claims = serde_json::from_slice::<StrictObject>(&b64(
            payload,
            "the payload is not base64url without padding",
        )?)
        .map_err(|_| AuthError::Malformed("the payload is not a JSON object with unique members"))?
        .0;
        let signature = b64(signature, "the signature is not base64url without padding")?;
        // The signing input is everything before the last dot (there are exactly two).
        let signing_input = token.rsplit_once('.').map_or("", |(input, _)| input);
        Ok(Self {
            header: Header {
                alg,
                kid,
                typ: header.typ,
            },
            claims,
            signing_input,
            signature,
        })
    }

    /// Checks the signature with `key`, whose algorithm must be the header's.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), AuthError> {
        if key.alg() != self.header.alg {
            return Err(AuthError::AlgorithmMismatch);
        }
        if key.verify(self.signing_input.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(AuthError::BadSignature)
        }
    }

    /// The unverified `iss`, to choose whose keys verify the token.
    pub fn unverified_issuer(&self) -> Result<&str, AuthError> {
        match self.claims.get("iss") {
            Some(Value::String(iss)) => Ok(iss),
            Some(_) => Err(AuthError::InvalidClaim("iss")),
            None => Err(AuthError::MissingClaim("iss")),
        }
    }
}

/// Decodes one part, or says which part is not base64url without padding (or empty).
fn b64(part: &str, malformed: &'static str) -> Result<Vec<u8>, AuthError> {
    if part.is_empty() {
        return Err(AuthError::Malformed(malformed));
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed(malformed))
}

/// A JSON object whose members are unique: `serde_json` would keep the last of two `iss`, while
/// another parser might keep the first (RFC 7519 section 4 allows refusing; we do).
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object with unique members")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom("duplicate member"));
                    }
                }
                Ok(StrictObject(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// What the registered claims must say for a token to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// Checks `iss`, `aud` (a string or an array of strings), `exp` (required), `nbf` and `iat`
/// (optional) at `now` with [`LEEWAY_SECS`]. Returns `exp`, in seconds since the epoch.
pub fn check_registered_claims(
    claims: &Map<String, Value>,
    expected: Expected<'_>,
    now: DateTime<Utc>,
) -> Result<i64, AuthError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == expected.issuer => {}
        Some(Value::String(_)) => return Err(AuthError::UnknownIssuer),
        Some(_) => return Err(AuthError::InvalidClaim("iss")),
        None => return Err(AuthError::MissingClaim("iss")),
    }
    let audience_matches = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => {
            let mut matches = false;
            for aud in auds {
                match aud {
                    Value::String(aud) => matches |= aud == expected.audience,
                    _ => return Err(AuthError::InvalidClaim("aud")),
                }
            }
            matches
        }
        Some(_) => return Err(AuthError::InvalidClaim("aud")),
        None => return Err(AuthError::MissingClaim("aud")),
    };
    if !audience_matches {
        return Err(AuthError::WrongAudience);
    }
    let now = now.timestamp();
    let exp = numeric_date(claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
    if !still_valid(exp, now) {
        return Err(AuthError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && nbf.saturating_sub(LEEWAY_SECS) > now
    {
        return Err(AuthError::NotYetValid);
    }
    if let Some(iat) = numeric_date(claims, "iat")?
        && iat.saturating_sub(LEEWAY_SECS) > now
    {
        return Err(AuthError::IssuedInFuture);
    }
    Ok(exp)
}

/// Whether a token expiring at `exp` is still accepted at `now` (seconds), with the leeway.
pub fn still_valid(exp: i64, now: i64) -> bool {
    now < exp.saturating_add(LEEWAY_SECS)
}

/// A NumericDate (RFC 7519 section 2): seconds since the epoch, possibly fractional (floored).
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, AuthError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(AuthError::InvalidClaim(name));
    };
    if let Some(seconds) = number.as_i64() {
        return Ok(Some(seconds));
    }
    // Fractional seconds: some issuers write them. Bounded to chrono's range, then floored.
    match number.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds.abs() < 8.0e12 =>
        {
            #[allow(clippy::cast_possible_truncation)]
            Ok(Some(seconds.floor() as i64))
        }
        _ => Err(AuthError::InvalidClaim(name)),
    }
}

/// Encodes a compact JWS: `header` and `claims` as JSON, signed by `sign` over the signing input.
/// Joule signs with [`crate::TokenIssuer`]; this is the general form (tests sign RS256 and ES256
/// tokens with it, as an external issuer would).
pub fn encode_with(
    header: &Value,
    claims: &impl Serialize,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<String, serde_json::Error> {
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
    let signature = sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

#[cfg(test)]
mod tests;
