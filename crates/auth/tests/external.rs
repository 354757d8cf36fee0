//! An external OpenID Connect issuer served from a local JWKS endpoint: RS256 and ES256 tokens map to
//! tenant and roles, an unknown kid makes one refetch (and a flood of them no more), and a key
//! withdrawn from the JWKS stops verifying once the JWKS is refreshed.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use joule_auth::{
    AuthError, ClaimMapping, ExternalIssuer, ExternalIssuerConfig, Principal, Verifier,
};
use serde_json::{Value, json};
use support::{JwksServer, TestKey};

const ISS: &str = "https://idp.example/realms/fleet";
const AUD: &str = "joule";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap()
}

fn mapping() -> ClaimMapping {
    ClaimMapping {
        tenant_claim: Some("/org/tenant".into()),
        fixed_tenant: None,
        roles_claim: "groups".into(),
        role_map: BTreeMap::from([
            ("joule-admins".into(), "admin".into()),
            ("joule-readers".into(), "reader".into()),
        ]),
        fleets_claim: Some("fleets".into()),
        driver_claim: None,
    }
}

fn claims(sub: &str, tenant: &str, groups: &[&str]) -> Value {
    let t = t0().timestamp();
    json!({
        "iss": ISS, "aud": [AUD, "account"], "sub": sub, "azp": "fleet-portal",
        "exp": t + 300, "iat": t, "org": {"tenant": tenant}, "groups": groups, "fleets": ["f1"],
    })
}

fn jwks(keys: &[(&TestKey, &str)]) -> Value {
    json!({"keys": keys.iter().map(|(key, kid)| key.jwk(kid)).collect::<Vec<_>>()})
}

fn issuer(url: &str) -> Arc<ExternalIssuer> {
    Arc::new(
        ExternalIssuer::new(ExternalIssuerConfig {
            issuer: ISS.into(),
            jwks_url: url.into(),
            audience: AUD.into(),
            mapping: mapping(),
        })
        .unwrap(),
    )
}

#[tokio::test]
async fn rs256_and_es256_tokens_map_to_tenant_and_roles() {
    let (rsa, ec) = (TestKey::rsa(), TestKey::ec());
    let server = JwksServer::start(jwks(&[(&rsa, "rsa-1"), (&ec, "ec-1")])).await;
    let verifier = Verifier::new(None, vec![issuer(&server.url)], 100).unwrap();

    let admin = rsa.sign(
        "rsa-1",
        &claims("alice", "acme", &["joule-admins", "other"]),
    );
    assert_eq!(
        verifier.verify(&admin, t0()).await.unwrap(),
        Principal {
            issuer: ISS.into(),
            subject: "alice".into(),
            tenant: "acme".into(),
            roles: vec!["admin".into()],
            fleets: vec!["f1".into()],
            driver: None,
            client_id: Some("fleet-portal".into()),
        }
    );
    let reader = ec.sign("ec-1", &claims("bob", "globex", &["joule-readers"]));
    let bob = verifier.verify(&reader, t0()).await.unwrap();
    assert_eq!(
        (bob.tenant.as_str(), bob.roles),
        ("globex", vec!["reader".to_owned()])
    );
    assert_eq!(
        server.fetches(),
        1,
        "the first token fetched the JWKS, the second used it"
    );

    // Tokens without a mappable tenant or role, or for another audience, are refused.
    let no_role = rsa.sign("rsa-1", &claims("carol", "acme", &["staff"]));
    assert_eq!(
        verifier.verify(&no_role, t0()).await,
        Err(AuthError::NoRole)
    );
    let mut no_tenant = claims("dave", "acme", &["joule-admins"]);
    no_tenant.as_object_mut().unwrap().remove("org");
    let no_tenant = ec.sign("ec-1", &no_tenant);
    assert_eq!(
        verifier.verify(&no_tenant, t0()).await,
        Err(AuthError::NoTenant)
    );
    let mut elsewhere = claims("erin", "acme", &["joule-admins"]);
    elsewhere["aud"] = json!("another-service");
    let elsewhere = rsa.sign("rsa-1", &elsewhere);
    assert_eq!(
        verifier.verify(&elsewhere, t0()).await,
        Err(AuthError::WrongAudience)
    );
    // The RSA key signed under the EC key's kid: refused, not verified with the wrong algorithm.
    let confused = rsa.sign("ec-1", &claims("frank", "acme", &["joule-admins"]));
    assert_eq!(
        verifier.verify(&confused, t0()).await,
        Err(AuthError::AlgorithmMismatch)
    );
    let expired = t0() + TimeDelta::seconds(300 + 60);
    let fresh = rsa.sign("rsa-1", &claims("gina", "acme", &["joule-admins"]));
    assert_eq!(
        verifier.verify(&fresh, expired).await,
        Err(AuthError::Expired)
    );
}

#[tokio::test]
async fn an_unknown_kid_makes_one_refetch_and_a_flood_no_more() {
    let (old, new) = (TestKey::ec(), TestKey::ec());
    let server = JwksServer::start(jwks(&[(&old, "k-old")])).await;
    let verifier = Verifier::new(None, vec![issuer(&server.url)], 100).unwrap();
    let before = old.sign("k-old", &claims("a", "acme", &["joule-readers"]));
    verifier.verify(&before, t0()).await.unwrap();
    assert_eq!(server.fetches(), 1);

    // The issuer rotates: a token with the new kid makes the verifier fetch the JWKS once.
    server.set(jwks(&[(&old, "k-old"), (&new, "k-new")]));
    let now = t0() + TimeDelta::seconds(31);
    let after = new.sign("k-new", &claims("a", "acme", &["joule-readers"]));
    assert_eq!(verifier.verify(&after, now).await.unwrap().subject, "a");
    assert_eq!(server.fetches(), 2);

    // A flood of made-up kids within 30 s of that fetch: no fetch at all.
    for i in 0..50 {
        let bogus = new.sign(
            &format!("bogus-{i}"),
            &claims("x", "acme", &["joule-readers"]),
        );
        assert_eq!(
            verifier
                .verify(&bogus, now + TimeDelta::milliseconds(i * 500))
                .await,
            Err(AuthError::UnknownKey)
        );
    }
    assert_eq!(server.fetches(), 2);
    // 30 s later one unknown kid may fetch again, once.
    let later = now + TimeDelta::seconds(30);
    for i in 0..5 {
        let bogus = new.sign(
            &format!("late-{i}"),
            &claims("x", "acme", &["joule-readers"]),
        );
        assert_eq!(
            verifier.verify(&bogus, later).await,
            Err(AuthError::UnknownKey)
        );
    }
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_stops_verifying_after_refresh() {
    let (kept, removed) = (TestKey::rsa(), TestKey::ec());
    let server = JwksServer::start(jwks(&[(&kept, "kept"), (&removed, "removed")])).await;
    let external = issuer(&server.url);
    let verifier = Verifier::new(None, vec![external.clone()], 100).unwrap();
    let token = removed.sign("removed", &claims("a", "acme", &["joule-admins"]));
    verifier.verify(&token, t0()).await.unwrap();

    server.set(jwks(&[(&kept, "kept")]));
    // Until the refresh the cached JWKS (and the verified-token cache) still accept it.
    verifier.verify(&token, t0()).await.unwrap();
    external
        .refresh(t0() + TimeDelta::seconds(5))
        .await
        .unwrap();
    assert!(!external.has_kid("removed"));
    assert_eq!(
        verifier.verify(&token, t0() + TimeDelta::seconds(6)).await,
        Err(AuthError::UnknownKey)
    );
    let other = kept.sign("kept", &claims("b", "acme", &["joule-admins"]));
    assert!(
        verifier
            .verify(&other, t0() + TimeDelta::seconds(6))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_unreachable_jwks_is_reported_as_unavailable() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let external = issuer(&format!("http://127.0.0.1:{port}/jwks"));
    let verifier = Verifier::new(None, vec![external], 10).unwrap();
    let token = TestKey::ec().sign("k", &claims("a", "acme", &["joule-admins"]));
    let refused = verifier.verify(&token, t0()).await;
    assert!(
        matches!(refused, Err(AuthError::KeysUnavailable(_))),
        "{refused:?}"
    );
    // A token of an issuer nobody configured is refused without any fetch.
    let mut stranger = claims("a", "acme", &["joule-admins"]);
    stranger["iss"] = json!("https://stranger.example");
    let stranger = TestKey::ec().sign("k", &stranger);
    assert_eq!(
        verifier.verify(&stranger, t0()).await,
        Err(AuthError::UnknownIssuer)
    );
}
