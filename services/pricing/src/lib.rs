//! Pricing: tariffs and the priced session with its breakdown.
//!
//! The service owns schema `pricing`: the `Tariff` aggregate (OCPI 2.2.1 tariffs, created over gRPC
//! `joule.v1.TariffService`), the `PricedSession` aggregate (one per charging session), the `tariffs`
//! and `priced_sessions` read tables, and `chargers`, its projection of the REGISTRY (which tariff a
//! charger uses, in which time zone). It consumes `SessionCompleted` (SESSION), prices it with the
//! pure engine of `joule-tariff`, and publishes `SessionPriced` (PRICING) through its relay.
//!
//! It does not round amounts (invoicing does) and does not know accounts beyond passing their ids on.

pub mod grpc;
pub mod intake;
pub mod outbox;
pub mod priced_session;
pub mod read;
pub mod registry;
pub mod tariff;

use std::sync::Arc;

use joule_bus::{ConsumerSpec, Domain};
use joule_proto::v1::tariff_service_server::TariffServiceServer;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_store::{Migration, Relay};
use tonic::server::NamedService;

pub const SCHEMA: &str = "pricing";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "pricing",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "tariffs, charger tariffs, priced sessions",
    sql: "CREATE TABLE {schema}.tariffs (
              id          text PRIMARY KEY,
              tenant_id   text NOT NULL,
              ocpi_id     text NOT NULL,
              currency    text NOT NULL,
              -- Text, not jsonb: the tariff reads back exactly as it was returned when created.
              ocpi_json   text NOT NULL,
              created_at  timestamptz NOT NULL
          );
          CREATE TABLE {schema}.chargers (
              charger_id  text PRIMARY KEY,
              tariff_id   text NOT NULL DEFAULT '',
              time_zone   text NOT NULL DEFAULT '',
              updated_at  timestamptz NOT NULL
          );
          CREATE TABLE {schema}.priced_sessions (
              session_id     text PRIMARY KEY,
              tenant_id      text NOT NULL,
              status         text NOT NULL CHECK (status IN ('priced', 'failed')),
              charger_id     text NOT NULL,
              account_id     text NOT NULL DEFAULT '',
              token_uid      text NOT NULL DEFAULT '',
              tariff_id      text,
              currency       text,
              energy_wh      numeric,
              started_at     timestamptz,
              stopped_at     timestamptz,
              total_excl_vat numeric,
              total_incl_vat numeric,
              breakdown      jsonb,
              reason         text,
              recorded_at    timestamptz NOT NULL
          );
          CREATE INDEX ON {schema}.priced_sessions (account_id);",
}];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let tariffs = Arc::new(joule_store::cqrs::<tariff::Tariff>(
        ctx.pool.clone(),
        SCHEMA,
        (),
    ));
    let priced = Arc::new(joule_store::cqrs::<priced_session::PricedSession>(
        ctx.pool.clone(),
        SCHEMA,
        (),
    ));

    let mut tasks = Vec::new();
    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        outbox::PricingOutbox,
    )?;
    tasks.push(Task::new("pricing-relay", relay.run(ctx.shutdown.clone())));

    let (bus, shutdown) = (ctx.bus.clone(), ctx.shutdown.clone());
    let projection = registry::RegistryProjection {
        pool: ctx.pool.clone(),
    };
    tasks.push(Task::new("pricing-registry", async move {
        let spec = ConsumerSpec {
            domain: Domain::Registry,
            durable: "pricing-registry".into(),
            filter: Some("registry.charger.*".into()),
        };
        bus.run_consumer(spec, projection, shutdown).await
    }));

    let (bus, shutdown) = (ctx.bus.clone(), ctx.shutdown.clone());
    let intake = intake::SessionIntake::new(ctx.pool.clone(), priced);
    tasks.push(Task::new("pricing-sessions", async move {
        let spec = ConsumerSpec {
            domain: Domain::Session,
            durable: "pricing-sessions".into(),
            filter: Some("session.*.completed".into()),
        };
        bus.run_consumer(spec, intake, shutdown).await
    }));

    let server = TariffServiceServer::new(grpc::TariffGrpc {
        pool: ctx.pool.clone(),
        cqrs: tariffs,
        default_tenant: ctx.settings.tenant.clone(),
    });
    let name = <TariffServiceServer<grpc::TariffGrpc> as NamedService>::NAME;
    Ok(Started {
        tasks,
        grpc: Some((tonic::service::Routes::new(server), vec![name])),
    })
}
