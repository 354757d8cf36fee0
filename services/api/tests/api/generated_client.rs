//! What an integrator does first (issue 14, "Done when"): generate a client from the served
//! `/v1/openapi.json` with an independent generator (PyPI's `openapi-python-client`, in `.venv`)
//! and use it: create a site, read it back, list it, and get a typed problem for one that does
//! not exist.

use std::path::Path;
use tokio::process::Command;

use reqwest::StatusCode;

use crate::helpers::App;

const SCRIPT: &str = r#"
import sys
from joule_client import AuthenticatedClient
from joule_client.api.sites import get_sites, get_sites_id, post_sites
from joule_client.models import NewSite, Problem, SiteView

client = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2])
site = post_sites.sync(client=client, body=NewSite(name="Depot", country="DE", time_zone="Europe/Berlin"))
assert isinstance(site, SiteView), site
again = get_sites_id.sync(site.id, client=client)
assert isinstance(again, SiteView) and again.name == "Depot", again
listed = get_sites.sync(client=client)
assert any(s.id == site.id for s in listed.data), listed
missing = get_sites_id.sync("6f1c1d8e-0000-4000-8000-000000000000", client=client)
assert isinstance(missing, Problem) and missing.status == 404, missing
print("generated client ok", site.id)
"#;

#[tokio::test]
async fn a_client_generated_from_the_served_document_works() {
    let app = App::spawn().await;
    let document = app.get("/v1/openapi.json").await;
    assert_eq!(document.status, StatusCode::OK);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let generator = root.join(".venv/bin/openapi-python-client");
    assert!(generator.exists(), "run `make python` (make test does)");
    let dir = std::env::temp_dir().join(format!("joule-client-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("openapi.json");
    std::fs::write(&path, document.body.to_string()).unwrap();

    let generated = Command::new(&generator)
        .args(["generate", "--meta", "none", "--output-path"])
        .arg(dir.join("joule_client"))
        .arg("--path")
        .arg(&path)
        .output()
        .await
        .expect("openapi-python-client runs");
    let said = String::from_utf8_lossy(&generated.stdout).into_owned()
        + &String::from_utf8_lossy(&generated.stderr);
    assert!(generated.status.success(), "{said}");
    assert!(
        !said.contains("Unable to parse"),
        "nothing left out: {said}"
    );

    let used = Command::new(root.join(".venv/bin/python"))
        .args(["-c", SCRIPT, &app.url(""), &app.token])
        .env("PYTHONPATH", &dir)
        .output()
        .await
        .expect("python runs");
    let out = String::from_utf8_lossy(&used.stdout);
    assert!(
        used.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&used.stderr)
    );
    assert!(out.contains("generated client ok"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}
