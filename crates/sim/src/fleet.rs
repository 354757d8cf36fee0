//! A fleet of simulated chargers in one process: one lightweight task per charger, shared rate
//! limits and counters, and a bounded run time.
//!
//! Modes:
//! - `idle`: connect (at `connect_rate`), boot, then only heartbeats; chargers whose connection drops
//!   reconnect with OCPP's randomised back-off. For connection-count and reconnect-storm benchmarks.
//! - `load`: connect, boot, then charging sessions back to back, as fast as `rate` allows.
//! - `storm`: like idle, but every charger connects at once (bounded only by `max_handshakes`).
//!
//! Everything stops by itself: new sessions stop at `duration`, running ones may finish during
//! `drain`, and every task is cut off after that.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use chrono::Utc;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::faults::{FaultMix, VersionMix};
use crate::link::{Answer, Endpoint, Link, LinkError};
use crate::monitor::{Milestones, Tracker};
use crate::ocpp::{Action, Version};
use crate::pace::Pacer;
use crate::plan::{self, SessionSpec, Step, TxUse};
use crate::stats::{ActionStats, Counts, Histogram, Progress, Recorder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Idle,
    Load,
    Storm,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "idle" => Ok(Mode::Idle),
            "load" => Ok(Mode::Load),
            "storm" => Ok(Mode::Storm),
            other => Err(format!("unknown mode {other:?}; use idle, load or storm")),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Idle => "idle",
            Mode::Load => "load",
            Mode::Storm => "storm",
        })
    }
}

/// The charge point id of fleet member `index`.
pub fn charge_point_id(prefix: &str, index: u64) -> String {
    format!("{prefix}-{index:06}")
}

/// The idTag of token `n` (0-based) of a fleet.
pub fn token_uid(prefix: &str, n: u64) -> String {
    format!("{prefix}T{n:05}")
}

#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// `ws://host:port/path`; a charger connects to `<url>/<charge point id>`.
    pub url: String,
    pub mode: Mode,
    /// Chargers in the whole fleet, numbered `first_index ..`.
    pub chargers: u64,
    pub first_index: u64,
    pub id_prefix: String,
    /// This process runs the members whose position `p` has `p % shard_count == shard_index`.
    pub shard_index: u64,
    pub shard_count: u64,
    pub versions: VersionMix,
    pub faults: FaultMix,
    /// Tokens the sessions use, round robin (`token_uid(id_prefix, n)`).
    pub tokens: u64,
    /// CALLs per second for this process; 0 = no limit.
    pub rate: u64,
    /// New connections per second for this process; 0 = no limit.
    pub connect_rate: u64,
    /// Handshakes in flight at once in this process.
    pub max_handshakes: usize,
    pub duration: Duration,
    /// After `duration`, how long running sessions may take to finish.
    pub drain: Duration,
    /// Load mode: sessions per charger (None: until `duration`).
    pub sessions_per_charger: Option<u64>,
    pub meter_samples: u32,
    /// Idle mode heartbeat interval; None: the interval from the BootNotification answer.
    pub heartbeat: Option<Duration>,
    /// Load mode: a Heartbeat after every this many sessions (0 = none).
    pub heartbeat_every_sessions: u64,
    pub source_addrs: u8,
    pub call_timeout: Duration,
    pub connect_timeout: Duration,
    /// Reconnect back-off: `reconnect_min × 2^attempt` (at most 3 doublings) plus up to
    /// `reconnect_random`, as OCPP 2.0.1's RetryBackOff settings describe.
    pub reconnect_min: Duration,
    pub reconnect_random: Duration,
    pub seed: u64,
    /// Makes 2.0.1 transaction ids unique per run.
    pub run_tag: String,
}

impl FleetConfig {
    pub fn new(url: impl Into<String>, mode: Mode, chargers: u64) -> Self {
        Self {
            url: url.into(),
            mode,
            chargers,
            first_index: 1,
            id_prefix: "SIM".into(),
            shard_index: 0,
            shard_count: 1,
            versions: VersionMix::only(Version::V16),
            faults: FaultMix::none(),
            tokens: 10,
            rate: 0,
            connect_rate: 0,
            max_handshakes: 1024,
            duration: Duration::from_secs(60),
            drain: Duration::from_secs(30),
            sessions_per_charger: None,
            meter_samples: 5,
            heartbeat: None,
            heartbeat_every_sessions: 1,
            source_addrs: 8,
            call_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            reconnect_min: Duration::from_secs(1),
            reconnect_random: Duration::from_secs(5),
            seed: 1,
            run_tag: "run".into(),
        }
    }

    /// Fleet member indices this process runs.
    pub fn my_indices(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.chargers)
            .filter(move |p| p % self.shard_count.max(1) == self.shard_index)
            .map(move |p| self.first_index + p)
    }

    pub fn my_count(&self) -> u64 {
        let k = self.shard_count.max(1);
        self.chargers / k + u64::from(self.shard_index < self.chargers % k)
    }
}

/// The result of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub mode: Mode,
    pub chargers: u64,
    pub versions: String,
    pub faults: String,
    pub elapsed_s: f64,
    pub counts: Counts,
    pub milestones: Milestones,
    /// Latency percentiles per action label, plus `transaction messages` and `all`, for scripts.
    pub latency_ms: BTreeMap<String, Percentiles>,
    /// The same for calls sent once every charger was ready: the run without its ramp, when the
    /// whole fleet connects and boots at once.
    #[serde(default)]
    pub steady_latency_ms: BTreeMap<String, Percentiles>,
}

/// Call→answer latency of one action, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub answered: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    pub fn of(stats: &ActionStats) -> Self {
        Self::of_histogram(&stats.latency)
    }

    pub fn of_histogram(h: &Histogram) -> Self {
        let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
        Self {
            answered: h.total(),
            p50: ms(h.quantile(0.5)),
            p90: ms(h.quantile(0.9)),
            p99: ms(h.quantile(0.99)),
            p999: ms(h.quantile(0.999)),
            max: ms((h.total() > 0).then_some(h.max_micros)),
        }
    }
}

impl Summary {
    pub fn new(
        cfg: &FleetConfig,
        chargers: u64,
        elapsed_s: f64,
        counts: Counts,
        milestones: Milestones,
    ) -> Self {
        let mut latency_ms: BTreeMap<String, Percentiles> = counts
            .actions
            .iter()
            .map(|(label, stats)| (label.clone(), Percentiles::of(stats)))
            .collect();
        latency_ms.insert(
            "transaction messages".into(),
            Percentiles::of(&counts.transaction_actions()),
        );
        latency_ms.insert("all".into(), Percentiles::of(&counts.all_actions()));
        let steady = |stats: &ActionStats| Percentiles::of_histogram(&stats.steady_latency);
        let mut steady_latency_ms: BTreeMap<String, Percentiles> = counts
            .actions
            .iter()
            .map(|(label, stats)| (label.clone(), steady(stats)))
            .collect();
        steady_latency_ms.insert(
            "transaction messages".into(),
            steady(&counts.transaction_actions()),
        );
        steady_latency_ms.insert("all".into(), steady(&counts.all_actions()));
        Self {
            mode: cfg.mode,
            chargers,
            versions: cfg.versions.to_string(),
            faults: cfg.faults.to_string(),
            elapsed_s,
            counts,
            milestones,
            latency_ms,
            steady_latency_ms,
        }
    }
}

struct Shared {
    cfg: FleetConfig,
    endpoint: Endpoint,
    recorder: Recorder,
    calls: Pacer,
    connects: Pacer,
    handshakes: Semaphore,
    /// Cancelled at the end of the run time (or earlier by the caller): no new sessions, idle
    /// chargers close.
    stop: CancellationToken,
}

impl Shared {
    fn past_deadline(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Sleeps for `wait`, or less if the run ends meanwhile.
    async fn sleep(&self, wait: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = self.stop.cancelled() => {}
        }
    }
}

/// Raises this process's open-file limit to its hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Runs this process's part of the fleet until its run time is over or `stop` is cancelled.
/// `observe` gets the gauges about four times a second (seconds since the start, progress) and
/// once more at the end.
pub async fn run(
    cfg: FleetConfig,
    stop: CancellationToken,
    mut observe: impl FnMut(f64, Progress),
) -> Result<Counts, crate::SimError> {
    let endpoint = Endpoint::resolve(&cfg.url, cfg.source_addrs)
        .await
        .map_err(|e| crate::SimError::Config(e.to_string()))?;
    let started = Instant::now();
    let shared = Arc::new(Shared {
        endpoint,
        recorder: Recorder::default(),
        calls: Pacer::new(cfg.rate),
        connects: Pacer::new(if cfg.mode == Mode::Storm {
            0
        } else {
            cfg.connect_rate
        }),
        handshakes: Semaphore::new(cfg.max_handshakes.max(1)),
        stop: stop.child_token(),
        cfg,
    });
    let deadline = started + shared.cfg.duration;
    // Set when the run ends: chargers still running after the drain time are cut off.
    let mut hard_stop: Option<Instant> = None;
    let mut tasks = JoinSet::new();
    for index in shared.cfg.my_indices() {
        tasks.spawn(charger(shared.clone(), index));
    }
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let progress = shared.recorder.progress();
                if progress.ready >= shared.cfg.my_count() {
                    shared.recorder.steady.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                observe(started.elapsed().as_secs_f64(), progress)
            }
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Err(e)) if e.is_panic() => tracing::error!(error = %e, "a charger task panicked"),
                Some(_) => {}
            },
            _ = tokio::time::sleep_until(deadline), if !shared.stop.is_cancelled() => shared.stop.cancel(),
            _ = shared.stop.cancelled(), if hard_stop.is_none() => {
                hard_stop = Some(Instant::now() + shared.cfg.drain);
            }
            _ = tokio::time::sleep_until(hard_stop.unwrap_or(deadline)), if hard_stop.is_some() => {
                tracing::warn!(left = tasks.len(), "drain time over; cutting off the chargers still running");
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    observe(started.elapsed().as_secs_f64(), shared.recorder.progress());
    Ok(shared.recorder.snapshot())
}

/// Runs the whole fleet in this process and tracks its milestones; `on_event` sees each milestone
/// and every sample (for progress output).
pub async fn run_local(
    cfg: FleetConfig,
    stop: CancellationToken,
    mut on_sample: impl FnMut(f64, &Progress, &[crate::monitor::Event]),
) -> Result<Summary, crate::SimError> {
    let mut tracker = Tracker::new(cfg.my_count(), cfg.duration.as_secs_f64());
    let started = std::time::Instant::now();
    let chargers = cfg.my_count();
    let stopped = stop.clone();
    let counts = run(cfg.clone(), stop, |at, p| {
        if stopped.is_cancelled() {
            tracker.end(at);
        }
        let events = tracker.observe(at, p);
        on_sample(at, &p, &events);
    })
    .await?;
    Ok(Summary::new(
        &cfg,
        chargers,
        started.elapsed().as_secs_f64(),
        counts,
        tracker.into_milestones(),
    ))
}

/// The charger's own state across connections and sessions.
struct ChargerState {
    index: u64,
    charge_point_id: String,
    version: Version,
    rng: SmallRng,
    register_wh: u64,
    booted: bool,
    sessions: u64,
    heartbeat: Duration,
}

enum Ended {
    /// The run is over for this charger.
    Done,
    /// The connection was lost; reconnect.
    Lost,
}

async fn charger(shared: Arc<Shared>, index: u64) {
    let cfg = &shared.cfg;
    let mut rng = SmallRng::seed_from_u64(cfg.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut state = ChargerState {
        index,
        charge_point_id: charge_point_id(&cfg.id_prefix, index),
        version: cfg.versions.version_of(index),
        register_wh: rng.random_range(1_000_000..50_000_000),
        rng,
        booted: false,
        sessions: 0,
        heartbeat: cfg.heartbeat.unwrap_or(Duration::from_secs(300)),
    };
    let rec = &shared.recorder;
    while let Some(mut link) = connect(&shared, &mut state).await {
        rec.connected.fetch_add(1, Relaxed);
        let ended = match first_call(&shared, &mut state, &mut link).await {
            Ok(()) => {
                rec.ready.fetch_add(1, Relaxed);
                let ended = match cfg.mode {
                    Mode::Idle | Mode::Storm => idle(&shared, &mut state, &mut link).await,
                    Mode::Load => load(&shared, &mut state, &mut link).await,
                };
                rec.ready.fetch_sub(1, Relaxed);
                ended
            }
            Err(_) => Ended::Lost,
        };
        rec.connected.fetch_sub(1, Relaxed);
        match ended {
            Ended::Done => {
                link.close().await;
                break;
            }
            Ended::Lost => {
                rec.connections_lost.fetch_add(1, Relaxed);
                drop(link);
                shared.sleep(backoff(cfg, &mut state.rng, 0)).await;
            }
        }
    }
    rec.finished.fetch_add(1, Relaxed);
}

/// The reconnect wait after `attempt` failed attempts.
fn backoff(cfg: &FleetConfig, rng: &mut SmallRng, attempt: u32) -> Duration {
    let random_ms = cfg.reconnect_random.as_millis() as u64;
    cfg.reconnect_min * 2u32.pow(attempt.min(3))
        + Duration::from_millis(rng.random_range(0..=random_ms))
}

/// Connects, retrying with back-off until the deadline; `None` once the run is over.
async fn connect(shared: &Shared, state: &mut ChargerState) -> Option<Link> {
    let rec = &shared.recorder;
    let mut attempt = 0;
    loop {
        if shared.past_deadline() {
            return None;
        }
        shared.connects.acquire().await;
        let outcome = {
            let _permit = shared.handshakes.acquire().await.ok()?;
            rec.connect_attempts.fetch_add(1, Relaxed);
            tokio::time::timeout(
                shared.cfg.connect_timeout,
                shared
                    .endpoint
                    .connect(&state.charge_point_id, state.version, state.index),
            )
            .await
        };
        let error = match outcome {
            Ok(Ok(link)) => {
                rec.connects.fetch_add(1, Relaxed);
                return Some(link);
            }
            Ok(Err(e)) => e,
            Err(_) => crate::link::ConnectError::Timeout(shared.cfg.connect_timeout),
        };
        rec.connect_failures.fetch_add(1, Relaxed);
        if matches!(error, crate::link::ConnectError::Refused(_)) {
            rec.connects_refused.fetch_add(1, Relaxed);
        }
        rec.connect_error(&error.kind(), || {
            format!("{}: {error}", state.charge_point_id)
        });
        let wait = backoff(&shared.cfg, &mut state.rng, attempt);
        attempt += 1;
        shared.sleep(wait).await;
    }
}

/// BootNotification on the first connection (repeated while not Accepted); after a reconnect a
/// StatusNotification, since the charger did not reboot.
async fn first_call(
    shared: &Shared,
    state: &mut ChargerState,
    link: &mut Link,
) -> Result<(), LinkError> {
    let (timeout, rec) = (shared.cfg.call_timeout, &shared.recorder);
    if state.booted {
        shared.calls.acquire().await;
        link.call(
            rec,
            Action::StatusNotification,
            &plan::resync(state.version, Utc::now()),
            timeout,
        )
        .await?;
        return Ok(());
    }
    loop {
        shared.calls.acquire().await;
        let payload = plan::boot(state.version, &state.charge_point_id);
        let answer = link
            .call(rec, Action::BootNotification, &payload, timeout)
            .await?;
        let (status, interval) = match &answer {
            Answer::Result(v) => (
                v["status"].as_str().unwrap_or_default().to_owned(),
                v["interval"].as_u64(),
            ),
            Answer::Error { .. } => (String::new(), None),
        };
        if status == "Accepted" {
            state.booted = true;
            if shared.cfg.heartbeat.is_none()
                && let Some(secs) = interval.filter(|s| *s > 0)
            {
                state.heartbeat = Duration::from_secs(secs);
            }
            return Ok(());
        }
        // Pending or Rejected: a charger waits the interval it was given and boots again.
        let wait = Duration::from_secs(interval.unwrap_or(10).clamp(1, 60));
        if shared.past_deadline() {
            return Err(LinkError::Closed);
        }
        link.serve_until(rec, Instant::now() + wait, &shared.stop)
            .await?;
    }
}

async fn idle(shared: &Shared, state: &mut ChargerState, link: &mut Link) -> Ended {
    let rec = &shared.recorder;
    // The first heartbeat at a random point of the interval, so a fleet does not beat in step.
    let first = state.heartbeat.mul_f64(state.rng.random::<f64>());
    let mut next_heartbeat = Instant::now() + first;
    loop {
        if link
            .serve_until(rec, next_heartbeat, &shared.stop)
            .await
            .is_err()
        {
            return Ended::Lost;
        }
        if shared.past_deadline() {
            return Ended::Done;
        }
        shared.calls.acquire().await;
        match link
            .call(rec, Action::Heartbeat, &json!({}), shared.cfg.call_timeout)
            .await
        {
            Ok(_) | Err(LinkError::Timeout(_)) => {}
            Err(_) => return Ended::Lost,
        }
        next_heartbeat += state.heartbeat;
    }
}

async fn load(shared: &Shared, state: &mut ChargerState, link: &mut Link) -> Ended {
    let cfg = &shared.cfg;
    let rec = &shared.recorder;
    loop {
        let enough = cfg
            .sessions_per_charger
            .is_some_and(|n| state.sessions >= n);
        if enough || shared.past_deadline() {
            return Ended::Done;
        }
        let faults = cfg.faults.draw(&mut state.rng);
        let spec = SessionSpec::draw(
            &mut state.rng,
            state.version,
            &state.charge_point_id,
            format!("{}-{}-{}", cfg.run_tag, state.index, state.sessions),
            token_uid(
                &cfg.id_prefix,
                (state.index + state.sessions) % cfg.tokens.max(1),
            ),
            state.register_wh,
            cfg.meter_samples,
            Utc::now(),
            faults,
        );
        let steps = spec.plan(&mut state.rng);
        rec.sessions_started.fetch_add(1, Relaxed);
        // Counted as done whatever happens next: a retry of the same session is a new session.
        state.sessions += 1;
        state.register_wh = spec.meter_stop_wh();
        if session(shared, state, link, steps).await.is_err() {
            rec.sessions_aborted.fetch_add(1, Relaxed);
            return Ended::Lost;
        }
        rec.sessions_completed.fetch_add(1, Relaxed);
        if cfg.heartbeat_every_sessions > 0
            && state.sessions.is_multiple_of(cfg.heartbeat_every_sessions)
        {
            shared.calls.acquire().await;
            match link
                .call(rec, Action::Heartbeat, &json!({}), cfg.call_timeout)
                .await
            {
                Ok(_) | Err(LinkError::Timeout(_)) => {}
                Err(_) => return Ended::Lost,
            }
        }
    }
}

/// Sends one session's steps. A timed-out CALL is not retried (the duplicate fault covers
/// retries); a lost connection ends the session.
async fn session(
    shared: &Shared,
    state: &mut ChargerState,
    link: &mut Link,
    steps: Vec<Step>,
) -> Result<(), LinkError> {
    let rec = &shared.recorder;
    let mut transaction_id: Option<Value> = None;
    for step in steps {
        match step {
            Step::Reconnect => {
                rec.deliberate_reconnects.fetch_add(1, Relaxed);
                // Closed first: a charger has one connection at a time.
                link.close().await;
                *link = connect(shared, state).await.ok_or(LinkError::Closed)?;
                first_call(shared, state, link).await?;
            }
            Step::Call {
                action,
                mut payload,
                tx,
            } => {
                if tx == TxUse::Fill {
                    // Without an id (the start's answer was lost) a charger reports -1.
                    payload["transactionId"] = transaction_id.clone().unwrap_or(json!(-1));
                }
                shared.calls.acquire().await;
                match link
                    .call(rec, action, &payload, shared.cfg.call_timeout)
                    .await
                {
                    Ok(Answer::Result(answer)) if tx == TxUse::Capture => {
                        transaction_id = answer.get("transactionId").cloned();
                    }
                    Ok(_) | Err(LinkError::Timeout(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}
