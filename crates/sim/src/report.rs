//! The human-readable summary of a run.

use std::fmt::Write as _;

use crate::fleet::Summary;
use crate::stats::ActionStats;

fn ms(micros: Option<u64>) -> String {
    micros.map_or_else(|| "-".into(), |us| format!("{:.2}", us as f64 / 1000.0))
}

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "never".into(), |s| format!("{s:.2} s"))
}

fn row(out: &mut String, label: &str, a: &ActionStats) {
    let q = |p| a.latency.quantile(p);
    let _ = writeln!(
        out,
        "  {label:<27} {:>10} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        a.sent,
        a.answered,
        a.call_errors,
        a.timeouts,
        ms(q(0.5)),
        ms(q(0.9)),
        ms(q(0.99)),
        ms(q(0.999)),
        ms(Some(a.latency.max_micros).filter(|_| a.latency.total() > 0)),
    );
}

impl Summary {
    pub fn render(&self) -> String {
        let c = &self.counts;
        let m = &self.milestones;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "joule sim: {} mode, {} chargers (versions {}), faults {}, {:.1} s",
            self.mode, self.chargers, self.versions, self.faults, self.elapsed_s
        );
        let _ = writeln!(
            out,
            "connections: {} opened in {} attempts, {} failed ({} refused by HTTP status), {} lost, {} deliberate reconnects; peak {} open",
            c.connects,
            c.connect_attempts,
            c.connect_failures,
            c.connects_refused,
            c.connections_lost,
            c.deliberate_reconnects,
            m.peak_connected
        );
        let _ = writeln!(
            out,
            "all connected after {}, all ready (first call answered) after {}",
            secs(m.all_connected_s),
            secs(m.all_ready_s)
        );
        for (kind, (n, example)) in &c.connect_errors {
            let _ = writeln!(out, "  connect error {kind}: {n} (e.g. {example})");
        }
        for o in &m.outages {
            let _ = writeln!(
                out,
                "outage at {:.2} s: down to {} connected; all connected again after {}, all ready after {}",
                o.dropped_at_s,
                o.lowest_connected,
                secs(o.reconnected_after_s),
                secs(o.ready_after_s)
            );
        }
        if c.sessions_started > 0 {
            let _ = writeln!(
                out,
                "sessions: {} started, {} completed, {} aborted",
                c.sessions_started, c.sessions_completed, c.sessions_aborted
            );
        }
        if let Some(steady) = &m.steady {
            let _ = writeln!(
                out,
                "steady phase {:.2}..{:.2} s: {} answers, {:.0} answers/s",
                steady.from_s,
                steady.to_s,
                steady.answered,
                steady.per_second().unwrap_or_default()
            );
        }
        if c.server_calls > 0 {
            let _ = writeln!(out, "CALLs from the gateway answered: {}", c.server_calls);
        }
        let _ = writeln!(
            out,
            "  {:<27} {:>10} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
            "action (latency in ms)",
            "sent",
            "answered",
            "errors",
            "timeouts",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max"
        );
        for (label, stats) in &c.actions {
            row(&mut out, label, stats);
        }
        row(&mut out, "transaction messages", &c.transaction_actions());
        row(&mut out, "all", &c.all_actions());
        for (code, n) in &c.error_codes {
            let _ = writeln!(out, "  CallError {code}: {n}");
        }
        out
    }
}
