//! `joule demo`: the whole platform in one process, driven the way users and chargers drive it, and
//! told as a guided tour: what happened in plain lines, then how to go on (the API, a fresh API key,
//! two `curl` commands, the reference page). The services' logs go to a file unless `-v`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use joule_config::Settings;
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

use crate::services;

/// A REST client for the demo, authenticated with the admin token.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        match self.answer(method.clone(), path, body).await? {
            (status, value) if status.is_success() => Ok(value),
            (status, value) => bail!("{method} {path}: {status}: {value}"),
        }
    }

    /// The status and the JSON body (`null` when there is none).
    async fn answer(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if text.is_empty() {
            return Ok((status, Value::Null));
        }
        let value = serde_json::from_str(&text)
            .with_context(|| format!("{method} {path}: {status}: {text}"))?;
        Ok((status, value))
    }

    /// Creates a resource, or reads the one that exists already (409 naming it in `existing`): a
    /// demo run against a database an earlier run filled registers the same tariff again.
    async fn create_or_existing(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        match self
            .answer(reqwest::Method::POST, path, Some(&body))
            .await?
        {
            (status, value) if status.is_success() => Ok(value),
            (reqwest::StatusCode::CONFLICT, problem) if problem["existing"].is_string() => {
                self.get(problem["existing"].as_str().unwrap_or_default())
                    .await
            }
            (status, value) => bail!("POST {path}: {status}: {value}"),
        }
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Some(&body)).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }
}

fn id(v: &Value) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .context("response has no id")
}

/// The demo tariff: EUR 0.50 per session, EUR 0.39 per kWh, EUR 1.20 per hour, VAT 19 %.
pub fn demo_tariff() -> Value {
    json!({
        "country_code": "DE", "party_id": "JOU", "id": "DEMO-AC", "currency": "EUR",
        "elements": [{"price_components": [
            {"type": "FLAT", "price": 0.50, "vat": 19.0, "step_size": 1},
            {"type": "ENERGY", "price": 0.39, "vat": 19.0, "step_size": 1},
            {"type": "TIME", "price": 1.20, "vat": 19.0, "step_size": 60}
        ]}],
        "last_updated": "2026-11-01T00:00:00Z"
    })
}

/// How `joule demo` runs.
pub struct Options {
    /// Chargers to simulate.
    pub chargers: usize,
    /// Sessions per charger.
    pub sessions: usize,
    /// Keep serving after the tour, until Ctrl-C or SIGTERM.
    pub serve: bool,
    /// Where the services' logs go; `None`: stderr (`-v`).
    pub log_file: Option<PathBuf>,
}

/// What the tour leaves the user to go on with: the API, a key made for this run and two reads.
pub struct NextSteps {
    /// `http://<api address>`.
    pub api: String,
    /// The secret of an admin key of the demo's tenant, created by `POST /v1/api-keys`.
    pub key: String,
    pub key_id: String,
    /// Paths (with their query) the two `curl` examples read.
    pub reads: [String; 2],
}

impl NextSteps {
    /// A `curl` command line that reads `path` with the key.
    pub fn curl(&self, path: &str) -> String {
        format!(
            "curl -sH \"Authorization: Bearer {}\" \"{}{path}\"",
            self.key, self.api
        )
    }
}

/// Logs of the demo's services into `path` (truncated), filtered like the services' own logs
/// (`JOULE_LOG`), so that the terminal shows only the tour.
pub fn log_to_file(path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot write the log file {}", path.display()))?;
    let filter = EnvFilter::try_from_env("JOULE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,async_nats=warn,h2=warn,tower=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

/// Runs every service, plays the tour on stdout, then serves until a signal or stops.
pub async fn run(mut settings: Settings, options: Options) -> anyhow::Result<()> {
    let out = &mut std::io::stdout();
    writeln!(
        out,
        "Joule demo: every service in one process, {} simulated, {} each.",
        count(options.chargers, "charger"),
        count(options.sessions, "session")
    )?;
    if let Some(path) = &options.log_file {
        writeln!(
            out,
            "Service logs go to {} (`make demo V=1` or `joule demo -v` shows them here).",
            path.display()
        )?;
    }
    if settings.admin_token.is_empty() {
        // 64 random hex digits: far past the api's strength rule (ADR 028).
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        writeln!(
            out,
            "No JOULE_ADMIN_TOKEN set; this run's admin token is {token}"
        )?;
        settings.admin_token = token.into();
    }
    // The simulated chargers connect without a password (security profile 0), which the default
    // refuses; the demo allows it for its own run.
    settings.ocpp_require_auth = false;
    writeln!(out)?;

    let running = joule_runtime::spawn(settings.clone(), &services::ALL)
        .await
        .map_err(|e| anyhow::anyhow!("starting services: {e}"))?;
    let names: Vec<_> = services::ALL.iter().map(|s| s.name).collect();
    writeln!(out, "Started {} in one process.", names.join(", "))?;
    let next = match tour(&running, &settings, options.chargers, options.sessions, out).await {
        Ok(next) => next,
        Err(e) => {
            let _ = running.stop().await;
            return Err(e);
        }
    };

    writeln!(out)?;
    writeln!(out, "Go on from here")?;
    writeln!(out, "  REST API   {}/v1", next.api)?;
    writeln!(
        out,
        "  API key    {}\n             an admin key of tenant \"{}\" (id {}), made just now by POST /v1/api-keys;\n             its secret is shown this once",
        next.key, settings.tenant, next.key_id
    )?;
    writeln!(
        out,
        "  API docs   {}/docs (the API reference, every route)",
        next.api
    )?;
    writeln!(out, "  Try:")?;
    for path in &next.reads {
        writeln!(out, "    {}", next.curl(path))?;
    }
    let again = "`make run` (or `joule run --all`) starts Joule again on the same database; the key stays valid.";
    if options.serve {
        writeln!(
            out,
            "\nJoule keeps running for the commands above: Ctrl-C here stops it.\n{again}"
        )?;
        out.flush()?;
        wait_for_signal().await;
        writeln!(out, "\nStopping Joule.")?;
    }
    running.stop().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if options.serve {
        writeln!(out, "Joule stopped.")?;
    } else {
        writeln!(
            out,
            "\nJoule has stopped (`make demo` keeps it running). {again}"
        )?;
    }
    Ok(())
}

/// Registers what the demo needs, drives the chargers, follows their sessions to the ledger, and
/// makes an API key: every step a line on `out`, every figure from the API's answers.
pub async fn tour(
    running: &joule_runtime::Running,
    settings: &Settings,
    chargers: usize,
    sessions: usize,
    out: &mut impl Write,
) -> anyhow::Result<NextSteps> {
    let api_addr = running.addr("api").context("api did not bind")?;
    let ocpp_addr = running.addr("ocpp").context("gateway did not bind")?;
    let api = Api {
        http: reqwest::Client::new(),
        base: format!("http://{api_addr}"),
        token: settings.admin_token.expose().to_owned(),
    };
    writeln!(
        out,
        "  REST API http://{api_addr}/v1, OCPP ws://{ocpp_addr}/ocpp/<tenant>/<charge point id>"
    )?;
    let run_tag = &uuid::Uuid::new_v4().simple().to_string()[..6];

    let site = api
        .post(
            "/v1/sites",
            json!({"name": "Demo Hub", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await?;
    let tariff = api.create_or_existing("/v1/tariffs", demo_tariff()).await?;
    let mut cps = Vec::new();
    for i in 1..=chargers {
        let cp = format!("DEMO-{run_tag}-{i}");
        api.post(
            "/v1/chargers",
            json!({"charge_point_id": cp, "site_id": id(&site)?, "tariff_id": id(&tariff)?}),
        )
        .await?;
        cps.push(cp);
    }
    let mut tags = Vec::new();
    let mut accounts = Vec::new();
    for (name, n) in [("Fleet Alpha", 1), ("Jane Driver", 2)] {
        let account = api
            .post("/v1/accounts", json!({"name": name, "currency": "EUR"}))
            .await?;
        let uid = format!("TAG{run_tag}{n}").to_uppercase();
        api.post(
            "/v1/tokens",
            json!({"uid": uid, "account_id": id(&account)?}),
        )
        .await?;
        accounts.push((id(&account)?, name));
        tags.push(uid);
    }
    writeln!(out, "Registered through the REST API:")?;
    writeln!(
        out,
        "  site \"{}\", tariff {} ({})",
        site["name"].as_str().unwrap_or_default(),
        tariff["tariff"]["id"].as_str().unwrap_or_default(),
        describe_tariff(&tariff["tariff"])
    )?;
    writeln!(out, "  chargers {}", cps.join(", "))?;
    let holders: Vec<_> = accounts
        .iter()
        .zip(&tags)
        .map(|((_, name), tag)| format!("{name} (RFID token {tag})"))
        .collect();
    writeln!(out, "  accounts {}", holders.join(" and "))?;

    let base = format!("ws://{ocpp_addr}/ocpp");
    let mut connecting = Vec::new();
    for cp in &cps {
        let (base, cp) = (base.clone(), cp.clone());
        connecting.push(tokio::spawn(async move {
            let mut charger = connect_when_known(&base, &cp).await?;
            let boot = charger.boot().await?;
            anyhow::Ok((charger, boot["status"].as_str().unwrap_or("?").to_owned()))
        }));
    }
    let mut connected = Vec::new();
    let mut boots = Vec::new();
    for task in connecting {
        let (charger, status) = task.await??;
        connected.push(charger);
        boots.push(status);
    }
    boots.dedup();
    writeln!(
        out,
        "Connected {} over OCPP 1.6 (without a password: JOULE_OCPP_REQUIRE_AUTH=false for this run); BootNotification answered {}.",
        count(connected.len(), "charger"),
        boots.join(", ")
    )?;

    const METER_SAMPLES: u64 = 3;
    let mut charging = Vec::new();
    for (i, mut charger) in connected.into_iter().enumerate() {
        let tags = tags.clone();
        charging.push(tokio::spawn(async move {
            let mut runs = Vec::new();
            for s in 0..sessions {
                let tag = tags[(i + s) % tags.len()].clone();
                let power_w = 7_400 + 3_700 * (i as u64 % 3);
                let run = charger
                    .charge(&tag, power_w, 30 + 15 * s as u64, METER_SAMPLES)
                    .await?;
                runs.push((tag, run));
            }
            let cp = charger.charge_point_id.clone();
            charger.close().await?;
            anyhow::Ok((cp, runs))
        }));
    }
    let mut runs = Vec::new();
    for task in charging {
        let (cp, charged) = task.await??;
        runs.extend(charged.into_iter().map(|(tag, run)| (cp.clone(), tag, run)));
    }
    writeln!(
        out,
        "Charged {} (Authorize, StartTransaction, {METER_SAMPLES} MeterValues, StopTransaction each):",
        count(runs.len(), "session")
    )?;
    for (cp, tag, r) in &runs {
        writeln!(
            out,
            "  {cp}  transaction {:<4} token {tag} ({})  {} Wh in {} min",
            r.transaction_id,
            r.id_tag_status,
            r.meter_stop_wh - r.meter_start_wh,
            (r.stopped_at - r.started_at).num_minutes()
        )?;
    }

    // Sessions are folded, priced and invoiced by consumers of each other's events: wait for them.
    let total = runs.len();
    let mut seen = Vec::new();
    for attempt in 0.. {
        seen.clear();
        for (account, _) in &accounts {
            let listed = api
                .get(&format!("/v1/sessions?account_id={account}&limit=500"))
                .await?;
            seen.extend(listed["data"].as_array().cloned().unwrap_or_default());
        }
        let invoiced = seen.iter().filter(|s| s["invoice_id"].is_string()).count();
        if invoiced >= total {
            break;
        }
        if attempt == 300 {
            bail!("after 30 s only {invoiced} of {total} sessions are invoiced");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut invoices = HashMap::new();
    for (account, name) in &accounts {
        let listed = api
            .get(&format!("/v1/invoices?account_id={account}&limit=500"))
            .await?;
        for inv in listed["data"].as_array().into_iter().flatten() {
            invoices.insert(id(inv)?, (inv.clone(), *name));
        }
    }
    seen.sort_by_key(|s| {
        (
            s["charge_point_id"].as_str().unwrap_or_default().to_owned(),
            s["transaction_id"]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok()),
        )
    });
    writeln!(
        out,
        "Priced with tariff {} and invoiced, a receipt per session:",
        tariff["tariff"]["id"].as_str().unwrap_or_default()
    )?;
    for s in &seen {
        let invoice_id = s["invoice_id"].as_str().unwrap_or_default();
        let Some((inv, name)) = invoices.get(invoice_id) else {
            bail!("invoice {invoice_id} of session {} is not listed", id(s)?);
        };
        writeln!(
            out,
            "  {}  transaction {:<4} {:>6} kWh  invoice {}  {:>5} + VAT {:>4} = {:>5} {}  to {name}",
            s["charge_point_id"].as_str().unwrap_or_default(),
            s["transaction_id"].as_str().unwrap_or_default(),
            s["energy_kwh"].as_str().unwrap_or_default(),
            inv["number"].as_str().unwrap_or_default(),
            inv["total_excl_vat"].as_str().unwrap_or_default(),
            inv["total_vat"].as_str().unwrap_or_default(),
            inv["total_incl_vat"].as_str().unwrap_or_default(),
            inv["currency"].as_str().unwrap_or_default()
        )?;
    }

    // The ledger posts each invoice from its event: wait until every one is an account transaction.
    for attempt in 0.. {
        let mut posted = 0;
        for (account, _) in &accounts {
            let listed = api
                .get(&format!("/v1/transactions?account_id={account}&limit=500"))
                .await?;
            posted += listed["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| invoices.contains_key(t["source_id"].as_str().unwrap_or_default()))
                .count();
        }
        if posted >= invoices.len() {
            break;
        }
        if attempt == 300 {
            bail!(
                "after 30 s the ledger has posted {posted} of {} invoices",
                invoices.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tb = api.get("/v1/ledger/trial-balance").await?;
    writeln!(
        out,
        "Posted every invoice to the double-entry ledger; its trial balance (every run on this database):"
    )?;
    for row in tb["accounts"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {:<22} {}  debit {:>9}  credit {:>9}",
            row["account"].as_str().unwrap_or_default(),
            row["currency"].as_str().unwrap_or_default(),
            row["debit"].as_str().unwrap_or_default(),
            row["credit"].as_str().unwrap_or_default(),
        )?;
    }
    writeln!(
        out,
        "  {:<22}       debit {:>9}  credit {:>9}",
        "total",
        tb["total_debit"].as_str().unwrap_or_default(),
        tb["total_credit"].as_str().unwrap_or_default()
    )?;

    let mut payments = Vec::new();
    for (account, _) in &accounts {
        let listed = api
            .get(&format!("/v1/payments?account_id={account}"))
            .await?;
        payments.extend(listed["data"].as_array().cloned().unwrap_or_default());
    }
    if payments.is_empty() {
        writeln!(
            out,
            "No payment was taken: the demo's accounts have no payment method, so their invoices are owed (accounts_receivable)."
        )?;
    } else {
        writeln!(out, "Payments:")?;
        for p in &payments {
            writeln!(
                out,
                "  {}  {}  captured {} {}",
                id(p)?,
                p["status"].as_str().unwrap_or_default(),
                p["amount_captured"].as_str().unwrap_or_default(),
                p["currency"].as_str().unwrap_or_default()
            )?;
        }
    }

    let key = api
        .post(
            "/v1/api-keys",
            json!({"name": format!("demo {run_tag}"), "roles": ["admin"]}),
        )
        .await?;
    let first = seen.first().context("no session to show")?;
    let jane = &accounts.last().context("no account")?.0;
    Ok(NextSteps {
        api: api.base.clone(),
        key: key["secret"]
            .as_str()
            .context("the new API key has no secret")?
            .to_owned(),
        key_id: id(&key)?,
        reads: [
            format!("/v1/sessions/{}", id(first)?),
            format!("/v1/invoices?account_id={jane}"),
        ],
    })
}

/// A tariff's price components in a few words: "EUR 0.50 a session, 0.39 a kWh, 1.20 an hour, VAT 19 %".
fn describe_tariff(tariff: &Value) -> String {
    let mut parts = Vec::new();
    let mut vats = Vec::new();
    for element in tariff["elements"].as_array().into_iter().flatten() {
        for c in element["price_components"].as_array().into_iter().flatten() {
            let price = c["price"].as_f64().unwrap_or_default();
            let per = match c["type"].as_str().unwrap_or_default() {
                "FLAT" => "a session",
                "ENERGY" => "a kWh",
                "TIME" => "an hour charging",
                "PARKING_TIME" => "an hour parked",
                _ => "",
            };
            parts.push(format!("{price:.2} {per}"));
            if let Some(vat) = c["vat"].as_f64() {
                vats.push(format!("{vat}"));
            }
        }
    }
    vats.dedup();
    format!(
        "{} {}, VAT {} %",
        tariff["currency"].as_str().unwrap_or_default(),
        parts.join(", "),
        vats.join("/")
    )
}

/// "1 charger", "3 chargers".
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The gateway learns about new chargers from the REGISTRY stream; until it has, it refuses them.
async fn connect_when_known(base: &str, cp: &str) -> anyhow::Result<joule_sim::Charger> {
    let mut last = None;
    for _ in 0..100 {
        match joule_sim::Charger::connect(base, cp).await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow::anyhow!("charger {cp} could not connect: {last:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_tariff_in_a_few_words() {
        assert_eq!(
            describe_tariff(&demo_tariff()),
            "EUR 0.50 a session, 0.39 a kWh, 1.20 an hour charging, VAT 19 %"
        );
    }
}
