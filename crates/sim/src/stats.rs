//! Latency and count statistics, recorded lock-free from thousands of charger tasks and merged across
//! worker processes.
//!
//! Latencies go into a log-linear histogram (16 sub-buckets per power of two, so a reported
//! percentile is at most 1/16 above the true value) instead of a list of samples: memory stays
//! constant however many calls are made, and two histograms merge by adding counts.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ocpp::Action;

/// Sub-buckets per power of two.
const SUB: u64 = 16;
/// log2(SUB).
const SUB_BITS: u32 = 4;
/// Powers of two covered above the linear range: up to 2^40 µs (about 12 days).
const OCTAVES: usize = 37;
/// Number of buckets.
pub const BUCKETS: usize = (OCTAVES + 1) * SUB as usize;

/// The bucket a value (in µs) falls into.
pub fn bucket_of(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let msb = 63 - micros.leading_zeros();
    let shift = msb - SUB_BITS;
    let sub = (micros >> shift) & (SUB - 1);
    (((shift + 1) as u64 * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The largest value (in µs) that falls into `bucket`.
pub fn bucket_upper(bucket: usize) -> u64 {
    let b = bucket as u64;
    if b < SUB {
        return b;
    }
    let shift = b / SUB - 1;
    let sub = b % SUB;
    ((SUB + sub) << shift) + (1 << shift) - 1
}

/// A histogram that many tasks record into at once.
pub struct AtomicHistogram {
    counts: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }
}

impl AtomicHistogram {
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(micros)].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
        self.max_micros.fetch_max(micros, Relaxed);
    }

    pub fn snapshot(&self) -> Histogram {
        Histogram {
            counts: self
                .counts
                .iter()
                .enumerate()
                .filter_map(|(i, c)| match c.load(Relaxed) {
                    0 => None,
                    n => Some((i as u16, n)),
                })
                .collect(),
            sum_micros: self.sum_micros.load(Relaxed),
            max_micros: self.max_micros.load(Relaxed),
        }
    }
}

/// A plain histogram: non-empty buckets as `(bucket, count)` in bucket order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    pub counts: Vec<(u16, u64)>,
    pub sum_micros: u64,
    pub max_micros: u64,
}

impl Histogram {
    pub fn from_micros(values: impl IntoIterator<Item = u64>) -> Self {
        let h = AtomicHistogram::default();
        for v in values {
            h.record(Duration::from_micros(v));
        }
        h.snapshot()
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// The value (µs) at or below which `q` (0..=1) of the recorded values lie: the upper edge of
    /// the bucket holding that rank, never above the largest value recorded. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        // The rank of the value wanted, 1-based: the ceiling of q × total, at least 1.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(bucket, n) in &self.counts {
            seen += n;
            if seen >= rank {
                return Some(bucket_upper(bucket as usize).min(self.max_micros));
            }
        }
        Some(self.max_micros)
    }

    pub fn mean_micros(&self) -> Option<u64> {
        self.sum_micros.checked_div(self.total())
    }

    pub fn merge(&mut self, other: &Histogram) {
        let mut all: BTreeMap<u16, u64> = self.counts.iter().copied().collect();
        for &(bucket, n) in &other.counts {
            *all.entry(bucket).or_default() += n;
        }
        self.counts = all.into_iter().collect();
        self.sum_micros += other.sum_micros;
        self.max_micros = self.max_micros.max(other.max_micros);
    }
}

/// Counters and latencies of one action.
#[derive(Default)]
struct ActionCounters {
    sent: AtomicU64,
    answered: AtomicU64,
    call_errors: AtomicU64,
    timeouts: AtomicU64,
    latency: AtomicHistogram,
    /// Only the answers to calls sent once every charger of this process was ready: the run
    /// without its ramp (the fleet connecting and booting at once).
    steady_latency: AtomicHistogram,
}

/// Everything the fleet counts, shared by all charger tasks of one process.
pub struct Recorder {
    actions: Vec<ActionCounters>,
    /// CallError codes by action; errors are rare, so a lock is fine here.
    error_codes: Mutex<BTreeMap<(Action, String), u64>>,
    pub connect_attempts: AtomicU64,
    pub connects: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Upgrades the gateway refused with an HTTP status (unknown charger, subprotocol).
    pub connects_refused: AtomicU64,
    /// Connections lost without the simulator closing them.
    pub connections_lost: AtomicU64,
    /// Connections the simulator closed on purpose to reconnect (the reconnect fault).
    pub deliberate_reconnects: AtomicU64,
    pub sessions_started: AtomicU64,
    pub sessions_completed: AtomicU64,
    pub sessions_aborted: AtomicU64,
    /// CALLs from the gateway the simulator answered.
    pub server_calls: AtomicU64,
    /// Gauges: connections open now, and chargers whose first call on the current connection was
    /// answered (booted on the first connection, resynchronised after a reconnect).
    pub connected: AtomicU64,
    pub ready: AtomicU64,
    /// Chargers whose task has ended.
    pub finished: AtomicU64,
    /// Set once every charger of this process was ready: later calls also count as steady.
    pub steady: std::sync::atomic::AtomicBool,
    /// Why connections failed, by kind, with one example each.
    connect_errors: Mutex<BTreeMap<String, (u64, String)>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            actions: Action::ALL
                .iter()
                .map(|_| ActionCounters::default())
                .collect(),
            error_codes: Mutex::default(),
            connect_attempts: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            connects_refused: AtomicU64::new(0),
            connections_lost: AtomicU64::new(0),
            deliberate_reconnects: AtomicU64::new(0),
            sessions_started: AtomicU64::new(0),
            sessions_completed: AtomicU64::new(0),
            sessions_aborted: AtomicU64::new(0),
            server_calls: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            steady: std::sync::atomic::AtomicBool::new(false),
            connect_errors: Mutex::default(),
        }
    }
}

impl Recorder {
    fn action(&self, action: Action) -> &ActionCounters {
        &self.actions[action as usize]
    }

    pub fn sent(&self, action: Action) {
        self.action(action).sent.fetch_add(1, Relaxed);
    }

    /// `steady`: the call was sent in the steady phase (see [`Recorder::steady`]).
    pub fn answered(&self, action: Action, latency: Duration, steady: bool) {
        let a = self.action(action);
        a.answered.fetch_add(1, Relaxed);
        a.latency.record(latency);
        if steady {
            a.steady_latency.record(latency);
        }
    }

    /// Whether a call sent now belongs to the steady phase.
    pub fn in_steady_phase(&self) -> bool {
        self.steady.load(Relaxed)
    }

    /// A CALLERROR is an answer too: it is counted as answered, with its latency, and by code.
    pub fn call_error(&self, action: Action, code: &str, latency: Duration, steady: bool) {
        self.answered(action, latency, steady);
        self.action(action).call_errors.fetch_add(1, Relaxed);
        *self
            .error_codes
            .lock()
            .expect("error codes lock")
            .entry((action, code.to_owned()))
            .or_default() += 1;
    }

    pub fn timeout(&self, action: Action) {
        self.action(action).timeouts.fetch_add(1, Relaxed);
    }

    pub fn connect_error(&self, kind: &str, example: impl FnOnce() -> String) {
        let mut errors = self.connect_errors.lock().expect("connect errors lock");
        let entry = errors
            .entry(kind.to_owned())
            .or_insert_with(|| (0, example()));
        entry.0 += 1;
    }

    /// Calls answered so far, over all actions.
    pub fn answered_total(&self) -> u64 {
        self.actions.iter().map(|a| a.answered.load(Relaxed)).sum()
    }

    pub fn progress(&self) -> Progress {
        Progress {
            connected: self.connected.load(Relaxed),
            ready: self.ready.load(Relaxed),
            answered: self.answered_total(),
            sessions_completed: self.sessions_completed.load(Relaxed),
            finished: self.finished.load(Relaxed),
        }
    }

    pub fn snapshot(&self) -> Counts {
        let actions = Action::ALL
            .iter()
            .filter_map(|&action| {
                let a = self.action(action);
                let stats = ActionStats {
                    sent: a.sent.load(Relaxed),
                    answered: a.answered.load(Relaxed),
                    call_errors: a.call_errors.load(Relaxed),
                    timeouts: a.timeouts.load(Relaxed),
                    latency: a.latency.snapshot(),
                    steady_latency: a.steady_latency.snapshot(),
                };
                (stats.sent > 0).then(|| (action.label().to_owned(), stats))
            })
            .collect();
        Counts {
            actions,
            error_codes: self
                .error_codes
                .lock()
                .expect("error codes lock")
                .iter()
                .map(|((action, code), n)| (format!("{} {code}", action.label()), *n))
                .collect(),
            connect_attempts: self.connect_attempts.load(Relaxed),
            connects: self.connects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            connects_refused: self.connects_refused.load(Relaxed),
            connections_lost: self.connections_lost.load(Relaxed),
            deliberate_reconnects: self.deliberate_reconnects.load(Relaxed),
            sessions_started: self.sessions_started.load(Relaxed),
            sessions_completed: self.sessions_completed.load(Relaxed),
            sessions_aborted: self.sessions_aborted.load(Relaxed),
            server_calls: self.server_calls.load(Relaxed),
            connect_errors: self
                .connect_errors
                .lock()
                .expect("connect errors lock")
                .clone(),
        }
    }
}

/// The gauges a monitor samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub connected: u64,
    pub ready: u64,
    pub answered: u64,
    pub sessions_completed: u64,
    pub finished: u64,
}

impl Progress {
    pub fn add(&mut self, other: &Progress) {
        self.connected += other.connected;
        self.ready += other.ready;
        self.answered += other.answered;
        self.sessions_completed += other.sessions_completed;
        self.finished += other.finished;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionStats {
    pub sent: u64,
    /// CALLRESULTs and CALLERRORs.
    pub answered: u64,
    pub call_errors: u64,
    pub timeouts: u64,
    pub latency: Histogram,
    /// Calls sent after every charger was ready (the run without its ramp).
    #[serde(default)]
    pub steady_latency: Histogram,
}

impl ActionStats {
    pub fn merge(&mut self, other: &ActionStats) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.call_errors += other.call_errors;
        self.timeouts += other.timeouts;
        self.latency.merge(&other.latency);
        self.steady_latency.merge(&other.steady_latency);
    }
}

/// What was counted, as a plain value that merges across processes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// By action label, in a stable order.
    pub actions: BTreeMap<String, ActionStats>,
    pub error_codes: BTreeMap<String, u64>,
    pub connect_attempts: u64,
    pub connects: u64,
    pub connect_failures: u64,
    pub connects_refused: u64,
    pub connections_lost: u64,
    pub deliberate_reconnects: u64,
    pub sessions_started: u64,
    pub sessions_completed: u64,
    pub sessions_aborted: u64,
    pub server_calls: u64,
    pub connect_errors: BTreeMap<String, (u64, String)>,
}

impl Counts {
    pub fn merge(&mut self, other: &Counts) {
        for (label, stats) in &other.actions {
            self.actions.entry(label.clone()).or_default().merge(stats);
        }
        for (code, n) in &other.error_codes {
            *self.error_codes.entry(code.clone()).or_default() += n;
        }
        for (kind, (n, example)) in &other.connect_errors {
            self.connect_errors
                .entry(kind.clone())
                .or_insert_with(|| (0, example.clone()))
                .0 += n;
        }
        self.connect_attempts += other.connect_attempts;
        self.connects += other.connects;
        self.connect_failures += other.connect_failures;
        self.connects_refused += other.connects_refused;
        self.connections_lost += other.connections_lost;
        self.deliberate_reconnects += other.deliberate_reconnects;
        self.sessions_started += other.sessions_started;
        self.sessions_completed += other.sessions_completed;
        self.sessions_aborted += other.sessions_aborted;
        self.server_calls += other.server_calls;
    }

    /// Every action together.
    pub fn all_actions(&self) -> ActionStats {
        let mut all = ActionStats::default();
        for stats in self.actions.values() {
            all.merge(stats);
        }
        all
    }

    /// Transaction messages together (StartTransaction, StopTransaction, TransactionEvent).
    pub fn transaction_actions(&self) -> ActionStats {
        let mut all = ActionStats::default();
        for (label, stats) in &self.actions {
            if Action::from_label(label).is_some_and(Action::is_transaction) {
                all.merge(stats);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last_upper = None;
        for b in 0..BUCKETS {
            let upper = bucket_upper(b);
            if let Some(last) = last_upper {
                assert!(upper > last, "bucket {b}");
            }
            last_upper = Some(upper);
            assert_eq!(bucket_of(upper), b, "upper edge of bucket {b}");
            assert_eq!(bucket_of(upper + 1), (b + 1).min(BUCKETS - 1));
        }
        // Relative width: at most 1/16 of the lower edge above the linear range.
        for v in [17u64, 100, 1_000, 12_345, 999_999, 5_000_000] {
            let upper = bucket_upper(bucket_of(v));
            assert!(upper >= v && (upper - v) * 16 <= v, "{v} -> {upper}");
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        // 1..=1000 ms.
        let h = Histogram::from_micros((1..=1000).map(|ms| ms * 1000));
        assert_eq!(h.total(), 1000);
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((500_000..=500_000 + 500_000 / 16).contains(&p50), "{p50}");
        assert!((990_000..=990_000 + 990_000 / 16).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), Some(1_000_000));
        assert_eq!(h.quantile(0.0), Some(bucket_upper(bucket_of(1000))));
        assert_eq!(h.mean_micros(), Some(500_500));
    }

    #[test]
    fn an_empty_histogram_has_no_quantiles() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.mean_micros(), None);
    }

    #[test]
    fn a_quantile_never_exceeds_the_maximum() {
        let h = Histogram::from_micros([1_000_001]);
        assert_eq!(h.quantile(0.99), Some(1_000_001));
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let a: Vec<u64> = (0..500).map(|i| i * 37 % 20_000).collect();
        let b: Vec<u64> = (0..700).map(|i| i * 7919 % 3_000_000).collect();
        let mut merged = Histogram::from_micros(a.clone());
        merged.merge(&Histogram::from_micros(b.clone()));
        assert_eq!(merged, Histogram::from_micros(a.into_iter().chain(b)));
    }

    #[test]
    fn call_errors_count_as_answers_and_by_code() {
        let r = Recorder::default();
        r.sent(Action::Heartbeat);
        r.sent(Action::Heartbeat);
        r.sent(Action::Heartbeat);
        r.answered(Action::Heartbeat, Duration::from_millis(2), false);
        r.call_error(
            Action::Heartbeat,
            "InternalError",
            Duration::from_millis(3),
            true,
        );
        r.timeout(Action::Heartbeat);
        let counts = r.snapshot();
        let hb = &counts.actions["Heartbeat"];
        assert_eq!(
            (hb.sent, hb.answered, hb.call_errors, hb.timeouts),
            (3, 2, 1, 1)
        );
        assert_eq!(counts.error_codes["Heartbeat InternalError"], 1);
        assert!(!counts.actions.contains_key("MeterValues"));
        // Only the call sent in the steady phase counts there.
        assert_eq!((hb.latency.total(), hb.steady_latency.total()), (2, 1));
    }

    #[test]
    fn counts_merge_across_processes() {
        let (a, b) = (Recorder::default(), Recorder::default());
        a.sent(Action::StartTransaction);
        a.answered(Action::StartTransaction, Duration::from_millis(4), true);
        b.sent(Action::StartTransaction);
        b.call_error(
            Action::StartTransaction,
            "InternalError",
            Duration::from_millis(9),
            true,
        );
        b.sent(Action::MeterValues);
        b.answered(Action::MeterValues, Duration::from_millis(1), false);
        b.sessions_completed.fetch_add(2, Relaxed);
        let mut merged = a.snapshot();
        merged.merge(&b.snapshot());
        let start = &merged.actions["StartTransaction"];
        assert_eq!((start.sent, start.answered, start.call_errors), (2, 2, 1));
        assert_eq!(start.latency.total(), 2);
        assert_eq!(start.steady_latency.total(), 2);
        assert_eq!(merged.actions["MeterValues"].steady_latency.total(), 0);
        assert_eq!(merged.sessions_completed, 2);
        assert_eq!(merged.all_actions().sent, 3);
        assert_eq!(merged.transaction_actions().sent, 2);
        let json = serde_json::to_string(&merged).unwrap();
        assert_eq!(serde_json::from_str::<Counts>(&json).unwrap(), merged);
    }
}
