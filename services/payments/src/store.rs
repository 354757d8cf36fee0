//! Command execution that hands back the aggregate. The engine decides what to ask a provider from
//! the state a command left, so it executes commands through the event store itself (cqrs-es's
//! `CqrsFramework::execute` returns nothing) and retries when another writer committed first.
//! Events stored in an older shape are read through the aggregate's upcasters ([`EventShapes`]).

use std::collections::HashMap;
use std::time::Duration;

use cqrs_es::persist::{
    EventStoreAggregateContext, EventUpcaster, PersistedEventRepository, PersistedEventStore,
    PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore as _};
use joule_store::{CommandMeta, Upcaster};
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;

pub struct Aggregates<A: Aggregate<Services = ()>> {
    store: PersistedEventStore<OneStatementRepository, A>,
}

/// An aggregate's stored shapes: the upcasters that rewrite its events stored in an older shape as
/// they load (the relay reads the event store with the same ones, [`crate::domain::UPCASTERS`]).
pub trait EventShapes: Aggregate {
    const UPCASTERS: &'static [Upcaster];
}

/// The aggregate's upcasters as the event store takes them: one that applies every one an event
/// needs, in order.
struct Upcasters(&'static [Upcaster]);

impl EventUpcaster for Upcasters {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        self.0.iter().any(|u| u.applies(event_type, event_version))
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        let (payload, version) = joule_store::upcast::upcast(
            self.0,
            &event.event_type,
            &event.event_version,
            event.payload,
        );
        event.payload = payload;
        event.event_version = version;
        event
    }
}

/// postgres-es's repository, except that a commit is ONE statement: postgres-es writes
/// `BEGIN`, one `INSERT` per event and `COMMIT` (three round trips for the usual single event), this
/// writes every event of the commit with one multi-row `INSERT` outside an explicit transaction.
/// A single statement is atomic just the same, the outbox and session-decision triggers fire per row
/// as before, and a sequence already taken is the same unique violation, reported as a conflict.
/// Reads (and the snapshot path, unused here) are postgres-es's own.
///
/// A commit made only of the event types in `unflushed` does not wait for the WAL flush (ADR 019):
/// those are the records of what is about to be asked of a provider, and the provider's answer is
/// committed with the flush after them, which makes them durable too (the WAL is flushed in order).
/// A PostgreSQL crash in between loses only a request that nobody was answered for; it is asked
/// again with the same attempt number, so under the same idempotency key.
pub struct OneStatementRepository {
    inner: PostgresEventRepository,
    pool: PgPool,
    insert: String,
    insert_unflushed: String,
    unflushed: &'static [&'static str],
}

impl OneStatementRepository {
    fn new(pool: PgPool, schema: &str) -> Self {
        let inner = PostgresEventRepository::new(pool.clone())
            .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"));
        // One statement, two ways: the unflushed one also turns off the commit's wait for the WAL
        // flush (a CTE joined in, so still one round trip).
        let insert = |with: &str, from: &str| {
            format!(
                "{with}INSERT INTO {schema}.events
                     (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload::json, e.metadata::json
                 FROM {from}unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
                     WITH ORDINALITY AS e(sequence, event_type, event_version, payload, metadata, n)
                 ORDER BY e.n"
            )
        };
        let insert_unflushed = insert(
            "WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true)) ",
            "unflushed, ",
        );
        let insert = insert("", "");
        Self {
            inner,
            pool,
            insert,
            insert_unflushed,
            unflushed: &[],
        }
    }
}

fn persistence_error(e: sqlx::Error) -> PersistenceError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            PersistenceError::ConnectionError(Box::new(e))
        }
        _ => PersistenceError::UnknownError(Box::new(e)),
    }
}

impl PersistedEventRepository for OneStatementRepository {
    async fn get_events<B: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.inner.get_events::<B>(aggregate_id).await
    }

    async fn get_last_events<B: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.inner
            .get_last_events::<B>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<B: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.inner.get_snapshot::<B>(aggregate_id).await
    }

    async fn persist<B: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, serde_json::Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return self.inner.persist::<B>(events, snapshot_update).await;
        }
        let Some(first) = events.first() else {
            return Ok(());
        };
        let mut sequences = Vec::with_capacity(events.len());
        let mut types = Vec::with_capacity(events.len());
        let mut versions = Vec::with_capacity(events.len());
        let mut payloads = Vec::with_capacity(events.len());
        let mut metadata = Vec::with_capacity(events.len());
        for e in events {
            sequences.push(e.sequence as i64);
            types.push(e.event_type.clone());
            versions.push(e.event_version.clone());
            payloads.push(serde_json::to_string(&e.payload)?);
            metadata.push(serde_json::to_string(&e.metadata)?);
        }
        let unflushed = events
            .iter()
            .all(|e| self.unflushed.contains(&e.event_type.as_str()));
        let insert = if unflushed {
            &self.insert_unflushed
        } else {
            &self.insert
        };
        sqlx::query(insert)
            .bind(B::TYPE)
            .bind(&first.aggregate_id)
            .bind(sequences)
            .bind(types)
            .bind(versions)
            .bind(payloads)
            .bind(metadata)
            .execute(&self.pool)
            .await
            .map_err(persistence_error)?;
        Ok(())
    }

    async fn stream_events<B: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_events::<B>(aggregate_id).await
    }

    async fn stream_all_events<B: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<B>().await
    }
}

fn metadata(meta: &CommandMeta) -> HashMap<String, String> {
    let mut map = joule_telemetry::current_trace_headers();
    map.insert("tenant_id".into(), meta.tenant_id.clone());
    map.insert("correlation_id".into(), meta.correlation_id.clone());
    map.insert("causation_id".into(), meta.causation_id.clone());
    map
}

impl<A: Aggregate<Services = ()> + EventShapes + Clone> Aggregates<A>
where
    A::Command: Clone,
{
    pub fn new(pool: PgPool, schema: &str) -> Self {
        Self::committing(pool, schema, &[])
    }

    /// Like [`Aggregates::new`]; a commit made only of `unflushed` event types does not wait for the
    /// WAL flush (see [`OneStatementRepository`]).
    pub fn committing(pool: PgPool, schema: &str, unflushed: &'static [&'static str]) -> Self {
        let mut repository = OneStatementRepository::new(pool, schema);
        repository.unflushed = unflushed;
        Self {
            store: PersistedEventStore::new_event_store(repository)
                .with_upcasters(vec![Box::new(Upcasters(A::UPCASTERS))]),
        }
    }

    /// The aggregate's current state (the default state when it has no events).
    pub async fn load(&self, id: &str) -> Result<A, AggregateError<A::Error>> {
        let mut context = self.store.load_aggregate(id).await?;
        Ok(std::mem::take(context.aggregate()))
    }

    /// The aggregate's current state with the sequence of its last event, for a command that is to
    /// run on it without reading the events again ([`Aggregates::execute_on`]).
    pub async fn load_versioned(&self, id: &str) -> Result<Versioned<A>, AggregateError<A::Error>> {
        let mut context = self.store.load_aggregate(id).await?;
        let sequence = context.current_sequence;
        Ok(Versioned {
            state: std::mem::take(context.aggregate()),
            sequence,
        })
    }

    /// Executes `command` and returns the aggregate as the command left it.
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<A, AggregateError<A::Error>> {
        Ok(self.execute_on(id, None, command, meta).await?.state)
    }

    /// Like [`Aggregates::execute`], starting from `known` (the state and sequence a previous command
    /// of this process left) instead of reading the events again. If another writer committed since,
    /// the commit conflicts and the command runs again on the events as stored.
    pub async fn execute_on(
        &self,
        id: &str,
        known: Option<Versioned<A>>,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Versioned<A>, AggregateError<A::Error>> {
        let metadata = metadata(meta);
        let mut known = known;
        let mut attempt = 0u32;
        loop {
            let mut context = match known.take() {
                Some(v) => EventStoreAggregateContext {
                    aggregate_id: id.to_owned(),
                    aggregate: v.state,
                    current_sequence: v.sequence,
                    current_snapshot: None,
                },
                None => self.store.load_aggregate(id).await?,
            };
            let sink = cqrs_es::event_sink::EventSink::default();
            context
                .aggregate()
                .handle(command.clone(), &(), &sink)
                .await
                .map_err(AggregateError::UserError)?;
            let events = sink.collect().await;
            let after = Versioned {
                state: context.aggregate().clone(),
                // A handful of events on a stored count: far from usize::MAX.
                sequence: context.current_sequence.saturating_add(events.len()),
            };
            if events.is_empty() {
                return Ok(after);
            }
            match self.store.commit(events, context, metadata.clone()).await {
                Ok(_) => return Ok(after),
                Err(AggregateError::AggregateConflict) if attempt < 20 => {
                    // At most 20 retries.
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// An aggregate with the sequence number of its last event.
#[derive(Debug, Clone)]
pub struct Versioned<A> {
    pub state: A,
    pub sequence: usize,
}
