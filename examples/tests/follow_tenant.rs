//! The examples as an integrator runs them: a credential made through the REST API, then the Rust
//! and the Python (nats-py) consumers follow the tenant's sessions and invoices on an
//! operator-mode `nats-server`, and replay them from a point in time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use joule_domain::{InvoiceId, SessionId};
use joule_proto::v1;
use joule_testkit::{IntegratorPlane, TestEnv, publish};
use serde_json::{Value, json};

struct Followed {
    url: String,
    stream: String,
    inbox_prefix: String,
    creds: PathBuf,
}

impl Followed {
    fn args(&self, durable: &str, since: Option<&str>, count: u32) -> Vec<String> {
        let mut args = vec![
            "--url".into(),
            self.url.clone(),
            "--creds".into(),
            self.creds.display().to_string(),
            "--stream".into(),
            self.stream.clone(),
            "--inbox-prefix".into(),
            self.inbox_prefix.clone(),
            "--durable".into(),
            durable.into(),
            "--count".into(),
            count.to_string(),
        ];
        if let Some(since) = since {
            args.extend(["--since".into(), since.into()]);
        }
        args
    }
}

/// Runs `program` to completion (at most 60 s); its standard output.
fn run(mut command: Command) -> String {
    let started = std::time::Instant::now();
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the example starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("its output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{:?} took {:?}", command.get_program(), started.elapsed());
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(python.exists(), "run `make python` (make test does)");
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_and_python_examples_follow_a_tenants_sessions_and_invoices() {
    let env = TestEnv::new().await;
    let plane = IntegratorPlane::start().await;
    let mut settings = env.settings_running(&["api", "webhooks"]);
    plane.configure(&mut settings);
    let token = settings.admin_token.expose().to_owned();
    let running = joule_runtime::spawn(settings, &[joule_api::SERVICE, joule_webhooks::SERVICE])
        .await
        .expect("api and webhooks start");
    let api = format!("http://{}", running.addr("api").expect("api"));

    let answer: Value = reqwest::Client::new()
        .post(format!("{api}/v1/nats-credentials"))
        .bearer_auth(&token)
        .json(&json!({"name": "examples"}))
        .send()
        .await
        .expect("POST /v1/nats-credentials")
        .json()
        .await
        .expect("its JSON");
    let creds = std::env::temp_dir().join(format!("joule-example-{}.creds", uuid::Uuid::new_v4()));
    std::fs::write(&creds, answer["creds"].as_str().expect("creds")).unwrap();
    let followed = Followed {
        url: answer["nats"]["url"].as_str().unwrap().into(),
        stream: answer["nats"]["stream"].as_str().unwrap().into(),
        inbox_prefix: answer["nats"]["inbox_prefix"].as_str().unwrap().into(),
        creds: creds.clone(),
    };

    // What sessions and invoicing publish when a session completes and is invoiced, and a site
    // (registry: not followed).
    let bus = env.bus().await;
    let session = SessionId::derived("ex-1").to_string();
    publish(
        &bus,
        format!("session.{session}.completed"),
        publish::meta("ex-1", "ChargingSession", &session, 1),
        &v1::SessionCompleted {
            session_id: session.clone(),
            charge_point_id: "CP-1".into(),
            energy_wh: "7300".into(),
            ..Default::default()
        },
    )
    .await;
    // The session is in the tenant's stream before `between`, the invoice after.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let invoice = InvoiceId::derived("ex-1").to_string();
    publish(
        &bus,
        format!("invoice.{invoice}.issued"),
        publish::meta("ex-1-invoice", "Invoice", &invoice, 1),
        &v1::InvoiceIssued {
            invoice: Some(v1::Invoice {
                id: invoice.clone(),
                number: "R-1".into(),
                currency: "EUR".into(),
                total_incl_vat: "11.90".into(),
                ..Default::default()
            }),
        },
    )
    .await;

    let followed_by_both = |out: &str| {
        assert!(
            out.contains(&format!("joule.v1.SessionCompleted {session}")),
            "{out}"
        );
        assert!(
            out.contains(&format!("joule.v1.InvoiceIssued {invoice}")),
            "{out}"
        );
        assert!(out.contains(r#""number":"R-1""#), "{out}");
    };
    let mut rust = Command::new(env!("CARGO_BIN_EXE_follow-tenant"));
    rust.args(followed.args("rust", None, 2));
    let rust_out = tokio::task::spawn_blocking(move || run(rust))
        .await
        .unwrap();
    followed_by_both(&rust_out);

    let mut py = Command::new(python());
    py.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/follow_tenant.py"))
        .args(followed.args("python", None, 2));
    let py_out = tokio::task::spawn_blocking(move || run(py)).await.unwrap();
    followed_by_both(&py_out);

    // New consumers replay from a point in time: the invoice, not the session before it.
    let since = between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let replayed_invoice_only = |out: &str| {
        assert!(
            out.contains(&format!("joule.v1.InvoiceIssued {invoice}")),
            "{out}"
        );
        assert!(!out.contains("joule.v1.SessionCompleted"), "{out}");
    };
    let mut replay = Command::new(env!("CARGO_BIN_EXE_follow-tenant"));
    replay.args(followed.args("replay", Some(&since), 1));
    let replayed = tokio::task::spawn_blocking(move || run(replay))
        .await
        .unwrap();
    replayed_invoice_only(&replayed);
    let mut py_replay = Command::new(python());
    py_replay
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/follow_tenant.py"))
        .args(followed.args("py-replay", Some(&since), 1));
    let py_replayed = tokio::task::spawn_blocking(move || run(py_replay))
        .await
        .unwrap();
    replayed_invoice_only(&py_replayed);

    running.stop().await.expect("stops cleanly");
    let _ = std::fs::remove_file(creds);
}
