//! Event-store wiring shared by every service: cqrs-es + postgres-es on a per-service PostgreSQL
//! schema, schema migrations, command metadata (tenant, correlation, trace context), the
//! [`decide`] shape of aggregates without services, and the [`relay`] that turns committed events
//! into read projections and NATS messages, surviving crashes.
//!
//! This crate knows nothing of any service's aggregates; services hand it their aggregate types and
//! an [`relay::OutboxHandler`].

pub use cqrs_es;

pub mod decide;
pub mod fault;
pub mod migrate;
pub mod page;
pub mod relay;
pub mod session_holders;
pub mod upcast;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework};
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

pub use decide::{Decided, Decider};
pub use migrate::{Migration, migrate};
pub use page::Page;
pub use relay::{BoxFuture, OutboxHandler, ProjectionError, Relay, StoredEvent};
pub use upcast::Upcaster;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid schema name {0:?}")]
    InvalidSchema(String),
    #[error("invalid migration list: {0}")]
    InvalidMigration(String),
}

/// Opens a connection pool.
///
/// A database on this host (loopback address or Unix socket) is reached without TLS unless the URL
/// asks for it with `sslmode`: TLS on loopback protects nothing and cost every statement encryption
/// on both ends (about a fifth of the payments throughput, BENCHMARKS.md), while sqlx's default
/// (`prefer`) would use it whenever the server offers it.
pub async fn connect(database_url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // No ping before each acquire: a broken connection shows as the failing query, which the
        // callers retry; the ping would cost a round trip on every query of a busy service.
        .test_before_acquire(false)
        .connect_with(connect_options(database_url).map_err(StoreError::Connect)?)
        .await
        .map_err(StoreError::Connect)
}

/// The connection options of `database_url`, without TLS to a database on this host unless the URL
/// names an `sslmode`.
pub fn connect_options(database_url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(database_url)?;
    let local = matches!(
        options.get_host(),
        "127.0.0.1" | "localhost" | "::1" | "[::1]"
    ) || options.get_host().starts_with('/');
    Ok(if local && !database_url.contains("sslmode=") {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    })
}

/// A cqrs-es framework whose events live in `<schema>.events`.
pub fn cqrs<A: Aggregate>(pool: PgPool, schema: &str, services: A::Services) -> PostgresCqrs<A> {
    let repo = PostgresEventRepository::new(pool)
        .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"));
    CqrsFramework::new(PersistedEventStore::new_event_store(repo), vec![], services)
}

/// Like [`cqrs`], for an aggregate with events stored in older shapes: `upcasters` rewrite them as
/// they load (see [`upcast`]); give the relay the same list ([`Relay::with_upcasters`]).
pub fn cqrs_with_upcasters<A: Aggregate>(
    pool: PgPool,
    schema: &str,
    upcasters: &[Upcaster],
    services: A::Services,
) -> PostgresCqrs<A> {
    let repo = PostgresEventRepository::new(pool)
        .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"));
    let store = PersistedEventStore::new_event_store(repo)
        .with_upcasters(upcast::for_event_store(upcasters));
    CqrsFramework::new(store, vec![], services)
}

/// Like [`cqrs`], with a snapshot every `snapshot_size` events, for long-lived aggregates.
pub fn cqrs_with_snapshots<A: Aggregate>(
    pool: PgPool,
    schema: &str,
    snapshot_size: usize,
    services: A::Services,
) -> PostgresCqrs<A> {
    let repo = PostgresEventRepository::new(pool)
        .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"));
    CqrsFramework::new(
        PersistedEventStore::new_snapshot_store(repo, snapshot_size),
        vec![],
        services,
    )
}

/// Who asked for a command and in which context; stored as event metadata and copied into the
/// envelopes the relay publishes.
#[derive(Debug, Clone, Default)]
pub struct CommandMeta {
    pub tenant_id: String,
    pub correlation_id: String,
    pub causation_id: String,
}

impl CommandMeta {
    /// Metadata for a command caused by an integration event: same tenant and correlation, and the
    /// event as cause.
    pub fn caused_by(envelope: &joule_proto::v1::Envelope) -> Self {
        Self {
            tenant_id: envelope.tenant_id.clone(),
            correlation_id: if envelope.correlation_id.is_empty() {
                envelope.event_id.clone()
            } else {
                envelope.correlation_id.clone()
            },
            causation_id: envelope.event_id.clone(),
        }
    }

    fn into_map(self) -> HashMap<String, String> {
        let mut map = joule_telemetry::current_trace_headers();
        map.insert("tenant_id".into(), self.tenant_id);
        map.insert("correlation_id".into(), self.correlation_id);
        map.insert("causation_id".into(), self.causation_id);
        map
    }
}

/// Executes a command, retrying when another writer committed to the same aggregate first
/// (cqrs-es reports that as `AggregateConflict` and does not retry by itself).
pub async fn execute<A: Aggregate>(
    cqrs: &PostgresCqrs<A>,
    aggregate_id: &str,
    command: A::Command,
    meta: CommandMeta,
) -> Result<(), AggregateError<A::Error>>
where
    A::Command: Clone,
{
    let metadata = meta.into_map();
    let mut attempt = 0u32;
    loop {
        match cqrs
            .execute_with_metadata(aggregate_id, command.clone(), metadata.clone())
            .await
        {
            Err(AggregateError::AggregateConflict) if attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}

/// How a consumer answers a database error. A data exception (SQLSTATE class 22: a value the
/// statement cannot take, such as a malformed number cast to `numeric`) fails the same way on every
/// delivery, so the message is rejected and parked (ADR 022) instead of stalling its consumer; any
/// other error (connection, lock, serialization, an outage) is retried.
pub fn consumer_error(error: sqlx::Error) -> joule_bus::HandlerError {
    let data_exception = matches!(
        &error,
        sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("22"))
    );
    if data_exception {
        joule_bus::HandlerError::Rejected(error.to_string())
    } else {
        joule_bus::HandlerError::Transient(error.to_string())
    }
}

/// Whether an aggregate error is worth retrying (infrastructure) rather than a business rejection.
pub fn is_transient<E: std::error::Error>(error: &AggregateError<E>) -> bool {
    !matches!(
        error,
        AggregateError::UserError(_) | AggregateError::DeserializationError(_)
    )
}

/// Services box these futures into `Send` tasks; these checks keep that true at compile time.
#[cfg(test)]
#[allow(dead_code)]
mod send_checks {
    use super::*;

    fn futures_are_send(pool: PgPool, relay: Relay<Nothing>) {
        fn is_send<T: Send>(_: T) {}
        is_send(migrate(&pool, "x", &[]));
        is_send(relay.run(tokio_util::sync::CancellationToken::new()));
    }

    struct Nothing;

    impl OutboxHandler for Nothing {
        fn project<'a>(
            &'a self,
            _: &'a mut sqlx::PgConnection,
            _: &'a StoredEvent,
        ) -> BoxFuture<'a, Result<(), ProjectionError>> {
            Box::pin(async { Ok(()) })
        }

        fn messages(&self, _: &StoredEvent) -> Result<Vec<joule_bus::Outgoing>, String> {
            Ok(vec![])
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::postgres::PgSslMode;

    use super::connect_options;

    fn mode(url: &str) -> String {
        format!("{:?}", connect_options(url).unwrap().get_ssl_mode())
    }

    #[test]
    fn a_database_on_this_host_is_reached_without_tls_unless_the_url_asks() {
        let disabled = format!("{:?}", PgSslMode::Disable);
        assert_eq!(mode("postgres://postgres@127.0.0.1:5432/joule"), disabled);
        assert_eq!(mode("postgres://postgres@localhost/joule"), disabled);
        assert_eq!(
            mode("postgres://postgres@127.0.0.1/joule?sslmode=require"),
            format!("{:?}", PgSslMode::Require)
        );
        assert_ne!(mode("postgres://postgres@db.example.com/joule"), disabled);
    }
}
