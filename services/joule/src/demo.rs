//! `joule demo`: the whole platform in one process, driven the way users and chargers drive it.

use std::time::Duration;

use anyhow::{Context as _, bail};
use joule_config::Settings;
use serde_json::{Value, json};

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

pub async fn run(
    mut settings: Settings,
    chargers: usize,
    sessions: usize,
    serve: bool,
) -> anyhow::Result<()> {
    if settings.admin_token.is_empty() {
        // 64 random hex digits: far past the api's strength rule (ADR 028).
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        println!("No JOULE_ADMIN_TOKEN set; this demo's admin token is {token}");
        settings.admin_token = token.into();
    }
    // The simulated chargers connect without a password (security profile 0), which the default
    // refuses; the demo allows it for its own run.
    if settings.ocpp_require_auth {
        println!(
            "The demo's chargers connect without a password: JOULE_OCPP_REQUIRE_AUTH=false for this run"
        );
        settings.ocpp_require_auth = false;
    }
    let running = joule_runtime::spawn(settings.clone(), &services::ALL)
        .await
        .map_err(|e| anyhow::anyhow!("starting services: {e}"))?;
    let api_addr = running.addr("api").context("api did not bind")?;
    let ocpp_addr = running.addr("ocpp").context("gateway did not bind")?;
    println!(
        "REST API  http://{api_addr}/v1   OCPP  ws://{ocpp_addr}/ocpp/{{tenant}}/{{charge_point_id}} \
         (/ocpp/{{charge_point_id}}: the default tenant)"
    );

    let api = Api {
        http: reqwest::Client::new(),
        base: format!("http://{api_addr}"),
        token: settings.admin_token.expose().to_owned(),
    };
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
        accounts.push(id(&account)?);
        let uid = format!("TAG{run_tag}{n}").to_uppercase();
        api.post(
            "/v1/tokens",
            json!({"uid": uid, "account_id": id(&account)?}),
        )
        .await?;
        tags.push(uid);
    }

    let base = format!("ws://{ocpp_addr}/ocpp");
    let mut tasks = Vec::new();
    for (i, cp) in cps.iter().enumerate() {
        let (base, cp, tags) = (base.clone(), cp.clone(), tags.clone());
        tasks.push(tokio::spawn(async move {
            let mut charger = connect_when_known(&base, &cp).await?;
            charger.boot().await?;
            let mut runs = Vec::new();
            for s in 0..sessions {
                let tag = &tags[(i + s) % tags.len()];
                let power_w = 7_400 + 3_700 * (i as u64 % 3);
                runs.push(charger.charge(tag, power_w, 30 + 15 * s as u64, 3).await?);
            }
            charger.close().await?;
            anyhow::Ok((cp, runs))
        }));
    }
    let mut total = 0;
    for task in tasks {
        let (cp, runs) = task.await??;
        for r in runs {
            total += 1;
            println!(
                "{cp}: transaction {} ({}) {} Wh",
                r.transaction_id,
                r.id_tag_status,
                r.meter_stop_wh - r.meter_start_wh
            );
        }
    }

    // Wait until every session is priced and invoiced, then show what integrators see.
    let mut sessions_seen = Vec::new();
    for _ in 0..300 {
        sessions_seen.clear();
        for account in &accounts {
            let listed = api
                .get(&format!("/v1/sessions?account_id={account}&limit=500"))
                .await?;
            sessions_seen.extend(listed["data"].as_array().cloned().unwrap_or_default());
        }
        if sessions_seen
            .iter()
            .filter(|s| s["invoice_id"].is_string())
            .count()
            >= total
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("\nSessions");
    for s in &sessions_seen {
        println!(
            "  {}  {:>8} kWh  {:>8} {} incl. VAT  invoice {}",
            s["id"].as_str().unwrap_or_default(),
            s["energy_kwh"].as_str().unwrap_or("-"),
            s["cost"]["incl_vat"].as_str().unwrap_or("-"),
            s["cost"]["currency"].as_str().unwrap_or(""),
            s["invoice_id"].as_str().unwrap_or("-")
        );
    }
    println!("\nInvoices");
    for account in &accounts {
        let invoices = api
            .get(&format!("/v1/invoices?account_id={account}&limit=500"))
            .await?;
        for inv in invoices["data"].as_array().into_iter().flatten() {
            println!(
                "  {}  net {:>8}  VAT {:>7}  total {:>8} {}",
                inv["number"].as_str().unwrap_or_default(),
                inv["total_excl_vat"].as_str().unwrap_or_default(),
                inv["total_vat"].as_str().unwrap_or_default(),
                inv["total_incl_vat"].as_str().unwrap_or_default(),
                inv["currency"].as_str().unwrap_or_default()
            );
        }
    }
    println!("\nTrial balance");
    let tb = api.get("/v1/ledger/trial-balance").await?;
    for row in tb["accounts"].as_array().into_iter().flatten() {
        println!(
            "  {:<22} {} debit {:>9} credit {:>9} balance {:>9}",
            row["account"].as_str().unwrap_or_default(),
            row["currency"].as_str().unwrap_or_default(),
            row["debit"].as_str().unwrap_or_default(),
            row["credit"].as_str().unwrap_or_default(),
            row["balance"].as_str().unwrap_or_default()
        );
    }
    println!(
        "  {:<22}     debit {:>9} credit {:>9}",
        "total",
        tb["total_debit"].as_str().unwrap_or_default(),
        tb["total_credit"].as_str().unwrap_or_default()
    );

    if serve {
        println!("\nServices keep running; Ctrl-C stops them.");
        let _ = tokio::signal::ctrl_c().await;
    }
    running.stop().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
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
