//! The outbox relay: the one path from a service's committed events to its read projections and to
//! NATS.
//!
//! A trigger adds an outbox row for every event in the transaction that commits it. The relay takes
//! rows in order and, in one database transaction per batch, applies the service's projections,
//! publishes the integration messages durably (JetStream ack, `Nats-Msg-Id` = a deterministic event id)
//! and deletes the rows. Messages are sent without waiting for each ack in turn (see [`waves`]); the
//! rows are deleted only after every ack of the batch arrived. A crash anywhere rolls back the projections and leaves the rows, so the
//! batch is done again on restart: projections apply once, and JetStream drops the re-published
//! duplicates. Only one relay per schema is active at a time (a PostgreSQL advisory lock), which keeps
//! per-aggregate order when several replicas run.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
pub use joule_bus::BoxFuture;
use joule_bus::{Bus, EventMeta, Outgoing};
use serde::de::DeserializeOwned;
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool, Row};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::StoreError;
use crate::fault;
use crate::migrate::check_schema;
use crate::upcast::{Upcaster, upcast};

const BATCH: i64 = 256;
const POLL: Duration = Duration::from_secs(1);

/// A committed event as stored by postgres-es.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub schema: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: HashMap<String, String>,
    /// When the relay first saw the event; events carry their own business times.
    pub relayed_at: DateTime<Utc>,
}

impl StoredEvent {
    /// The aggregate's event enum, as cqrs-es serialised it.
    pub fn decode<E: DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        serde_json::from_value(self.payload.clone())
    }

    /// [`StoredEvent::decode`] for a projection: an unreadable event is a [`ProjectionError::Decode`].
    pub fn read<E: DeserializeOwned>(&self) -> Result<E, ProjectionError> {
        self.decode().map_err(|e| ProjectionError::decode(self, e))
    }

    /// Envelope metadata for the `index`-th message this event becomes. The event id is derived from
    /// the stored event, so a re-publish after a crash carries the same `Nats-Msg-Id`.
    pub fn meta(&self, index: usize, occurred_at: DateTime<Utc>) -> EventMeta {
        let key = format!(
            "{}/{}/{}/{}/{}",
            self.schema, self.aggregate_type, self.aggregate_id, self.sequence, index
        );
        let get = |k: &str| self.metadata.get(k).cloned().unwrap_or_default();
        let event_id = joule_domain::EventId::derived(&key).to_string();
        let correlation_id = match get("correlation_id") {
            c if c.is_empty() => event_id.clone(),
            c => c,
        };
        EventMeta {
            event_id,
            tenant_id: get("tenant_id"),
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence as u64,
            occurred_at,
            correlation_id,
            causation_id: get("causation_id"),
        }
    }

    /// The W3C trace context of the command that produced the event.
    pub fn trace_headers(&self) -> HashMap<String, String> {
        self.metadata
            .iter()
            .filter(|(k, _)| k.as_str() == "traceparent" || k.as_str() == "tracestate")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Why a projection could not apply a stored event. The relay keeps the event in the outbox and
/// retries with backoff either way; the variants tell an operator whether the database or the
/// event (a bug: an event the projection cannot read) is at fault.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot read stored {event_type} {aggregate_id}/{sequence}: {reason}")]
    Decode {
        event_type: String,
        aggregate_id: String,
        sequence: i64,
        reason: String,
    },
}

impl ProjectionError {
    /// `event` cannot be read or does not fit the read model (`reason`).
    pub fn decode(event: &StoredEvent, reason: impl std::fmt::Display) -> Self {
        Self::Decode {
            event_type: event.event_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            reason: reason.to_string(),
        }
    }
}

/// What a service does with each of its committed events.
pub trait OutboxHandler: Send + Sync + 'static {
    /// Updates the service's read projections. Runs inside the relay's transaction; it is committed
    /// together with the removal of the outbox row, so it takes effect exactly once.
    /// (A boxed future: see `joule_bus::Handler` for why.)
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>>;

    /// Updates the read projections for a whole batch, in commit order, in the relay's transaction.
    /// The default projects event by event; a handler overrides it to write a batch in fewer
    /// statements (one round trip per statement is what a busy relay pays for).
    fn project_batch<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            for event in events {
                self.project(conn, event).await?;
            }
            Ok(())
        })
    }

    /// The integration messages the event becomes (none for purely internal events).
    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String>;
}

/// The relay of one service schema.
pub struct Relay<H> {
    pool: PgPool,
    schema: String,
    bus: Bus,
    handler: H,
    crash_before_publish: Option<String>,
    crash_after_publish: Option<String>,
    async_commit: bool,
    upcasters: &'static [Upcaster],
}

impl<H: OutboxHandler> Relay<H> {
    pub fn new(pool: PgPool, schema: &str, bus: Bus, handler: H) -> Result<Self, StoreError> {
        check_schema(schema)?;
        Ok(Self {
            pool,
            schema: schema.to_owned(),
            bus,
            handler,
            crash_before_publish: fault::armed(fault::CRASH_BEFORE_PUBLISH),
            crash_after_publish: fault::armed(fault::CRASH_AFTER_PUBLISH),
            async_commit: false,
            upcasters: &[],
        })
    }

    /// Rewrites events stored in an older shape before the handler sees them (the list the
    /// aggregates' event stores use, [`crate::cqrs_with_upcasters`]).
    pub fn with_upcasters(mut self, upcasters: &'static [Upcaster]) -> Self {
        self.upcasters = upcasters;
        self
    }

    /// Commits each batch without waiting for the WAL flush (`synchronous_commit = off` for the
    /// relay's transaction only). Losing such a commit takes a PostgreSQL crash, and then loses the
    /// whole batch at once: the projections and the removal of the outbox rows together, never one
    /// without the other. The rows are relayed again after the restart; projections apply once (they
    /// were lost with the removal) and JetStream drops the re-published messages by `Nats-Msg-Id`
    /// (within its duplicate window; after it, consumers see a redelivery, which they handle anyway).
    /// The events themselves still commit synchronously. Saves one WAL flush per batch, for services
    /// whose relay is on the hot path of a benchmark (payments).
    pub fn with_async_commit(mut self) -> Self {
        self.async_commit = true;
        self
    }

    /// Runs until `shutdown`: waits for leadership, then relays as events are committed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StoreError> {
        self.lead(shutdown).await
    }

    /// [`Relay::run`] on a shared relay, so a supervisor can run it again after a failure.
    pub async fn run_shared(
        self: std::sync::Arc<Self>,
        shutdown: CancellationToken,
    ) -> Result<(), StoreError> {
        self.lead(shutdown).await
    }

    async fn lead(&self, shutdown: CancellationToken) -> Result<(), StoreError> {
        let span = tracing::info_span!("relay", schema = %self.schema);
        async {
            // A connection of its own, outside the pool: it holds the session-level advisory lock for
            // as long as this relay leads, and must not starve the pool.
            let mut leader = PgConnection::connect_with(&self.pool.connect_options()).await?;
            loop {
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
                    .bind(format!("joule_relay_{}", self.schema))
                    .fetch_one(&mut leader)
                    .await?;
                if got {
                    break;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
            tracing::info!("relay active");
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener
                .listen(&format!("joule_outbox_{}", self.schema))
                .await?;
            let mut backoff = Duration::from_millis(100);
            loop {
                match self.relay_batch().await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => backoff = Duration::from_millis(100),
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "relay batch failed");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = listener.recv() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            // Closing the connection releases the advisory lock.
            let _ = leader.close().await;
            tracing::info!("relay stopped");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Relays up to one batch; returns how many events it handled.
    pub async fn relay_batch(&self) -> Result<usize, RelayError> {
        let s = &self.schema;
        let mut tx = self.pool.begin().await?;
        // The batch's outbox rows first, then each one's event by the events' primary key. A plain
        // join of the two tables lets the planner hash the whole events table on every batch (20 ms
        // at 50,000 events, growing with the table, where this takes 0.5 ms); the literal limit and
        // the lateral subquery's `LIMIT 1` (which keeps it from being flattened into a join) hold
        // the nested loop in custom and generic plans alike, whatever the tables' statistics say.
        let rows = sqlx::query(&format!(
            "SELECT o.id, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version,
                    e.payload, e.metadata
             FROM (SELECT id, aggregate_type, aggregate_id, sequence FROM {s}.outbox
                   ORDER BY id LIMIT {BATCH} FOR UPDATE) o
             CROSS JOIN LATERAL (SELECT * FROM {s}.events ev
                                 WHERE ev.aggregate_type = o.aggregate_type
                                   AND ev.aggregate_id = o.aggregate_id
                                   AND ev.sequence = o.sequence
                                 LIMIT 1) e
             ORDER BY o.id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let now = Utc::now();
        let mut ids = Vec::with_capacity(rows.len());
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let metadata: serde_json::Value = row.try_get("metadata")?;
            let event_type: String = row.try_get("event_type")?;
            let (payload, event_version) = upcast(
                self.upcasters,
                &event_type,
                row.try_get("event_version")?,
                row.try_get("payload")?,
            );
            events.push(StoredEvent {
                schema: s.clone(),
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type,
                event_version,
                payload,
                metadata: serde_json::from_value(metadata).unwrap_or_default(),
                relayed_at: now,
            });
            ids.push(row.try_get::<i64, _>("id")?);
        }
        self.handler.project_batch(&mut tx, &events).await?;
        let mut outgoing = Vec::new();
        let mut crash_after = None;
        for event in events {
            match self.handler.messages(&event) {
                Ok(messages) => outgoing.extend(messages),
                // A stored event the mapper cannot read is a bug; keep it in the outbox and shout.
                Err(reason) => {
                    return Err(RelayError::Mapping {
                        event_type: event.event_type,
                        reason,
                    });
                }
            }
            if self.crash_before_publish.as_deref() == Some(event.event_type.as_str()) {
                fault::crash("relay before publish", &event.event_type);
            }
            if self.crash_after_publish.as_deref() == Some(event.event_type.as_str()) {
                crash_after = Some(event.event_type.clone());
            }
        }
        for wave in waves(outgoing) {
            // Send the whole wave, then wait for every ack: one round trip per wave, not per message.
            let mut acks = Vec::with_capacity(wave.len());
            for message in wave {
                acks.push(self.bus.publish_pipelined(message).await?);
            }
            for ack in futures::future::join_all(acks).await {
                ack?;
            }
        }
        if let Some(event_type) = crash_after {
            fault::crash("relay after publish", &event_type);
        }
        // With `async_commit`, the removal also sets the transaction's commit not to wait for the
        // WAL flush (in the same statement: no extra round trip).
        let delete = if self.async_commit {
            format!(
                "WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
                 DELETE FROM {s}.outbox USING async WHERE id = ANY($1)"
            )
        } else {
            format!("DELETE FROM {s}.outbox WHERE id = ANY($1)")
        };
        sqlx::query(&delete).bind(&ids).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(ids.len())
    }
}

/// Splits a batch into waves that can each be published without waiting for acks in between, keeping
/// today's order guarantee even when a publish fails: a message goes into a later wave than every
/// earlier message of its aggregate and of its subject. A wave is published only after every ack of
/// the previous one arrived, so when one fails, nothing after it of the same aggregate or subject was
/// sent, and the retried batch (deduplicated by `Nats-Msg-Id`) publishes them in order. Messages of
/// different aggregates share a wave, which is what makes a batch of many sessions fast.
fn waves(outgoing: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
    let mut waves: Vec<Vec<Outgoing>> = Vec::new();
    let mut next_of_aggregate: HashMap<(String, String), usize> = HashMap::new();
    let mut next_of_subject: HashMap<String, usize> = HashMap::new();
    for message in outgoing {
        let aggregate = (
            message.envelope.aggregate_type.clone(),
            message.envelope.aggregate_id.clone(),
        );
        let wave = next_of_aggregate
            .get(&aggregate)
            .copied()
            .unwrap_or(0)
            .max(next_of_subject.get(&message.subject).copied().unwrap_or(0));
        next_of_aggregate.insert(aggregate, wave + 1);
        next_of_subject.insert(message.subject.clone(), wave + 1);
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(message);
    }
    waves
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("projection: {0}")]
    Projection(#[from] ProjectionError),
    #[error("publish: {0}")]
    Bus(#[from] joule_bus::BusError),
    #[error("cannot map stored {event_type}: {reason}")]
    Mapping { event_type: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use joule_proto::v1::Envelope;

    fn message(aggregate: &str, subject: &str, event_id: &str) -> Outgoing {
        Outgoing {
            subject: subject.into(),
            envelope: Envelope {
                event_id: event_id.into(),
                aggregate_type: "A".into(),
                aggregate_id: aggregate.into(),
                ..Default::default()
            },
            trace_headers: HashMap::new(),
        }
    }

    fn ids(waves: &[Vec<Outgoing>]) -> Vec<Vec<&str>> {
        waves
            .iter()
            .map(|w| w.iter().map(|m| m.envelope.event_id.as_str()).collect())
            .collect()
    }

    #[test]
    fn waves_keep_each_aggregate_and_subject_in_order() {
        let batch = vec![
            message("x", "p.x.authorized", "x1"),
            message("y", "p.y.authorized", "y1"),
            message("x", "p.x.captured", "x2"),
            message("z", "p.z.authorized", "z1"),
            message("x", "p.x.refunded", "x3"),
            // Another aggregate on a subject already used: after it.
            message("w", "p.y.authorized", "w1"),
        ];
        assert_eq!(
            ids(&waves(batch)),
            vec![vec!["x1", "y1", "z1"], vec!["x2", "w1"], vec!["x3"]]
        );
        assert!(waves(Vec::new()).is_empty());
    }

    #[test]
    fn a_batch_of_distinct_aggregates_is_one_wave_in_order() {
        let batch: Vec<Outgoing> = (0..100)
            .map(|i| message(&i.to_string(), &format!("s.{i}"), &i.to_string()))
            .collect();
        let waves = waves(batch);
        assert_eq!(waves.len(), 1);
        let order: Vec<String> = waves[0]
            .iter()
            .map(|m| m.envelope.event_id.clone())
            .collect();
        assert_eq!(order, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
    }
}
