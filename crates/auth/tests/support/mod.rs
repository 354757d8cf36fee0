//! What the integration tests share: an external issuer's keys (RS256 from the committed test key,
//! ES256 made by ring), tokens they sign, and a JWKS server on loopback that counts its requests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use joule_auth::VerifyingKey;
use joule_auth::jws::encode_with;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde_json::{Value, json};

/// A signing key of a pretend external issuer.
pub enum TestKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl TestKey {
    /// The committed 2048-bit test key (`tests/data`, made for these tests only).
    pub fn rsa() -> Self {
        let pem = include_str!("../data/rsa-2048-test-key.pk8.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).expect("test key PEM");
        Self::Rsa(RsaKeyPair::from_pkcs8(&der).expect("test key"))
    }

    pub fn ec() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self::Ec(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
        )
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::Ec(_) => "ES256",
        }
    }

    pub fn jwk(&self, kid: &str) -> Value {
        let key = match self {
            Self::Rsa(pair) => {
                let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
                VerifyingKey::Rsa { n: c.n, e: c.e }
            }
            Self::Ec(pair) => VerifyingKey::P256(pair.public_key().as_ref().to_vec()),
        };
        key.to_jwk(kid)
    }

    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let rng = SystemRandom::new();
        let header = json!({"alg": self.alg(), "kid": kid, "typ": "JWT"});
        encode_with(&header, claims, |message| match self {
            Self::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .unwrap();
                signature
            }
            Self::Ec(pair) => pair.sign(&rng, message).unwrap().as_ref().to_vec(),
        })
        .unwrap()
    }
}

/// A JWKS served on 127.0.0.1 at `/jwks`; the test changes it and reads how often it was fetched.
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(jwks: Value) -> Self {
        let jwks = Arc::new(Mutex::new(jwks));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (jwks.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    axum::Json(body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}/jwks"),
            jwks,
            fetches,
        }
    }

    pub fn set(&self, jwks: Value) {
        *self.jwks.lock().unwrap() = jwks;
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
