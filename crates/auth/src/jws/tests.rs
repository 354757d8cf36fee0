// Test values are small and fixed.
#![allow(clippy::arithmetic_side_effects)]

use base64::engine::general_purpose::STANDARD;
use chrono::TimeZone;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use serde_json::json;

use super::*;

const NOW: i64 = 1_800_000_000;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(NOW, 0).unwrap()
}

fn claims() -> Value {
    json!({"iss": "https://joule", "aud": "joule-api", "sub": "c1", "exp": NOW + 900, "iat": NOW, "nbf": NOW})
}

const EXPECTED: Expected<'static> = Expected {
    issuer: "https://joule",
    audience: "joule-api",
};

struct Ed {
    pair: Ed25519KeyPair,
}

impl Ed {
    fn new() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Self {
            pair: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap(),
        }
    }
    fn public(&self) -> VerifyingKey {
        VerifyingKey::ed25519(self.pair.public_key().as_ref()).unwrap()
    }
    fn sign(&self, header: &Value, claims: &Value) -> String {
        encode_with(header, claims, |m| self.pair.sign(m).as_ref().to_vec()).unwrap()
    }
    fn token(&self, claims: &Value) -> String {
        self.sign(&json!({"alg": "EdDSA", "kid": "ed", "typ": "JWT"}), claims)
    }
}

pub(crate) fn rsa_test_key() -> RsaKeyPair {
    let pem = include_str!("../../tests/data/rsa-2048-test-key.pk8.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(body).unwrap()).unwrap()
}

fn verify(token: &str, key: &VerifyingKey) -> Result<i64, AuthError> {
    let parsed = Compact::parse(token)?;
    parsed.verify_signature(key)?;
    check_registered_claims(&parsed.claims, EXPECTED, now())
}

#[test]
fn an_eddsa_token_round_trips() {
    let ed = Ed::new();
    let token = ed.token(&claims());
    let parsed = Compact::parse(&token).unwrap();
    assert_eq!(
        parsed.header,
        Header {
            alg: Alg::EdDSA,
            kid: "ed".into(),
            typ: Some("JWT".into())
        }
    );
    assert_eq!(parsed.unverified_issuer(), Ok("https://joule"));
    assert_eq!(verify(&token, &ed.public()), Ok(NOW + 900));
}

#[test]
fn es256_and_rs256_tokens_verify_with_their_keys() {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let ec_token = encode_with(&json!({"alg": "ES256", "kid": "ec"}), &claims(), |m| {
        ec.sign(&rng, m).unwrap().as_ref().to_vec()
    })
    .unwrap();
    let ec_public = VerifyingKey::P256(ec.public_key().as_ref().to_vec());
    assert_eq!(verify(&ec_token, &ec_public), Ok(NOW + 900));

    let rsa = rsa_test_key();
    let rsa_token = encode_with(&json!({"alg": "RS256", "kid": "rsa"}), &claims(), |m| {
        let mut signature = vec![0; rsa.public().modulus_len()];
        rsa.sign(&RSA_PKCS1_SHA256, &rng, m, &mut signature)
            .unwrap();
        signature
    })
    .unwrap();
    let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let rsa_public = VerifyingKey::Rsa {
        n: components.n,
        e: components.e,
    };
    assert_eq!(verify(&rsa_token, &rsa_public), Ok(NOW + 900));
    // Each key verifies its own algorithm only.
    assert_eq!(
        verify(&rsa_token, &ec_public),
        Err(AuthError::AlgorithmMismatch)
    );
    assert_eq!(
        verify(&ec_token, &rsa_public),
        Err(AuthError::AlgorithmMismatch)
    );
}

#[test]
fn a_tampered_payload_or_signature_is_refused() {
    let ed = Ed::new();
    let token = ed.token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut richer = claims();
    richer["sub"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&richer).unwrap()),
        parts[2]
    );
    assert_eq!(verify(&forged, &ed.public()), Err(AuthError::BadSignature));
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[10] ^= 0x01;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert_eq!(verify(&flipped, &ed.public()), Err(AuthError::BadSignature));
    assert_eq!(
        verify(&token, &Ed::new().public()),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn none_hmac_and_algorithm_confusion_are_refused() {
    let ed = Ed::new();
    for alg in ["none", "None", "HS256", "HS512", "PS256", "ES384", "eddsa"] {
        let token = ed.sign(&json!({"alg": alg, "kid": "ed"}), &claims());
        assert_eq!(
            Compact::parse(&token).unwrap_err(),
            AuthError::AlgorithmNotAllowed,
            "{alg}"
        );
    }
    // `alg: none` with an empty signature part: refused before the signature matters.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"ed"}"#),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    assert!(Compact::parse(&unsigned).is_err());
    // An Ed25519 key's token relabelled ES256 or RS256 is refused for that key.
    for alg in ["ES256", "RS256"] {
        let token = ed.sign(&json!({"alg": alg, "kid": "ed"}), &claims());
        assert_eq!(
            verify(&token, &ed.public()),
            Err(AuthError::AlgorithmMismatch)
        );
    }
}

#[test]
fn critical_headers_and_missing_kids_are_refused() {
    let ed = Ed::new();
    let crit = ed.sign(
        &json!({"alg": "EdDSA", "kid": "ed", "crit": ["b64"], "b64": false}),
        &claims(),
    );
    assert_eq!(
        Compact::parse(&crit).unwrap_err(),
        AuthError::CriticalHeader
    );
    let no_kid = ed.sign(&json!({"alg": "EdDSA"}), &claims());
    assert_eq!(
        Compact::parse(&no_kid).unwrap_err(),
        AuthError::MissingKeyId
    );
}

#[test]
fn oversize_and_malformed_tokens_are_refused() {
    let ed = Ed::new();
    let mut big = claims();
    big["pad"] = json!("x".repeat(MAX_TOKEN_BYTES));
    assert_eq!(
        Compact::parse(&ed.token(&big)).unwrap_err(),
        AuthError::TooLarge {
            limit: MAX_TOKEN_BYTES
        }
    );
    let token = ed.token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
    let malformed = [
        String::new(),
        "abc".into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
        format!("{}.{}+.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], b64(b"[1,2]"), parts[2]),
        format!("{}.{}.{}", parts[0], b64(b"\"text\""), parts[2]),
        format!(
            "{}.{}.{}",
            parts[0],
            b64(br#"{"iss":"a","iss":"https://joule"}"#),
            parts[2]
        ),
        format!("{}..{}", parts[0], parts[2]),
    ];
    for token in malformed {
        assert!(
            matches!(Compact::parse(&token), Err(AuthError::Malformed(_))),
            "{token:?}"
        );
    }
}

#[test]
fn time_claims_are_checked_with_the_leeway() {
    let ed = Ed::new();
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        verify(&ed.token(&c), &ed.public())
    };
    assert_eq!(with("exp", json!(NOW - 61)), Err(AuthError::Expired));
    assert_eq!(with("exp", json!(NOW - 60)), Err(AuthError::Expired));
    assert_eq!(with("exp", json!(NOW - 59)), Ok(NOW - 59));
    assert_eq!(with("exp", json!(1.8e9 + 900.5)), Ok(NOW + 900));
    assert_eq!(
        with("exp", json!("soon")),
        Err(AuthError::InvalidClaim("exp"))
    );
    assert_eq!(with("nbf", json!(NOW + 61)), Err(AuthError::NotYetValid));
    assert_eq!(with("nbf", json!(NOW + 60)), Ok(NOW + 900));
    assert_eq!(
        with("iat", json!(NOW + 120)),
        Err(AuthError::IssuedInFuture)
    );
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        verify(&ed.token(&no_exp), &ed.public()),
        Err(AuthError::MissingClaim("exp"))
    );
}

#[test]
fn issuer_and_audience_are_checked() {
    let ed = Ed::new();
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        verify(&ed.token(&c), &ed.public())
    };
    assert_eq!(
        with("iss", json!("https://other")),
        Err(AuthError::UnknownIssuer)
    );
    assert_eq!(with("iss", json!(1)), Err(AuthError::InvalidClaim("iss")));
    assert_eq!(with("aud", json!("other")), Err(AuthError::WrongAudience));
    assert_eq!(with("aud", json!(["other", "joule-api"])), Ok(NOW + 900));
    assert_eq!(with("aud", json!(["other"])), Err(AuthError::WrongAudience));
    assert_eq!(
        with("aud", json!(["joule-api", 3])),
        Err(AuthError::InvalidClaim("aud"))
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever arrives, parsing answers (no panic), and only with a typed error or a token.
        #[test]
        fn parsing_anything_never_panics(input in "[A-Za-z0-9_.=+/-]{0,400}|\\PC{0,200}") {
            let _ = Compact::parse(&input);
        }

        /// Any one character of a valid token changed: refused (parsing, signature or claims).
        #[test]
        fn a_token_with_any_character_changed_is_refused(
            position in any::<prop::sample::Index>(),
            replacement in "[A-Za-z0-9_.-]",
        ) {
            let ed = Ed::new();
            let token = ed.token(&claims());
            let at = position.index(token.len());
            prop_assume!(token[at..].chars().next() != replacement.chars().next());
            let changed = format!("{}{}{}", &token[..at], replacement, &token[at + 1..]);
            prop_assert!(verify(&changed, &ed.public()).is_err(), "accepted {changed}");
        }
    }
}
