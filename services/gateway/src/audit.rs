//! The raw frame audit trail: every OCPP frame received from and sent to a charger, as text, per
//! charger, in `gateway.frames`, kept for `JOULE_OCPP_FRAME_RETENTION_DAYS` and purged periodically.
//!
//! Frames are written in batches by one task so that a connection never waits for its own insert,
//! with `COPY … FROM STDIN` (CSV): one round trip and no per-row statement work for thousands of
//! frames, so the trail keeps up with the message rate without taking pooled connections from the
//! message path. The channel is bounded, so a database that falls behind slows connections down
//! rather than losing frames. Retention is enforced by [`run_purge`]. The events that bill are durable in JetStream before any answer; the audit trail
//! is the evidence of what the charger literally sent (signed meter values, malformed frames).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolCopyExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames buffered before connections wait for the writer.
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
    let mut copy = pool
        .copy_in_raw(
            "COPY gateway.frames (charge_point_id, direction, at, frame) FROM STDIN WITH (FORMAT csv)",
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

    #[test]
    fn csv_rows_keep_quotes_commas_newlines_and_nul_as_data() {
        let mut out = String::new();
        csv_row(
            &mut out,
            &FrameRecord {
                charge_point_id: "CP-1".into(),
                direction: Direction::In,
                at: "2026-11-21T12:00:00.123456Z".parse().unwrap(),
                frame: "[2,\"a,b\",\"X\",{\"t\":\"l1\nl2\u{0}\"}]".into(),
            },
        );
        assert_eq!(
            out,
            "\"CP-1\",in,2026-11-21T12:00:00.123456Z,\"[2,\"\"a,b\"\",\"\"X\"\",{\"\"t\"\":\"\"l1\nl2\\u0000\"\"}]\"\n"
        );
    }
}
