//! NATS JWTs (version 2 claims, `alg: ed25519-nkey`) and `.creds` files: what `nsc` writes, made
//! here so that the api can sign a tenant's user without a tool beside it.
//!
//! A JWT is `base64url(header).base64url(claims).base64url(signature)`, the signature an Ed25519
//! signature by the issuer's nkey over the first two parts. The claims name the issuer (`iss`) and
//! subject (`sub`) by their public nkeys; `jti` is the base32 SHA-512/256 of the claims without it,
//! as the Go `jwt` library computes it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};
use sha2::{Digest, Sha512_256};

const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("nkey: {0}")]
    Key(String),
    #[error("not a NATS JWT: {0}")]
    Malformed(String),
}

/// What a JWT says about its subject.
#[derive(Debug, Clone)]
pub struct Claims {
    /// The subject's public nkey.
    pub subject: String,
    pub name: String,
    pub issued_at: i64,
    /// Unix seconds after which the server refuses it; `None`: never.
    pub expires_at: Option<i64>,
    /// The `nats` object: `type`, `version` and what the type holds.
    pub nats: Value,
}

/// Signs `claims` with `issuer`.
pub fn sign(issuer: &KeyPair, claims: &Claims) -> Result<String, JwtError> {
    let mut body = json!({
        "iat": claims.issued_at,
        "iss": issuer.public_key(),
        "name": claims.name,
        "sub": claims.subject,
        "nats": claims.nats,
    });
    if let Some(exp) = claims.expires_at {
        body["exp"] = json!(exp);
    }
    let unhashed = serde_json::to_vec(&body).map_err(|e| JwtError::Malformed(e.to_string()))?;
    let jti = data_encoding::BASE32_NOPAD.encode(&Sha512_256::digest(&unhashed));
    body["jti"] = json!(jti);
    let payload = serde_json::to_vec(&body).map_err(|e| JwtError::Malformed(e.to_string()))?;
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = issuer
        .sign(signed.as_bytes())
        .map_err(|e| JwtError::Key(e.to_string()))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The claims of `jwt`, once its signature by the key its `iss` names is checked.
pub fn verify(jwt: &str) -> Result<Value, JwtError> {
    let malformed = |what: &str| JwtError::Malformed(what.to_owned());
    let (signed, signature) = jwt
        .rsplit_once('.')
        .ok_or_else(|| malformed("no signature"))?;
    let (_, payload) = signed
        .split_once('.')
        .ok_or_else(|| malformed("no claims"))?;
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| JwtError::Malformed(e.to_string()))
    };
    let claims: Value = serde_json::from_slice(&decode(payload)?)
        .map_err(|e| JwtError::Malformed(e.to_string()))?;
    let issuer = claims["iss"].as_str().ok_or_else(|| malformed("no iss"))?;
    let signature = decode(signature)?;
    KeyPair::from_public_key(issuer)
        .and_then(|k| k.verify(signed.as_bytes(), &signature))
        .map_err(|e| JwtError::Key(e.to_string()))?;
    Ok(claims)
}

/// A `.creds` file: the user's JWT and nkey seed, as `nsc` and every NATS client read them.
pub fn creds_file(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// The seed of `key` (every generated or parsed key pair has one).
pub fn seed_of(key: &KeyPair) -> Result<String, JwtError> {
    key.seed().map_err(|e| JwtError::Key(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_jwt_verifies_and_a_changed_one_does_not() {
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();
        let jwt = sign(
            &account,
            &Claims {
                subject: user.public_key(),
                name: "acme".into(),
                issued_at: 1_700_000_000,
                expires_at: Some(1_700_003_600),
                nats: json!({"type": "user", "version": 2}),
            },
        )
        .unwrap();
        let claims = verify(&jwt).unwrap();
        assert_eq!(claims["sub"], user.public_key());
        assert_eq!(claims["iss"], account.public_key());
        assert_eq!(claims["exp"], 1_700_003_600);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 52);

        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        let forged = format!("{}x.{signature}", signed);
        assert!(verify(&forged).is_err());
    }

    #[test]
    fn a_creds_file_holds_the_jwt_and_the_seed() {
        let creds = creds_file("eyJ.a.b", "SUABC");
        assert!(creds.contains("-----BEGIN NATS USER JWT-----\neyJ.a.b\n"));
        assert!(creds.contains("-----BEGIN USER NKEY SEED-----\nSUABC\n"));
    }
}
