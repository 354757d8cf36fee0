// Test values are small and fixed.
#![allow(clippy::arithmetic_side_effects)]

use std::time::Duration;

use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;
use crate::cache::TokenDigest;
use crate::jws::encode_with;
use crate::{IssueError, KeyPolicy, NewToken};

const ISS: &str = "https://joule.example";
const AUD: &str = "joule-api";

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn issuer() -> TokenIssuer {
    let ring = KeyRing::ephemeral(KeyPolicy::default(), t0()).unwrap();
    TokenIssuer::new(ring, ISS, AUD).unwrap()
}

fn new_token() -> NewToken {
    NewToken {
        client_id: "client-1".into(),
        tenant: "acme".into(),
        roles: vec!["operator".into(), "billing".into()],
        fleets: vec!["fleet-7".into()],
    }
}

fn verifier(issuer: &TokenIssuer) -> Verifier {
    Verifier::new(Some(issuer.into()), Vec::new(), 100).unwrap()
}

/// Signs `claims` with the ring's signing key under `header`, as only Joule could.
fn sign_own(issuer: &TokenIssuer, header: Value, claims: &Value) -> String {
    let keys = issuer.ring().current();
    let key = keys.signer(t0(), Duration::ZERO).unwrap();
    encode_with(&header, claims, |m| key.pair.sign(m).as_ref().to_vec()).unwrap()
}

fn kid(issuer: &TokenIssuer) -> String {
    issuer.ring().current().kids()[0].to_owned()
}

fn joule_claims() -> Value {
    let t = t0().timestamp();
    json!({
        "iss": ISS, "sub": "client-1", "aud": AUD, "exp": t + 900, "iat": t, "nbf": t,
        "jti": "j1", "tenant": "acme", "roles": ["operator"], "fleets": [], "client_id": "client-1",
    })
}

#[tokio::test]
async fn an_issued_token_verifies_to_its_principal() {
    let issuer = issuer();
    let (jwt, expires_in) = issuer
        .issue(new_token(), Duration::from_secs(900), t0())
        .unwrap();
    assert_eq!(expires_in, 900);
    let principal = verifier(&issuer).verify(&jwt, t0()).await.unwrap();
    assert_eq!(
        principal,
        Principal {
            issuer: ISS.into(),
            subject: "client-1".into(),
            tenant: "acme".into(),
            roles: vec!["operator".into(), "billing".into()],
            fleets: vec!["fleet-7".into()],
            driver: None,
            client_id: Some("client-1".into()),
        }
    );
    let jwks = issuer.jwks(t0());
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["kid"], kid(&issuer).as_str());
}

#[tokio::test]
async fn the_issuer_refuses_lifetimes_and_claims_out_of_bounds() {
    let issuer = issuer();
    let long = issuer.issue(new_token(), Duration::from_secs(3601), t0());
    assert!(matches!(long, Err(IssueError::InvalidLifetime { .. })));
    let zero = issuer.issue(new_token(), Duration::ZERO, t0());
    assert!(matches!(zero, Err(IssueError::InvalidLifetime { .. })));
    let no_roles = NewToken {
        roles: vec![],
        ..new_token()
    };
    let refused = issuer.issue(no_roles, Duration::from_secs(60), t0());
    assert!(matches!(refused, Err(IssueError::InvalidClaim("roles"))));
    let empty = TokenIssuer::new(KeyRing::empty(KeyPolicy::default()), ISS, AUD).unwrap();
    let unsigned = empty.issue(new_token(), Duration::from_secs(60), t0());
    assert!(matches!(unsigned, Err(IssueError::NoSigningKey)));
}

#[tokio::test]
async fn a_token_of_another_key_or_issuer_or_audience_is_refused() {
    let ours = issuer();
    let theirs = issuer();
    let verifier = verifier(&ours);
    let (foreign, _) = theirs
        .issue(new_token(), Duration::from_secs(60), t0())
        .unwrap();
    assert_eq!(
        verifier.verify(&foreign, t0()).await,
        Err(AuthError::UnknownKey)
    );
    // Their key under our kid: the signature fails.
    let mut claims = joule_claims();
    let forged = sign_own(
        &theirs,
        json!({"alg": "EdDSA", "kid": kid(&ours), "typ": "JWT"}),
        &claims,
    );
    assert_eq!(
        verifier.verify(&forged, t0()).await,
        Err(AuthError::BadSignature)
    );
    claims["iss"] = json!("https://elsewhere");
    let elsewhere = sign_own(
        &ours,
        json!({"alg": "EdDSA", "kid": kid(&ours), "typ": "JWT"}),
        &claims,
    );
    assert_eq!(
        verifier.verify(&elsewhere, t0()).await,
        Err(AuthError::UnknownIssuer)
    );
    let other_audience = Verifier::new(
        Some(OwnTokens {
            audience: "another-api".into(),
            ..OwnTokens::from(&ours)
        }),
        Vec::new(),
        10,
    )
    .unwrap();
    let (jwt, _) = ours
        .issue(new_token(), Duration::from_secs(60), t0())
        .unwrap();
    assert_eq!(
        other_audience.verify(&jwt, t0()).await,
        Err(AuthError::WrongAudience)
    );
}

#[tokio::test]
async fn only_exactly_joules_claims_and_type_are_accepted() {
    let issuer = issuer();
    let verifier = verifier(&issuer);
    let header = json!({"alg": "EdDSA", "kid": kid(&issuer), "typ": "JWT"});
    assert!(
        verifier
            .verify(&sign_own(&issuer, header.clone(), &joule_claims()), t0())
            .await
            .is_ok()
    );
    let mut extra = joule_claims();
    extra["admin"] = json!(true);
    assert_eq!(
        verifier
            .verify(&sign_own(&issuer, header.clone(), &extra), t0())
            .await,
        Err(AuthError::InvalidClaim("claims"))
    );
    let mut other_sub = joule_claims();
    other_sub["sub"] = json!("client-2");
    assert_eq!(
        verifier
            .verify(&sign_own(&issuer, header.clone(), &other_sub), t0())
            .await,
        Err(AuthError::InvalidClaim("client_id"))
    );
    let untyped = json!({"alg": "EdDSA", "kid": kid(&issuer)});
    assert_eq!(
        verifier
            .verify(&sign_own(&issuer, untyped, &joule_claims()), t0())
            .await,
        Err(AuthError::WrongType)
    );
}

#[tokio::test]
async fn a_verified_token_is_served_from_the_cache_until_it_expires() {
    let issuer = issuer();
    let verifier = verifier(&issuer);
    let (jwt, _) = issuer
        .issue(new_token(), Duration::from_secs(120), t0())
        .unwrap();
    let first = verifier.verify(&jwt, t0()).await.unwrap();
    assert_eq!(verifier.cache.len(), 1);
    assert_eq!(verifier.verify(&jwt, t0()).await.unwrap(), first);
    // The cache answers without verifying again: an entry planted for this token's digest is what
    // comes back.
    let digest: TokenDigest = Sha256::digest(jwt.as_bytes()).into();
    let planted = Principal {
        tenant: "planted".into(),
        ..first.clone()
    };
    verifier.cache.insert(
        digest,
        Entry {
            principal: planted.clone(),
            exp: t0().timestamp() + 120,
            source: Source::Own,
            kid: kid(&issuer),
        },
    );
    assert_eq!(verifier.verify(&jwt, t0()).await.unwrap(), planted);
    // Past exp (and the leeway) the cached token is refused like any other.
    let later = t0() + chrono::TimeDelta::seconds(120 + 60);
    assert_eq!(verifier.verify(&jwt, later).await, Err(AuthError::Expired));
    assert_eq!(verifier.cache.len(), 0);
}

#[tokio::test]
async fn a_cached_token_whose_key_left_the_ring_is_refused() {
    let issuer = issuer();
    let verifier = verifier(&issuer);
    let (jwt, _) = issuer
        .issue(new_token(), Duration::from_secs(120), t0())
        .unwrap();
    verifier.verify(&jwt, t0()).await.unwrap();
    issuer.ring().replace(crate::KeySet::new(Vec::new()));
    assert_eq!(
        verifier.verify(&jwt, t0()).await,
        Err(AuthError::UnknownKey)
    );
}

#[tokio::test]
async fn oversize_tokens_are_refused_before_any_work() {
    let verifier = verifier(&issuer());
    let big = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(
        verifier.verify(&big, t0()).await,
        Err(AuthError::TooLarge {
            limit: MAX_TOKEN_BYTES
        })
    );
    assert!(matches!(
        verifier.verify("a.b", t0()).await,
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn two_issuers_with_one_iss_are_refused() {
    let ours = issuer();
    let own: OwnTokens = (&ours).into();
    let config = crate::ExternalIssuerConfig {
        issuer: ISS.into(),
        jwks_url: "https://idp.example/jwks".into(),
        audience: AUD.into(),
        mapping: crate::ClaimMapping {
            tenant_claim: Some("tenant".into()),
            fixed_tenant: None,
            roles_claim: "roles".into(),
            role_map: [("a".to_owned(), "admin".to_owned())].into(),
            fleets_claim: None,
            driver_claim: None,
        },
    };
    let external = Arc::new(ExternalIssuer::new(config).unwrap());
    assert!(Verifier::new(Some(own), vec![external], 10).is_err());
}

#[test]
fn the_verifier_and_its_future_can_be_shared_across_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Verifier>();
    send_sync::<TokenIssuer>();
    send_sync::<crate::KeyStore>();
    let verifier = verifier(&issuer());
    let future = verifier.verify("a.b.c", t0());
    send(&future);
    drop(future);
}
