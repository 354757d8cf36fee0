//! Support for the end-to-end tests in `tests/`: a REST client, the Python charge point, and a
//! `joule` child process that can be killed and restarted.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use joule_testkit::TestEnv;
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "joule-test-admin-token-5c8e2a9f41b7d3";

static TELEMETRY: std::sync::OnceLock<Option<joule_telemetry::TelemetryGuard>> =
    std::sync::OnceLock::new();

/// Installs Joule's tracing once per test binary, so that spans carry trace context.
pub fn init_tracing() {
    TELEMETRY.get_or_init(|| {
        joule_telemetry::init("joule-e2e", None, joule_telemetry::LogFormat::TestCapture).ok()
    });
}

/// The tariff the end-to-end tests price with: EUR 0.50 per session, 0.40 per kWh, 1.20 per hour,
/// each with 19 % VAT.
pub fn tariff() -> Value {
    json!({
        "country_code": "DE", "party_id": "JOU", "id": "E2E", "currency": "EUR",
        "elements": [{"price_components": [
            {"type": "FLAT", "price": "0.50", "vat": "19", "step_size": 1},
            {"type": "ENERGY", "price": "0.40", "vat": "19", "step_size": 1},
            {"type": "TIME", "price": "1.20", "vat": "19", "step_size": 1}
        ]}],
        "last_updated": "2026-11-01T00:00:00Z"
    })
}

/// An authenticated REST client.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
    /// The credential every request carries: the admin token unless [`Api::with_bearer`].
    bearer: String,
}

impl Api {
    pub fn new(addr: impl std::fmt::Display) -> Self {
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            bearer: ADMIN_TOKEN.to_owned(),
        }
    }

    /// The same api, called with another credential (the platform token, a tenant's API key).
    pub fn with_bearer(&self, bearer: &str) -> Self {
        Self {
            bearer: bearer.to_owned(),
            ..self.clone()
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.bearer)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status}: {body}");
        }
        Ok(body)
    }

    /// POST returning the status and body, whatever the status (for expected refusals).
    pub async fn post_raw(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.bearer)
            .json(&body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.bearer)
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("GET {path}: {status}: {body}");
        }
        Ok(body)
    }

    /// Polls `GET path` until `done` holds for the body.
    pub async fn wait_for(
        &self,
        path: &str,
        done: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let mut last = Value::Null;
        for _ in 0..600 {
            if let Ok(v) = self.get(path).await {
                if done(&v) {
                    return Ok(v);
                }
                last = v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("GET {path} never satisfied the condition; last answer {last}")
    }
}

/// Every service in this test's process, on a fresh database and NATS namespace.
pub struct Joule {
    pub env: TestEnv,
    pub running: joule_runtime::Running,
    pub api: Api,
    /// `ws://<addr>/ocpp`, the base of a charger's endpoint.
    pub ocpp: String,
}

impl Joule {
    /// All services with the test settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// All services with `adjust`ed test settings.
    pub async fn spawn_with(adjust: impl FnOnce(&mut joule_config::Settings)) -> Self {
        let env = TestEnv::new().await;
        let mut settings = env.settings();
        adjust(&mut settings);
        let running = joule_runtime::spawn(settings, &joule_cli::services::ALL)
            .await
            .expect("every service starts");
        let api = Api::new(running.addr("api").expect("api listening"));
        let ocpp = format!(
            "ws://{}/ocpp",
            running.addr("ocpp").expect("ocpp listening")
        );
        Self {
            env,
            running,
            api,
            ocpp,
        }
    }

    /// [`register`]s a site, the tariff, a charger and an account with a token, and waits until the
    /// gateway knows the charger.
    pub async fn register(&self, suffix: &str) -> Fixture {
        let fx = register(&self.api, suffix).await.expect("registered");
        wait_until_charger_known(&self.ocpp, &fx.charge_point_id)
            .await
            .expect("the gateway knows the charger");
        fx
    }
}

/// A session's flags, as the REST API lists them.
pub fn flags(session: &Value) -> Vec<String> {
    session["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f.as_str().expect("a flag").to_owned())
        .collect()
}

/// The total (VAT included) of the invoice of `session`.
pub async fn invoice_total(api: &Api, session: &Value) -> String {
    let invoice = api
        .get(&format!(
            "/v1/invoices/{}",
            session["invoice_id"].as_str().expect("an invoice id")
        ))
        .await
        .expect("the invoice");
    invoice["total_incl_vat"]
        .as_str()
        .expect("a total")
        .to_owned()
}

/// What the tests register: a site, the tariff, one charger, one account with one token.
pub struct Fixture {
    pub charge_point_id: String,
    pub charger_id: String,
    pub account_id: String,
    pub token_uid: String,
}

/// The charge most tests play: the meter from 1000 to 13500 Wh in 45 minutes (12.5 kWh; 6.40 net
/// and 7.62 with VAT on [`tariff`]).
pub const CHARGE: [&str; 3] = ["1000", "13500", "45"];

impl Fixture {
    /// The Python charge points' arguments for a charge of this fixture's charger with its token,
    /// at `ocpp`: `meter` is the meter start and stop (Wh) and the minutes between them (as
    /// [`CHARGE`]), then the script's `options`.
    pub fn charge<'a>(
        &'a self,
        ocpp: &'a str,
        meter: [&'a str; 3],
        options: &[&'a str],
    ) -> Vec<&'a str> {
        let mut args = vec![ocpp, &self.charge_point_id, &self.token_uid];
        args.extend(meter);
        args.extend_from_slice(options);
        args
    }
}

pub async fn register(api: &Api, suffix: &str) -> anyhow::Result<Fixture> {
    register_with_password(api, suffix, None).await
}

/// Like [`register`], the charger registered with an OCPP password (security profile 1).
pub async fn register_with_password(
    api: &Api,
    suffix: &str,
    password: Option<&str>,
) -> anyhow::Result<Fixture> {
    let site = api
        .post(
            "/v1/sites",
            json!({"name": "E2E", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await?;
    // One tariff per OCPI identity: each registration in a system its own.
    let mut ocpi = tariff();
    ocpi["id"] = json!(format!("E2E-{suffix}"));
    let tariff = api.post("/v1/tariffs", ocpi).await?;
    let charge_point_id = format!("E2E-{suffix}");
    let mut charger_body = json!({"charge_point_id": charge_point_id, "site_id": site["id"], "tariff_id": tariff["id"]});
    if let Some(password) = password {
        charger_body["password"] = json!(password);
    }
    let charger = api.post("/v1/chargers", charger_body).await?;
    let account = api
        .post(
            "/v1/accounts",
            json!({"name": "E2E driver", "currency": "EUR"}),
        )
        .await?;
    let token_uid = format!("TAG-{suffix}");
    api.post(
        "/v1/tokens",
        json!({"uid": token_uid, "account_id": account["id"]}),
    )
    .await?;
    Ok(Fixture {
        charge_point_id,
        charger_id: charger["id"].as_str().context("charger id")?.to_owned(),
        account_id: account["id"].as_str().context("account id")?.to_owned(),
        token_uid,
    })
}

/// Waits until the gateway knows the charger (it learns it from the REGISTRY stream).
pub async fn wait_until_charger_known(
    ocpp_base: &str,
    charge_point_id: &str,
) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(charger) = joule_sim::Charger::connect(ocpp_base, charge_point_id).await {
            charger.close().await.ok();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the gateway never accepted {charge_point_id}")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `tests/python/charge_point_16.py` with the Python `ocpp` package (`make python` installs it).
pub async fn python_charge_point(args: &[&str]) -> anyhow::Result<Value> {
    python_script("charge_point_16.py", args).await
}

/// Runs `tests/python/charge_point_201.py`: an OCPP 2.0.1 charging station.
pub async fn python_charge_point_201(args: &[&str]) -> anyhow::Result<Value> {
    python_script("charge_point_201.py", args).await
}

/// An OCPP 2.0.1 charging station (`charge_point_201.py`) in a task of its own: it starts
/// transaction `transaction_id` of the fixture's charger at `ocpp` with `meter` (as
/// [`Fixture::charge`]) and charges until an operator's remote stop, for 60 s at the most. The task
/// ends with what the script printed.
pub fn charge_until_remote_stop(
    ocpp: &str,
    fx: &Fixture,
    meter: [&str; 3],
    transaction_id: &str,
) -> tokio::task::JoinHandle<anyhow::Result<Value>> {
    let options = [
        "--transaction-id",
        transaction_id,
        "--wait-remote-stop",
        "60",
    ];
    let args: Vec<String> = fx
        .charge(ocpp, meter, &options)
        .into_iter()
        .map(str::to_owned)
        .collect();
    tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        python_charge_point_201(&args).await
    })
}

/// Runs a script of `tests/python` and reads the JSON object it prints.
pub async fn python_script(script: &str, args: &[&str]) -> anyhow::Result<Value> {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        bail!(
            "{} is missing: run `make python` (make test does)",
            python.display()
        );
    }
    let output = tokio::process::Command::new(python)
        .arg(root.join("tests/python").join(script))
        .args(args)
        .output()
        .await?;
    if !output.status.success() {
        bail!(
            "python charge point failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `joule run --all` as a child process on fixed free ports of the test environment.
pub struct JouleProcess {
    binary: PathBuf,
    pub api_addr: String,
    pub ocpp_addr: String,
    grpc_addr: String,
    child: Option<Child>,
}

impl JouleProcess {
    /// `binary` is the `joule` entry point; integration tests pass
    /// `env!("CARGO_BIN_EXE_joule-under-test")`, which cargo builds for them.
    pub fn new(binary: &str) -> Self {
        Self {
            binary: PathBuf::from(binary),
            api_addr: format!("127.0.0.1:{}", free_port()),
            ocpp_addr: format!("127.0.0.1:{}", free_port()),
            grpc_addr: format!("127.0.0.1:{}", free_port()),
            child: None,
        }
    }

    /// Starts the process with extra environment (for example a fault-injection variable) and
    /// waits until its API listens.
    pub async fn start(&mut self, env: &TestEnv, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        self.spawn(env, extra)?;
        self.wait_listening().await
    }

    /// Starts the process without waiting for it to listen: for a run that is expected to exit
    /// by itself (an injected crash), which may come before the API is up.
    pub fn spawn(&mut self, env: &TestEnv, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut command = Command::new(&self.binary);
        command
            .args(["run", "--all"])
            .env("JOULE_DATABASE_URL", &env.database_url)
            .env("JOULE_NATS_URL", &env.nats_url)
            .env("JOULE_NAMESPACE", &env.namespace)
            .env("JOULE_API_ADDR", &self.api_addr)
            .env("JOULE_OCPP_ADDR", &self.ocpp_addr)
            .env("JOULE_GRPC_ADDR", &self.grpc_addr)
            .env("JOULE_ADMIN_TOKEN", ADMIN_TOKEN)
            // The Python chargers connect without a password (security profile 0).
            .env("JOULE_OCPP_REQUIRE_AUTH", "false")
            .env("JOULE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        for (k, v) in extra {
            command.env(k, v);
        }
        self.child = Some(command.spawn().context("spawn joule")?);
        Ok(())
    }

    async fn wait_listening(&mut self) -> anyhow::Result<()> {
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(&self.api_addr).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("joule exited during start-up: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("joule did not start listening on {}", self.api_addr)
    }

    /// Waits for the process to exit by itself and returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        let child = self.child.as_mut().context("not running")?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status.code());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("joule did not exit within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process is still running (it has not exited by itself).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for JouleProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until the gateway has the charger's password hash (from the REGISTRY stream), so that a
/// connection without it is refused rather than accepted as profile 0.
pub async fn wait_until_password_known(env: &TestEnv, charge_point_id: &str) -> anyhow::Result<()> {
    let pool = env.pool().await;
    for _ in 0..300 {
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT 1::bigint FROM gateway.charger_credentials WHERE charge_point_id = $1 AND password_hash <> ''",
        )
        .bind(charge_point_id)
        .fetch_optional(&pool)
        .await
        .ok()
        .flatten();
        if known.is_some() {
            pool.close().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the gateway never learnt the password of {charge_point_id}")
}

/// Waits until the charger's sessions are all invoiced and there are `count` of them.
pub async fn invoiced_sessions(
    api: &Api,
    charger_id: &str,
    count: usize,
) -> anyhow::Result<Vec<Value>> {
    let sessions = api
        .wait_for(&format!("/v1/sessions?charger_id={charger_id}"), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == count && d.iter().all(|s| s["invoice_id"].is_string()))
        })
        .await?;
    Ok(sessions["data"].as_array().cloned().unwrap_or_default())
}
