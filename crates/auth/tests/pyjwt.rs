//! An independent check with PyJWT (`tests/python/requirements.txt`, installed into `.venv` by
//! `make python`, which `make test` runs first): PyJWT verifies a token Joule issued against Joule's
//! JWKS, and signs RS256 and ES256 tokens, with keys `cryptography` makes, that Joule's verifier must
//! accept as an external issuer's.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use joule_auth::{
    ClaimMapping, ExternalIssuer, ExternalIssuerConfig, KeyEncryptionKey, KeyPolicy, KeyStore,
    NewToken, OwnTokens, TokenIssuer, Verifier, create_table,
};
use joule_testkit::TestEnv;
use serde_json::{Value, json};
use support::JwksServer;

const JOULE: &str = "https://joule.example";
const EXTERNAL: &str = "https://idp.example";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `pyjwt_check.py dir` with the virtualenv's Python and reads the JSON it prints.
fn pyjwt_check(dir: &Path) -> Value {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make python` (make test does) to install PyJWT",
        python.display()
    );
    let output = std::process::Command::new(&python)
        .arg(root.join("crates/auth/tests/pyjwt_check.py"))
        .arg(dir)
        .output()
        .expect("run .venv/bin/python");
    assert!(
        output.status.success(),
        "pyjwt_check.py failed (is PyJWT installed? `make python`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("pyjwt_check.py prints JSON")
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn pyjwt_verifies_joules_tokens_and_joule_verifies_pyjwts() {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    create_table(&pool, "api").await.unwrap();
    let keys = KeyStore::new(
        pool,
        "api",
        KeyEncryptionKey::from_bytes(&[3; 32]),
        KeyPolicy::default(),
    )
    .unwrap();
    // Real time: PyJWT checks exp, nbf and iat against its own clock.
    let now = Utc::now();
    keys.rotate_if_due(now, Duration::from_secs(30 * 86400))
        .await
        .unwrap();
    let issuer = TokenIssuer::new(keys.ring(), JOULE, "joule-api").unwrap();
    let (jwt, _) = issuer
        .issue(
            NewToken {
                client_id: "fleet-client".into(),
                tenant: "acme".into(),
                roles: vec!["operator".into()],
                fleets: vec!["north".into(), "south".into()],
            },
            Duration::from_secs(900),
            now,
        )
        .unwrap();

    let dir = TempDir(std::env::temp_dir().join(format!("joule-pyjwt-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("joule.jwt"), &jwt).unwrap();
    std::fs::write(dir.0.join("jwks.json"), issuer.jwks(now).to_string()).unwrap();
    let expect = json!({
        "issuer": JOULE,
        "audience": "joule-api",
        "claims": {
            "sub": "fleet-client", "client_id": "fleet-client", "tenant": "acme",
            "roles": ["operator"], "fleets": ["north", "south"],
        },
        "external": {"claims": {
            "iss": EXTERNAL, "aud": "joule", "sub": "user-42", "tenant": "globex",
            "groups": ["joule-ops", "unrelated"], "azp": "portal",
        }},
    });
    std::fs::write(dir.0.join("expect.json"), expect.to_string()).unwrap();

    let summary = pyjwt_check(&dir.0);
    assert_eq!(summary["joule_claims"]["tenant"], "acme");
    assert_eq!(summary["joule_claims"]["iss"], JOULE);

    // PyJWT's RS256 and ES256 tokens, through Joule's verifier, keys served from a loopback JWKS.
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("external.jwks.json")).unwrap())
            .unwrap();
    let server = JwksServer::start(jwks).await;
    let external = ExternalIssuer::new(ExternalIssuerConfig {
        issuer: EXTERNAL.into(),
        jwks_url: server.url.clone(),
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
    .unwrap();
    let verifier = Verifier::new(
        Some(OwnTokens::from(&issuer)),
        vec![Arc::new(external)],
        100,
    )
    .unwrap();
    assert_eq!(verifier.verify(&jwt, now).await.unwrap().tenant, "acme");
    for alg in ["rs256", "es256"] {
        let token = std::fs::read_to_string(dir.0.join(format!("external_{alg}.jwt"))).unwrap();
        let principal = verifier
            .verify(token.trim(), Utc::now())
            .await
            .unwrap_or_else(|e| panic!("PyJWT's {alg} token refused: {e}"));
        assert_eq!(principal.issuer, EXTERNAL);
        assert_eq!(principal.subject, "user-42");
        assert_eq!(principal.tenant, "globex");
        assert_eq!(principal.roles, vec!["operator"]);
        assert_eq!(principal.client_id.as_deref(), Some("portal"));
    }
}
