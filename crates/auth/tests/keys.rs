//! The signing-key store against PostgreSQL: replicas racing to rotate, an older key verifying until
//! it retires, and a wrong key-encryption key failing at load.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use joule_auth::{
    AuthError, IssueError, KeyEncryptionKey, KeyPolicy, KeyStore, KeyStoreError, NewToken,
    OwnTokens, Rotation, TokenIssuer, Verifier, create_table,
};
use joule_testkit::TestEnv;
use sqlx::PgPool;

const SCHEMA: &str = "api";
const MONTH: Duration = Duration::from_secs(30 * 86400);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
}

fn minutes(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

fn store(pool: &PgPool, kek: u8) -> KeyStore {
    KeyStore::new(
        pool.clone(),
        SCHEMA,
        KeyEncryptionKey::from_bytes(&[kek; 32]),
        KeyPolicy::default(),
    )
    .unwrap()
}

async fn setup() -> (TestEnv, PgPool) {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    create_table(&pool, SCHEMA).await.unwrap();
    // The migration is idempotent, as a migration list run by several replicas needs.
    create_table(&pool, SCHEMA).await.unwrap();
    (env, pool)
}

async fn rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM api.oauth_signing_keys")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn token() -> NewToken {
    NewToken {
        client_id: "client-1".into(),
        tenant: "acme".into(),
        roles: vec!["operator".into()],
        fleets: vec![],
    }
}

fn kid_of(jwt: &str) -> String {
    joule_auth::jws::Compact::parse(jwt).unwrap().header.kid
}

#[tokio::test]
async fn two_stores_racing_to_rotate_add_one_key() {
    let (_env, pool) = setup().await;
    let (a, b) = (store(&pool, 1), store(&pool, 1));

    // The very first key, both replicas starting at once.
    let (ra, rb) = tokio::join!(a.rotate_if_due(t0(), MONTH), b.rotate_if_due(t0(), MONTH));
    let outcomes = [ra.unwrap(), rb.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|r| **r == Rotation::NotDue).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(rows(&pool).await, 1);

    // Not due yet: nothing happens.
    let early = t0() + TimeDelta::days(29);
    assert_eq!(
        a.rotate_if_due(early, MONTH).await.unwrap(),
        Rotation::NotDue
    );

    // Due: both race again, one key is added.
    let due = t0() + TimeDelta::days(30);
    let (ra, rb) = tokio::join!(a.rotate_if_due(due, MONTH), b.rotate_if_due(due, MONTH));
    let outcomes = [ra.unwrap(), rb.unwrap()];
    let added: Vec<_> = outcomes
        .iter()
        .filter_map(|r| match r {
            Rotation::Rotated { kid } => Some(kid.clone()),
            Rotation::NotDue => None,
        })
        .collect();
    assert_eq!(added.len(), 1, "{outcomes:?}");
    assert_eq!(rows(&pool).await, 2);
    a.refresh_at(due).await.unwrap();
    b.refresh_at(due).await.unwrap();
    assert_eq!(a.ring().current().kids(), b.ring().current().kids());
    assert_eq!(a.ring().current().kids()[0], added[0]);
    let retiring: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api.oauth_signing_keys WHERE retire_after IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(retiring, 1);
}

#[tokio::test]
async fn an_older_key_verifies_after_rotation_until_it_retires() {
    let (_env, pool) = setup().await;
    let keys = store(&pool, 7);
    keys.rotate_if_due(t0(), MONTH).await.unwrap();
    let issuer = TokenIssuer::new(keys.ring(), "https://joule.example", "joule-api").unwrap();
    let verifier = Verifier::new(Some(OwnTokens::from(&issuer)), Vec::new(), 0).unwrap();
    let (first, _) = issuer
        .issue(token(), Duration::from_secs(900), t0())
        .unwrap();
    let old_kid = kid_of(&first);

    let t1 = t0() + TimeDelta::days(30);
    let Rotation::Rotated { kid: new_kid } = keys.rotate_if_due(t1, MONTH).await.unwrap() else {
        panic!("rotation was due");
    };
    // The new key is published at once but signs only after the activation delay (5 min), so that
    // every replica and relying party has it first.
    let jwks = issuer.jwks(t1);
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(published, vec![new_kid.as_str(), old_kid.as_str()]);
    let (late_old, _) = issuer
        .issue(token(), Duration::from_secs(3600), t1 + minutes(4))
        .unwrap();
    assert_eq!(kid_of(&late_old), old_kid);
    let (fresh, _) = issuer
        .issue(token(), Duration::from_secs(900), t1 + minutes(5))
        .unwrap();
    assert_eq!(kid_of(&fresh), new_kid);

    // The old key's last token is good until its own expiry, within the old key's life.
    assert!(verifier.verify(&late_old, t1 + minutes(60)).await.is_ok());
    assert!(verifier.verify(&fresh, t1 + minutes(10)).await.is_ok());

    // Retirement: 5 min activation + 60 min longest lifetime + 5 min margin after the rotation.
    let retired = t1 + minutes(70);
    assert_eq!(
        verifier.verify(&late_old, retired).await,
        Err(AuthError::UnknownKey),
        "refused for its key, before its claims are even read"
    );
    keys.refresh_at(retired).await.unwrap();
    assert_eq!(keys.ring().current().kids(), vec![new_kid.as_str()]);
    assert_eq!(issuer.jwks(retired)["keys"].as_array().unwrap().len(), 1);
    let (after, _) = issuer
        .issue(token(), Duration::from_secs(900), retired)
        .unwrap();
    assert!(verifier.verify(&after, retired).await.is_ok());
}

#[tokio::test]
async fn a_wrong_key_encryption_key_fails_at_load_and_never_signs() {
    let (_env, pool) = setup().await;
    let good = store(&pool, 1);
    good.rotate_if_due(t0(), MONTH).await.unwrap();
    let wrong = store(&pool, 2);
    let err = wrong.refresh_at(t0()).await.unwrap_err();
    assert!(matches!(err, KeyStoreError::Unseal { .. }), "{err}");
    assert!(wrong.ring().current().is_empty());
    let issuer = TokenIssuer::new(wrong.ring(), "https://joule.example", "joule-api").unwrap();
    assert!(matches!(
        issuer.issue(token(), Duration::from_secs(60), t0()),
        Err(IssueError::NoSigningKey)
    ));
    // Nor does it add a key sealed under its KEK that the other replicas could not open.
    let due = t0() + TimeDelta::days(31);
    assert!(matches!(
        wrong.rotate_if_due(due, MONTH).await,
        Err(KeyStoreError::Unseal { .. })
    ));
    assert_eq!(rows(&pool).await, 1);

    // A sealed key moved to another row does not open either (the kid is authenticated).
    good.rotate_if_due(due, MONTH).await.unwrap();
    sqlx::query(
        "UPDATE api.oauth_signing_keys SET sealed_private_key = \
         (SELECT sealed_private_key FROM api.oauth_signing_keys ORDER BY created_at LIMIT 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = good.ring().current().kids().len();
    assert!(matches!(
        good.refresh_at(due).await,
        Err(KeyStoreError::Unseal { .. })
    ));
    assert_eq!(
        good.ring().current().kids().len(),
        before,
        "the ring kept its keys"
    );
}

#[tokio::test]
async fn a_store_refuses_a_bad_schema_name() {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let store = KeyStore::new(
        pool.clone(),
        "api; DROP TABLE x",
        KeyEncryptionKey::from_bytes(&[1; 32]),
        KeyPolicy::default(),
    );
    assert!(matches!(store, Err(KeyStoreError::InvalidSchema)));
    assert!(matches!(
        create_table(&pool, "Api").await,
        Err(KeyStoreError::InvalidSchema)
    ));
}

#[tokio::test]
async fn the_migration_runs_in_a_services_migration_list() {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    // As the api will list it (joule_store substitutes `{schema}` and records the version).
    let migrations = [joule_store::Migration {
        version: 1,
        name: "001_oauth_signing_keys",
        sql: joule_auth::MIGRATION_SQL,
    }];
    joule_store::migrate(&pool, SCHEMA, &migrations)
        .await
        .unwrap();
    let keys = store(&pool, 4);
    assert!(matches!(
        keys.rotate_if_due(t0(), MONTH).await.unwrap(),
        Rotation::Rotated { .. }
    ));
    assert_eq!(rows(&pool).await, 1);
}
