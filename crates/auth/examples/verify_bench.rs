//! The cost of one bearer-JWT verification, cached and uncached, for the <= 50 µs per-request budget
//! of issue 13 (credential check plus rate limit). No database and no criterion: Joule's own tokens
//! come from an in-process key ring; the external issuer's RS256 and ES256 keys are served from a
//! loopback JWKS, fetched once before measuring.
//!
//!     cargo run --release -p joule-auth --example verify_bench [ITERATIONS]
//!
//! "cached" cycles through 5,000 distinct tokens already verified (a busy cache); "uncached" gives
//! the verifier no cache, so every call parses, checks the signature and the claims, and maps them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use joule_auth::jws::encode_with;
use joule_auth::{
    ClaimMapping, ExternalIssuer, ExternalIssuerConfig, KeyPolicy, KeyRing, NewToken, OwnTokens,
    TokenIssuer, Verifier, VerifyingKey,
};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde_json::{Value, json};

const DISTINCT_TOKENS: usize = 5_000;
const EXTERNAL: &str = "https://idp.example";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let now = Utc::now();

    let ring = KeyRing::ephemeral(KeyPolicy::default(), now).expect("key ring");
    let issuer = TokenIssuer::new(ring, "https://joule.example", "joule-api").expect("issuer");
    let own: Vec<String> = (0..DISTINCT_TOKENS)
        .map(|i| {
            let token = NewToken {
                client_id: format!("client-{i}"),
                tenant: "acme".into(),
                roles: vec!["operator".into()],
                fleets: vec!["north".into()],
            };
            issuer
                .issue(token, Duration::from_secs(900), now)
                .expect("issue")
                .0
        })
        .collect();

    let rng = SystemRandom::new();
    let pem = include_str!("../tests/data/rsa-2048-test-key.pk8.pem");
    let der = STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .expect("test key");
    let rsa = RsaKeyPair::from_pkcs8(&der).expect("RSA test key");
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("EC");
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("EC key");
    let rsa_public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let jwks = json!({"keys": [
        VerifyingKey::Rsa { n: rsa_public.n, e: rsa_public.e }.to_jwk("rsa"),
        VerifyingKey::P256(ec.public_key().as_ref().to_vec()).to_jwk("ec"),
    ]});
    let external_claims = |i: usize| {
        json!({
            "iss": EXTERNAL, "aud": "joule", "sub": format!("user-{i}"), "tenant": "globex",
            "groups": ["joule-ops"], "exp": now.timestamp() + 900, "iat": now.timestamp(),
        })
    };
    let rs256: Vec<String> = (0..DISTINCT_TOKENS)
        .map(|i| {
            encode_with(
                &json!({"alg": "RS256", "kid": "rsa"}),
                &external_claims(i),
                |m| {
                    let mut signature = vec![0; rsa.public().modulus_len()];
                    rsa.sign(&RSA_PKCS1_SHA256, &rng, m, &mut signature)
                        .expect("RSA sign");
                    signature
                },
            )
            .expect("encode")
        })
        .collect();
    let es256: Vec<String> = (0..DISTINCT_TOKENS)
        .map(|i| {
            encode_with(
                &json!({"alg": "ES256", "kid": "ec"}),
                &external_claims(i),
                |m| ec.sign(&rng, m).expect("EC sign").as_ref().to_vec(),
            )
            .expect("encode")
        })
        .collect();

    let url = serve_jwks(jwks).await;
    let external = Arc::new(
        ExternalIssuer::new(ExternalIssuerConfig {
            issuer: EXTERNAL.into(),
            jwks_url: url,
            audience: "joule".into(),
            mapping: ClaimMapping {
                tenant_claim: Some("tenant".into()),
                fixed_tenant: None,
                roles_claim: "groups".into(),
                role_map: BTreeMap::from([("joule-ops".into(), "operator".into())]),
                fleets_claim: None,
                driver_claim: None,
            },
        })
        .expect("external issuer"),
    );
    external.refresh(now).await.expect("fetch the JWKS");

    let verifier = |capacity| {
        Verifier::new(
            Some(OwnTokens::from(&issuer)),
            vec![external.clone()],
            capacity,
        )
        .expect("verifier")
    };
    let cached = verifier(2 * DISTINCT_TOKENS);
    let uncached = verifier(0);
    println!("per verification, {iterations} calls each (mean / p50 / p99):");
    for (name, tokens) in [
        ("EdDSA (Joule)", &own),
        ("ES256 (external)", &es256),
        ("RS256 (external)", &rs256),
    ] {
        for token in tokens {
            cached.verify(token, now).await.expect("first verification");
        }
        let hit = measure(&cached, tokens, iterations, now).await;
        let miss = measure(&uncached, tokens, iterations, now).await;
        println!("  {name:<17} cached {hit}   uncached {miss}");
    }
}

/// Verifies `iterations` tokens (cycling through `tokens`) one by one, timing each.
async fn measure(
    verifier: &Verifier,
    tokens: &[String],
    iterations: usize,
    now: DateTime<Utc>,
) -> String {
    let mut nanos: Vec<u128> = Vec::with_capacity(iterations);
    let start = Instant::now();
    for token in tokens.iter().cycle().take(iterations) {
        let one = Instant::now();
        let principal = verifier.verify(token, now).await.expect("verified");
        nanos.push(one.elapsed().as_nanos());
        std::hint::black_box(principal);
    }
    let total = start.elapsed();
    nanos.sort_unstable();
    let at = |q: usize| nanos.get(nanos.len() * q / 100).copied().unwrap_or(0);
    let micros = |n: u128| format!("{}.{:02} µs", n / 1000, (n % 1000) / 10);
    let mean = total.as_nanos() / iterations.max(1) as u128;
    format!("{} / {} / {}", micros(mean), micros(at(50)), micros(at(99)))
}

async fn serve_jwks(jwks: Value) -> String {
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks")
}
