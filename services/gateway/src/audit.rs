//! The raw frame audit trail: every OCPP frame received from and sent to a charger, as text, per
//! charger, in `gateway.frames`, kept for `JOULE_OCPP_FRAME_RETENTION_DAYS` and purged periodically.
//!
//! Frames are written in batches by one task so that a connection never waits for its own insert;
//! the channel is bounded, so a database that falls behind slows connections down rather than
//! losing frames. The events that bill are durable in JetStream before any answer; the audit trail
//! is the evidence of what the charger literally sent (signed meter values, malformed frames).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames buffered before connections wait for the writer.
const BUFFER: usize = 8192;
/// Frames per INSERT.
const BATCH: usize = 512;
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
    pub charge_point_id: String,
    pub direction: Direction,
    pub at: DateTime<Utc>,
    pub frame: String,
}

/// Where connections hand their frames; a no-op when retention is 0.
#[derive(Clone)]
pub struct FrameLog {
    tx: Option<mpsc::Sender<FrameRecord>>,
}

impl FrameLog {
    /// A log that records nothing.
    pub fn disabled() -> Self {
        Self { tx: None }
    }

    /// A log and the writer that drains it into `gateway.frames`.
    pub fn new(pool: PgPool) -> (Self, FrameWriter) {
        let (tx, rx) = mpsc::channel(BUFFER);
        (Self { tx: Some(tx) }, FrameWriter { pool, rx })
    }

    pub async fn record(&self, charge_point_id: &str, direction: Direction, frame: &str) {
        let Some(tx) = &self.tx else { return };
        let record = FrameRecord {
            charge_point_id: charge_point_id.to_owned(),
            direction,
            at: Utc::now(),
            frame: frame.to_owned(),
        };
        if tx.send(record).await.is_err() {
            tracing::warn!(%charge_point_id, "frame audit writer stopped; frame not recorded");
        }
    }
}

pub struct FrameWriter {
    pool: PgPool,
    rx: mpsc::Receiver<FrameRecord>,
}

impl FrameWriter {
    /// Writes until every [`FrameLog`] is dropped (the gateway stopped) and the buffer is empty.
    pub async fn run(mut self) -> Result<(), sqlx::Error> {
        let mut batch = Vec::with_capacity(BATCH);
        while self.rx.recv_many(&mut batch, BATCH).await > 0 {
            // A failed insert is retried a few times: the frames are evidence.
            let mut attempt = 0;
            loop {
                match insert(&self.pool, &batch).await {
                    Ok(()) => break,
                    Err(e) if attempt < 5 => {
                        attempt += 1;
                        tracing::warn!(error = %e, attempt, "cannot write frames; retrying");
                        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, frames = batch.len(), "frames dropped from the audit trail");
                        break;
                    }
                }
            }
            batch.clear();
        }
        Ok(())
    }
}

async fn insert(pool: &PgPool, batch: &[FrameRecord]) -> Result<(), sqlx::Error> {
    let cps: Vec<&str> = batch.iter().map(|r| r.charge_point_id.as_str()).collect();
    let directions: Vec<&str> = batch.iter().map(|r| r.direction.as_str()).collect();
    let ats: Vec<DateTime<Utc>> = batch.iter().map(|r| r.at).collect();
    let frames: Vec<&str> = batch.iter().map(|r| r.frame.as_str()).collect();
    sqlx::query(
        "INSERT INTO gateway.frames (charge_point_id, direction, at, frame)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[])",
    )
    .bind(cps)
    .bind(directions)
    .bind(ats)
    .bind(frames)
    .execute(pool)
    .await?;
    Ok(())
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
) -> Result<(), sqlx::Error> {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        match purge(&pool, retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(frames = n, retention_days, "old frames purged"),
            // Transient: the next round purges them.
            Err(e) => tracing::warn!(error = %e, "cannot purge old frames"),
        }
    }
}
