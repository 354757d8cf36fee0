//! The raw frame audit trail: every OCPP frame received from and sent to a charger, as text, per
//! charger, in `gateway.frames`, kept for `JOULE_OCPP_FRAME_RETENTION_DAYS` and purged periodically.
//!
//! Frames are written in batches by one task so that a connection never waits for its own insert,
//! with `COPY … FROM STDIN` (CSV): one round trip and no per-row statement work for thousands of
//! frames, so the trail keeps up with the message rate without taking pooled connections from the
//! message path. Retention is enforced by [`run_purge`]. The events that bill are durable in
//! JetStream before any answer; the audit trail is the evidence of what the charger literally sent
//! (signed meter values, malformed frames).
//!
//! Recording never makes a connection wait, and what waits for the writer is bounded by bytes: in
//! all (`JOULE_OCPP_AUDIT_BUFFER_BYTES`) and per connection (`JOULE_OCPP_AUDIT_CHARGER_BYTES`), so
//! that neither a slow database nor one chatty charger holds the gateway's memory or crowds out
//! the other chargers' frames. A frame beyond either budget is not recorded: counted
//! ([`FrameLog::dropped`], and per connection, logged when it closes) and logged when dropping
//! starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolCopyExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::batch::with_retries;

/// Frames buffered for the writer at most (besides the byte budgets).
const BUFFER: usize = 65_536;
/// Frames per COPY.
const BATCH: usize = 4096;
/// How often old frames are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the charger.
    In,
    /// To the charger.
    Out,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

#[derive(Debug)]
pub struct FrameRecord {
    pub tenant_id: String,
    pub charge_point_id: String,
    pub direction: Direction,
    pub at: DateTime<Utc>,
    pub frame: String,
    /// The connection's bytes waiting for the writer, released once written.
    charger_queued: Arc<AtomicUsize>,
}

impl FrameRecord {
    fn bytes(&self) -> usize {
        self.charge_point_id.len() + self.frame.len()
    }
}

/// The byte budgets of the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct AuditBudget {
    /// Bytes waiting for the writer, in all.
    pub total_bytes: usize,
    /// Bytes of one connection waiting for the writer.
    pub charger_bytes: usize,
}

struct Shared {
    budget: AuditBudget,
    queued: AtomicUsize,
    dropped: AtomicU64,
    /// Whether the total budget is exhausted (logged when that starts, not per frame).
    full: AtomicBool,
}

/// Where connections hand their frames; a no-op when retention is 0.
#[derive(Clone)]
pub struct FrameLog {
    tx: Option<mpsc::Sender<FrameRecord>>,
    shared: Arc<Shared>,
}

/// One connection's share of the audit trail.
pub struct ChargerFrames {
    tenant_id: String,
    charge_point_id: String,
    queued: Arc<AtomicUsize>,
    dropped: u64,
}

impl ChargerFrames {
    /// Frames of this connection not recorded (over a budget).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl FrameLog {
    /// A log that records nothing.
    pub fn disabled() -> Self {
        Self {
            tx: None,
            shared: Arc::new(Shared {
                budget: AuditBudget {
                    total_bytes: 0,
                    charger_bytes: 0,
                },
                queued: AtomicUsize::new(0),
                dropped: AtomicU64::new(0),
                full: AtomicBool::new(false),
            }),
        }
    }

    /// A log and the writer that drains it into `gateway.frames`.
    pub fn new(pool: PgPool, budget: AuditBudget) -> (Self, FrameWriter) {
        let (tx, rx) = mpsc::channel(BUFFER);
        let shared = Arc::new(Shared {
            budget,
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            full: AtomicBool::new(false),
        });
        let writer = FrameWriter {
            pool,
            rx,
            shared: shared.clone(),
        };
        (
            Self {
                tx: Some(tx),
                shared,
            },
            writer,
        )
    }

    /// Frames not recorded since the start (over a budget, or the writer gone).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// A connection's share of the trail (a charge point in its tenant).
    pub fn charger(&self, tenant_id: &str, charge_point_id: &str) -> ChargerFrames {
        ChargerFrames {
            tenant_id: tenant_id.to_owned(),
            charge_point_id: charge_point_id.to_owned(),
            queued: Arc::new(AtomicUsize::new(0)),
            dropped: 0,
        }
    }

    /// Hands a frame to the writer, or drops it when a budget is spent; never waits.
    pub fn record(&self, charger: &mut ChargerFrames, direction: Direction, frame: &str) {
        let Some(tx) = &self.tx else { return };
        let bytes = charger.charge_point_id.len() + frame.len();
        let budget = self.shared.budget;
        let charger_queued = charger.queued.load(Ordering::Relaxed);
        if charger_queued + bytes > budget.charger_bytes {
            return self.drop_frame(charger, "the connection's audit budget is spent");
        }
        let total = self.shared.queued.fetch_add(bytes, Ordering::Relaxed);
        if total + bytes > budget.total_bytes {
            self.shared.queued.fetch_sub(bytes, Ordering::Relaxed);
            if !self.shared.full.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    budget_bytes = budget.total_bytes,
                    "frame audit buffer full: frames are dropped until the writer catches up"
                );
            }
            return self.drop_frame(charger, "the audit buffer is full");
        }
        if self.shared.full.load(Ordering::Relaxed) {
            self.shared.full.store(false, Ordering::Relaxed);
        }
        charger.queued.fetch_add(bytes, Ordering::Relaxed);
        let record = FrameRecord {
            tenant_id: charger.tenant_id.clone(),
            charge_point_id: charger.charge_point_id.clone(),
            direction,
            at: Utc::now(),
            frame: frame.to_owned(),
            charger_queued: charger.queued.clone(),
        };
        if let Err(e) = tx.try_send(record) {
            let record = match e {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            self.shared.release(&record);
            self.drop_frame(charger, "the audit writer is behind or stopped");
        }
    }

    fn drop_frame(&self, charger: &mut ChargerFrames, why: &'static str) {
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        charger.dropped += 1;
        if charger.dropped == 1 {
            tracing::warn!(tenant = %charger.tenant_id, charge_point_id = %charger.charge_point_id, why, "frame not recorded in the audit trail");
        }
    }
}

impl Shared {
    fn release(&self, record: &FrameRecord) {
        let bytes = record.bytes();
        self.queued.fetch_sub(bytes, Ordering::Relaxed);
        record.charger_queued.fetch_sub(bytes, Ordering::Relaxed);
    }
}

pub struct FrameWriter {
    pool: PgPool,
    rx: mpsc::Receiver<FrameRecord>,
    shared: Arc<Shared>,
}

impl FrameWriter {
    /// Writes until every [`FrameLog`] is dropped (the gateway stopped) and the buffer is empty.
    pub async fn run(mut self) -> Result<(), sqlx::Error> {
        let mut batch = Vec::with_capacity(BATCH);
        while self.rx.recv_many(&mut batch, BATCH).await > 0 {
            // A failed insert is retried a few times: the frames are evidence.
            let written = with_retries("cannot write frames; retrying", || {
                insert(&self.pool, &batch)
            })
            .await;
            if let Err(e) = written {
                tracing::error!(error = %e, frames = batch.len(), "frames dropped from the audit trail");
            }
            for record in &batch {
                self.shared.release(record);
            }
            batch.clear();
        }
        Ok(())
    }
}

async fn insert(pool: &PgPool, batch: &[FrameRecord]) -> Result<(), sqlx::Error> {
    let mut copy = pool
        .copy_in_raw(
            "COPY gateway.frames (tenant_id, charge_point_id, direction, at, frame) FROM STDIN WITH (FORMAT csv)",
        )
        .await?;
    let mut data = String::with_capacity(batch.len() * 256);
    for r in batch {
        csv_row(&mut data, r);
    }
    if let Err(e) = copy.send(data.into_bytes()).await {
        // Aborting ends the COPY on the server; the connection goes back clean.
        let _ = copy.abort(e.to_string()).await;
        return Err(e);
    }
    copy.finish().await?;
    Ok(())
}

/// One CSV row: every field quoted, quotes doubled (newlines inside quotes are data). PostgreSQL
/// text cannot hold NUL, so a NUL a charger sent is kept as the JSON escape `\u0000`.
fn csv_row(out: &mut String, r: &FrameRecord) {
    let field = |out: &mut String, text: &str| {
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\"\""),
                '\0' => out.push_str("\\u0000"),
                c => out.push(c),
            }
        }
        out.push('"');
    };
    field(out, &r.tenant_id);
    out.push(',');
    field(out, &r.charge_point_id);
    out.push(',');
    out.push_str(r.direction.as_str());
    out.push(',');
    out.push_str(&r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    out.push(',');
    field(out, &r.frame);
    out.push('\n');
}

/// Deletes frames older than `retention_days`; returns how many.
pub async fn purge(pool: &PgPool, retention_days: u32) -> Result<u64, sqlx::Error> {
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(retention_days));
    let done = sqlx::query("DELETE FROM gateway.frames WHERE at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Purges old frames now and every [`PURGE_EVERY`] until shutdown.
pub async fn run_purge(
    pool: PgPool,
    retention_days: u32,
    shutdown: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    joule_runtime::every("gateway-frames-purge", PURGE_EVERY, shutdown, || {
        purge(&pool, retention_days)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(total_bytes: usize, charger_bytes: usize) -> (FrameLog, mpsc::Receiver<FrameRecord>) {
        let (tx, rx) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            budget: AuditBudget {
                total_bytes,
                charger_bytes,
            },
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            full: AtomicBool::new(false),
        });
        (
            FrameLog {
                tx: Some(tx),
                shared,
            },
            rx,
        )
    }

    #[test]
    fn frames_beyond_the_connection_budget_are_dropped_and_counted() {
        let (log, mut rx) = log(1000, 20);
        let mut a = log.charger("default", "CP-1");
        let mut b = log.charger("default", "CP-2");
        log.record(&mut a, Direction::In, "0123456789");
        // 4 + 10 bytes queued for CP-1: another 10 would pass its 20.
        log.record(&mut a, Direction::In, "0123456789");
        log.record(&mut b, Direction::In, "0123456789");
        assert_eq!((a.dropped(), b.dropped(), log.dropped()), (1, 0, 1));
        // Once written, the connection's budget is free again.
        let first = rx.try_recv().unwrap();
        log.shared.release(&first);
        log.record(&mut a, Direction::Out, "0123456789");
        assert_eq!(a.dropped(), 1);
        assert_eq!(rx.try_recv().unwrap().charge_point_id, "CP-2");
        assert_eq!(rx.try_recv().unwrap().direction, Direction::Out);
    }

    #[test]
    fn frames_beyond_the_total_budget_are_dropped() {
        let (log, _rx) = log(30, 1000);
        let mut a = log.charger("default", "CP-1");
        let mut b = log.charger("default", "CP-2");
        log.record(&mut a, Direction::In, "0123456789");
        log.record(&mut b, Direction::In, "0123456789");
        log.record(&mut b, Direction::In, "0123456789");
        assert_eq!((a.dropped(), b.dropped()), (0, 1));
        assert_eq!(log.shared.queued.load(Ordering::Relaxed), 28);
    }

    #[test]
    fn csv_rows_keep_quotes_commas_newlines_and_nul_as_data() {
        let mut out = String::new();
        csv_row(
            &mut out,
            &FrameRecord {
                tenant_id: "default".into(),
                charge_point_id: "CP-1".into(),
                direction: Direction::In,
                at: "2026-11-21T12:00:00.123456Z".parse().unwrap(),
                frame: "[2,\"a,b\",\"X\",{\"t\":\"l1\nl2\u{0}\"}]".into(),
                charger_queued: Arc::default(),
            },
        );
        assert_eq!(
            out,
            "\"default\",\"CP-1\",in,2026-11-21T12:00:00.123456Z,\"[2,\"\"a,b\"\",\"\"X\"\",{\"\"t\"\":\"\"l1\nl2\\u0000\"\"}]\"\n"
        );
    }
}
