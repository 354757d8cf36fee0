//! Command execution that hands back the aggregate. The engine decides what to ask a provider from
//! the state a command left, so it executes commands through the event store itself (cqrs-es's
//! `CqrsFramework::execute` returns nothing) and retries when another writer committed first.

use std::collections::HashMap;
use std::time::Duration;

use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore as _};
use joule_store::CommandMeta;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;

pub struct Aggregates<A: Aggregate<Services = ()>> {
    store: PersistedEventStore<PostgresEventRepository, A>,
}

fn metadata(meta: &CommandMeta) -> HashMap<String, String> {
    let mut map = joule_telemetry::current_trace_headers();
    map.insert("tenant_id".into(), meta.tenant_id.clone());
    map.insert("correlation_id".into(), meta.correlation_id.clone());
    map.insert("causation_id".into(), meta.causation_id.clone());
    map
}

impl<A: Aggregate<Services = ()> + Clone> Aggregates<A>
where
    A::Command: Clone,
{
    pub fn new(pool: PgPool, schema: &str) -> Self {
        let repo = PostgresEventRepository::new(pool)
            .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"));
        Self {
            store: PersistedEventStore::new_event_store(repo),
        }
    }

    /// The aggregate's current state (the default state when it has no events).
    pub async fn load(&self, id: &str) -> Result<A, AggregateError<A::Error>> {
        let mut context = self.store.load_aggregate(id).await?;
        Ok(std::mem::take(context.aggregate()))
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
                sequence: context.current_sequence + events.len(),
            };
            if events.is_empty() {
                return Ok(after);
            }
            match self.store.commit(events, context, metadata.clone()).await {
                Ok(_) => return Ok(after),
                Err(AggregateError::AggregateConflict) if attempt < 20 => {
                    attempt += 1;
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
