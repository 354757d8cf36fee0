//! `joule sim`: the charger simulator and load generator ([`joule_sim::fleet`]) on the command line.
//!
//! It can register its fleet through the REST API first (`--api`), in bulk with concurrent requests,
//! and it splits a fleet that needs more sockets than one process may open over worker processes
//! (itself, re-run with a hidden `--shard i/k`), merging their counts and latency histograms.

use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use joule_config::Settings;
use joule_sim::CancellationToken;
use joule_sim::faults::{FaultMix, VersionMix};
use joule_sim::fleet::{self, FleetConfig, Mode, Summary};
use joule_sim::monitor::{Event, Tracker};
use joule_sim::stats::{Counts, Progress};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::task::JoinSet;

/// Sockets a worker keeps free for everything but chargers.
const FD_RESERVE: u64 = 256;

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// idle (connect, boot, heartbeat), load (sessions as fast as allowed) or storm (all connect at once).
    #[arg(long, default_value = "load")]
    pub mode: Mode,
    /// Chargers in the fleet.
    #[arg(long, default_value_t = 100)]
    pub chargers: u64,
    /// Gateway OCPP base URL; a charger connects to <url>/<charge point id>. Default: ws://<JOULE_OCPP_ADDR>/ocpp.
    #[arg(long)]
    pub url: Option<String>,
    /// How long to run, in seconds (new sessions start only before the end).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// After the run time, how long running sessions may take to finish, in seconds.
    #[arg(long, default_value_t = 30)]
    pub drain: u64,
    /// OCPP versions: `1.6`, `2.0.1`, or weights like `1.6=0.7,2.0.1=0.3`.
    #[arg(long, default_value = "1.6")]
    pub mix: VersionMix,
    /// Per-session fault probabilities, e.g. `duplicate=0.05,offline=0.01` or `all=0.02`. Faults:
    /// duplicate, out-of-order, offline, meter-regression, kwh-unit, kwh-as-wh, negative-txid,
    /// reconnect, numbers-as-strings.
    #[arg(long, default_value = "")]
    pub faults: FaultMix,
    /// CALLs per second over the whole fleet; 0 = unlimited.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// New connections per second over the whole fleet (idle and load); 0 = unlimited.
    #[arg(long, default_value_t = 2000)]
    pub connect_rate: u64,
    /// WebSocket handshakes in flight at once per process.
    #[arg(long, default_value_t = 1024)]
    pub max_handshakes: usize,
    /// Load mode: sessions per charger (default: until the run time is over).
    #[arg(long)]
    pub sessions: Option<u64>,
    /// Periodic MeterValues (2.0.1: TransactionEvent Updated) per session.
    #[arg(long, default_value_t = 5)]
    pub meter_samples: u32,
    /// Idle mode heartbeat interval in seconds (default: the interval the gateway gives at boot).
    #[arg(long)]
    pub heartbeat_secs: Option<u64>,
    /// Charge point ids are <prefix>-<index, 6 digits>; tokens <prefix>T<n, 5 digits>.
    #[arg(long, default_value = "SIM")]
    pub id_prefix: String,
    /// Index of the first charger.
    #[arg(long, default_value_t = 1)]
    pub first_index: u64,
    /// Tokens the sessions use, round robin.
    #[arg(long, default_value_t = 10)]
    pub tokens: u64,
    /// Loopback source addresses 127.0.0.2.. to spread connections over (0 = let the kernel choose).
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 30)]
    pub call_timeout: u64,
    /// Reconnect back-off: minimum wait (doubled per failed attempt, at most 3 times), in ms.
    #[arg(long, default_value_t = 1000)]
    pub reconnect_min_ms: u64,
    /// Reconnect back-off: random extra wait of up to this many ms.
    #[arg(long, default_value_t = 5000)]
    pub reconnect_random_ms: u64,
    /// Seed for sessions and faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker processes; 0 = as many as the open-file limit requires.
    #[arg(long, default_value_t = 0)]
    pub workers: u64,
    /// Print progress every this many seconds (milestones are printed when they happen).
    #[arg(long, default_value_t = 5)]
    pub progress_secs: u64,
    /// Register the fleet (a site, a tariff, an account, tokens, chargers) through this REST API
    /// first, e.g. http://127.0.0.1:8080. Already registered ones are kept.
    #[arg(long)]
    pub api: Option<String>,
    /// Admin token for --api (default: JOULE_ADMIN_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Concurrent registration requests.
    #[arg(long, default_value_t = 64)]
    pub register_concurrency: usize,
    /// Only register, do not run chargers.
    #[arg(long)]
    pub register_only: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Internal: run as worker i of k and report JSON lines on stdout.
    #[arg(long, hide = true)]
    pub shard: Option<String>,
}

impl SimArgs {
    fn fleet_config(&self, settings: &Settings, shard: (u64, u64)) -> FleetConfig {
        let (index, count) = shard;
        let per_process = |total: u64| total.div_ceil(count.max(1));
        let url = self
            .url
            .clone()
            .unwrap_or_else(|| format!("ws://{}/ocpp", settings.ocpp_addr));
        let mut cfg = FleetConfig::new(url, self.mode, self.chargers);
        cfg.first_index = self.first_index;
        cfg.id_prefix = self.id_prefix.clone();
        cfg.shard_index = index;
        cfg.shard_count = count;
        cfg.versions = self.mix;
        cfg.faults = self.faults.clone();
        cfg.tokens = self.tokens;
        cfg.rate = per_process(self.rate);
        cfg.connect_rate = per_process(self.connect_rate);
        cfg.max_handshakes = self.max_handshakes;
        cfg.duration = Duration::from_secs(self.duration);
        cfg.drain = Duration::from_secs(self.drain);
        cfg.sessions_per_charger = self.sessions;
        cfg.meter_samples = self.meter_samples;
        cfg.heartbeat = self.heartbeat_secs.map(Duration::from_secs);
        cfg.source_addrs = self.source_addrs;
        cfg.call_timeout = Duration::from_secs(self.call_timeout);
        cfg.reconnect_min = Duration::from_millis(self.reconnect_min_ms);
        cfg.reconnect_random = Duration::from_millis(self.reconnect_random_ms);
        cfg.seed = self.seed;
        cfg.run_tag = run_tag();
        cfg
    }
}

/// Short and unique enough per run: 2.0.1 transaction ids must not repeat across runs.
fn run_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

pub fn main(settings: Settings, args: SimArgs) -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let worker = args.shard.is_some();
    let code = runtime.block_on(async move {
        // Workers report on stdout; their logs (stderr) stay quiet unless asked for.
        let _telemetry = joule_telemetry::init("joule-sim", None, joule_telemetry::LogFormat::Text);
        let outcome = if worker {
            run_worker(&settings, &args).await
        } else {
            run(&settings, &args).await
        };
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("joule sim: {e:#}");
                ExitCode::FAILURE
            }
        }
    });
    // A worker's stdin reader sits in a blocking thread that only the parent closing the pipe ends;
    // do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run(settings: &Settings, args: &SimArgs) -> anyhow::Result<()> {
    if args.chargers == 0 {
        bail!("--chargers must be at least 1");
    }
    if let Some(api) = &args.api {
        let token = args
            .token
            .clone()
            .unwrap_or_else(|| settings.admin_token.expose().to_owned());
        if token.is_empty() {
            bail!("--api needs --token or JOULE_ADMIN_TOKEN");
        }
        let fleet = Registration {
            id_prefix: args.id_prefix.clone(),
            first_index: args.first_index,
            chargers: args.chargers,
            tokens: args.tokens,
            concurrency: args.register_concurrency,
        };
        register(api, &token, &fleet, true).await?;
    }
    if args.register_only {
        return Ok(());
    }
    let limit = fleet::raise_fd_limit().context("raising the open-file limit")?;
    let capacity = limit.saturating_sub(FD_RESERVE).max(1);
    let workers = match args.workers {
        0 => args.chargers.div_ceil(capacity),
        n => n,
    };
    if args.chargers.div_ceil(workers) > capacity {
        eprintln!(
            "warning: {} chargers over {workers} process(es) exceeds the open-file limit {limit} per process",
            args.chargers
        );
    }
    let summary = if workers <= 1 {
        run_in_process(settings, args).await?
    } else {
        eprintln!(
            "{} chargers need {workers} worker processes (open-file limit {limit} each)",
            args.chargers
        );
        run_workers(settings, args, workers).await?
    };
    println!("{}", summary.render());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Prints progress lines and milestones.
struct Printer {
    every: f64,
    next: f64,
    last: (f64, u64),
    fleet: u64,
}

impl Printer {
    fn new(every_secs: u64, fleet: u64) -> Self {
        Self {
            every: every_secs.max(1) as f64,
            next: every_secs.max(1) as f64,
            last: (0.0, 0),
            fleet,
        }
    }

    fn sample(&mut self, at: f64, p: &Progress, events: &[Event]) {
        for e in events {
            println!("[{at:8.2}s] {e}");
        }
        if at >= self.next {
            let rate =
                (p.answered - self.last.1.min(p.answered)) as f64 / (at - self.last.0).max(1e-9);
            println!(
                "[{at:8.2}s] connected {}/{} ready {} answered {} ({rate:.0}/s) sessions {}",
                p.connected, self.fleet, p.ready, p.answered, p.sessions_completed
            );
            self.last = (at, p.answered);
            self.next = at + self.every;
        }
    }
}

/// A token cancelled by SIGINT or SIGTERM: the run ends early, with its summary.
fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("joule sim: stopping early on a signal");
        cancel.cancel();
    });
    stop
}

async fn run_in_process(settings: &Settings, args: &SimArgs) -> anyhow::Result<Summary> {
    let cfg = args.fleet_config(settings, (0, 1));
    let mut printer = Printer::new(args.progress_secs, args.chargers);
    let stop = stop_on_signal();
    Ok(fleet::run_local(cfg, stop, |at, p, events| printer.sample(at, p, events)).await?)
}

/// What a worker reports, one JSON object per line: `{"progress": Progress}` about four times a
/// second, then `{"counts": Counts}`.
enum Report {
    Progress(Progress),
    Counts(Box<Counts>),
}

impl Report {
    fn parse(line: &str) -> Option<Self> {
        let mut value: Value = serde_json::from_str(line).ok()?;
        if let Some(p) = value.get_mut("progress") {
            return serde_json::from_value(p.take()).ok().map(Report::Progress);
        }
        let counts = value.get_mut("counts")?.take();
        serde_json::from_value(counts)
            .ok()
            .map(|c| Report::Counts(Box::new(c)))
    }
}

async fn run_worker(settings: &Settings, args: &SimArgs) -> anyhow::Result<()> {
    let shard = args.shard.as_deref().unwrap_or_default();
    let parsed = shard
        .split_once('/')
        .and_then(|(i, k)| Some((i.parse::<u64>().ok()?, k.parse::<u64>().ok()?)))
        .filter(|(i, k)| i < k);
    let Some(shard) = parsed else {
        bail!("--shard {shard:?}: write i/k with i < k");
    };
    fleet::raise_fd_limit().context("raising the open-file limit")?;
    let cfg = args.fleet_config(settings, shard);
    // The parent closes our stdin to stop us early; so does its death, so no worker outlives it.
    let stop = stop_on_signal();
    let cancel = stop.clone();
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        cancel.cancel();
    });
    let counts = fleet::run(cfg, stop, |_, p| {
        println!("{}", json!({ "progress": p }));
    })
    .await?;
    println!("{}", json!({ "counts": counts }));
    Ok(())
}

/// Runs `k` copies of this binary as workers and merges what they report.
async fn run_workers(settings: &Settings, args: &SimArgs, k: u64) -> anyhow::Result<Summary> {
    let cfg = args.fleet_config(settings, (0, 1));
    let exe = std::env::current_exe().context("locating the joule binary")?;
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let latest = Arc::new(Mutex::new(vec![Progress::default(); k as usize]));
    let mut children = JoinSet::new();
    // Held open while the run lasts; dropping them tells the workers to stop.
    let mut stdins = Vec::new();
    for i in 0..k {
        let mut child = tokio::process::Command::new(&exe)
            .args(&argv)
            .arg("--shard")
            .arg(format!("{i}/{k}"))
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting worker {i}"))?;
        let stdout = child.stdout.take().context("worker stdout")?;
        stdins.push(child.stdin.take().context("worker stdin")?);
        let latest = latest.clone();
        children.spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            let mut counts = None;
            while let Some(line) = lines.next_line().await? {
                match Report::parse(&line) {
                    Some(Report::Progress(p)) => {
                        latest.lock().expect("progress lock")[i as usize] = p
                    }
                    Some(Report::Counts(c)) => counts = Some(*c),
                    None => eprintln!("worker {i}: {line}"),
                }
            }
            let status = child.wait().await?;
            match counts {
                Some(c) if status.success() => anyhow::Ok(c),
                _ => bail!("worker {i} ended with {status} without a summary"),
            }
        });
    }
    let started = Instant::now();
    let mut tracker = Tracker::new(args.chargers, args.duration as f64);
    let mut printer = Printer::new(args.progress_secs, args.chargers);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut merged = Counts::default();
    let mut failures = Vec::new();
    let stop = stop_on_signal();
    loop {
        tokio::select! {
            _ = stop.cancelled(), if !stdins.is_empty() => stdins.clear(),
            _ = tick.tick() => {
                let mut total = Progress::default();
                for p in latest.lock().expect("progress lock").iter() {
                    total.add(p);
                }
                let at = started.elapsed().as_secs_f64();
                if stop.is_cancelled() {
                    tracker.end(at);
                }
                let events = tracker.observe(at, total);
                printer.sample(at, &total, &events);
            }
            joined = children.join_next() => match joined {
                None => break,
                Some(Ok(Ok(counts))) => merged.merge(&counts),
                Some(Ok(Err(e))) => failures.push(e.to_string()),
                Some(Err(e)) => failures.push(e.to_string()),
            },
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} worker(s) failed: {}",
            failures.len(),
            failures.join("; ")
        );
    }
    Ok(Summary::new(
        &cfg,
        args.chargers,
        started.elapsed().as_secs_f64(),
        merged,
        tracker.into_milestones(),
    ))
}

/// A fleet to register.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id_prefix: String,
    pub first_index: u64,
    pub chargers: u64,
    pub tokens: u64,
    pub concurrency: usize,
}

/// What registration created (or found).
#[derive(Debug, Clone)]
pub struct Registered {
    pub site_id: String,
    pub tariff_id: String,
    pub account_id: String,
    pub chargers_created: u64,
    pub chargers_existing: u64,
}

/// The tariff simulated sessions are priced with: EUR 0.39 per kWh, 19 % VAT.
fn tariff(id: &str) -> Value {
    json!({
        "country_code": "DE", "party_id": "JOU", "id": id, "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.39", "vat": "19", "step_size": 1}]}],
        "last_updated": "2026-11-01T00:00:00Z"
    })
}

/// Registers a site, a tariff, an account, the fleet's tokens and chargers through the REST API,
/// with `concurrency` requests in flight. Chargers and tokens that exist already (409) are kept.
pub async fn register(
    api: &str,
    token: &str,
    fleet: &Registration,
    verbose: bool,
) -> anyhow::Result<Registered> {
    let client = Rest {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(fleet.concurrency.max(1))
            .timeout(Duration::from_secs(60))
            .build()?,
        base: api.trim_end_matches('/').to_owned(),
        token: token.to_owned(),
    };
    let started = Instant::now();
    let tag = run_tag();
    let site = client
        .post(
            "/v1/sites",
            &json!({"name": format!("Simulated fleet {}", fleet.id_prefix), "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await?
        .context("site")?;
    let tariff = client
        .post(
            "/v1/tariffs",
            &tariff(&format!("SIM{}", tag.to_uppercase())),
        )
        .await?
        .context("tariff")?;
    let account = client
        .post(
            "/v1/accounts",
            &json!({"name": format!("Simulated drivers {}", fleet.id_prefix), "currency": "EUR"}),
        )
        .await?
        .context("account")?;
    let id = |v: &Value| -> anyhow::Result<String> {
        v["id"]
            .as_str()
            .map(str::to_owned)
            .context("answer has no id")
    };
    let (site_id, tariff_id, account_id) = (id(&site)?, id(&tariff)?, id(&account)?);

    let tokens: Vec<Value> = (0..fleet.tokens)
        .map(|n| json!({"uid": fleet::token_uid(&fleet.id_prefix, n), "account_id": account_id}))
        .collect();
    bulk(&client, "/v1/tokens", tokens, fleet.concurrency, None).await?;
    let chargers: Vec<Value> = (0..fleet.chargers)
        .map(|p| {
            json!({
                "charge_point_id": fleet::charge_point_id(&fleet.id_prefix, fleet.first_index + p),
                "site_id": site_id,
                "tariff_id": tariff_id,
            })
        })
        .collect();
    let progress = verbose.then_some("chargers");
    let (created, existing) = bulk(
        &client,
        "/v1/chargers",
        chargers,
        fleet.concurrency,
        progress,
    )
    .await?;
    if verbose {
        println!(
            "registered {created} chargers ({existing} already known) and {} tokens in {:.1} s",
            fleet.tokens,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Registered {
        site_id,
        tariff_id,
        account_id,
        chargers_created: created,
        chargers_existing: existing,
    })
}

/// POSTs every body with `concurrency` requests in flight; returns (created, already existing).
async fn bulk(
    client: &Rest,
    path: &'static str,
    bodies: Vec<Value>,
    concurrency: usize,
    progress: Option<&'static str>,
) -> anyhow::Result<(u64, u64)> {
    let total = bodies.len();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let (mut created, mut existing, mut done) = (0u64, 0u64, 0usize);
    let started = Instant::now();
    let mut report_at = Instant::now() + Duration::from_secs(5);
    let finish = |outcome: Option<Value>, created: &mut u64, existing: &mut u64| match outcome {
        Some(_) => *created += 1,
        None => *existing += 1,
    };
    for body in bodies {
        let permit = semaphore.clone().acquire_owned().await?;
        let client = client.clone();
        tasks.spawn(async move {
            let outcome = client.post(path, &body).await;
            drop(permit);
            outcome
        });
        // Reap finished requests as we go, so that errors surface early and memory stays flat.
        while let Some(joined) = tasks.try_join_next() {
            finish(joined??, &mut created, &mut existing);
            done += 1;
        }
        if let Some(what) = progress
            && Instant::now() >= report_at
        {
            println!(
                "  {done}/{total} {what} ({:.0}/s)",
                done as f64 / started.elapsed().as_secs_f64()
            );
            report_at = Instant::now() + Duration::from_secs(5);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        finish(joined??, &mut created, &mut existing);
    }
    Ok((created, existing))
}

#[derive(Clone)]
struct Rest {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Rest {
    /// POSTs `body`; `None` when the record exists already (409). Transient failures (connection
    /// errors, 5xx) are retried a few times.
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Option<Value>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await;
            let retry = match sent {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok(Some(serde_json::from_str(&text)?));
                    }
                    if status == reqwest::StatusCode::CONFLICT {
                        return Ok(None);
                    }
                    if !status.is_server_error() {
                        bail!("POST {path}: {status}: {text}");
                    }
                    format!("{status}: {text}")
                }
                Err(e) => e.to_string(),
            };
            if attempt >= 5 {
                bail!("POST {path}: {retry} (after {attempt} attempts)");
            }
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
    }
}
