//! Pricing: tariffs and the priced session with its breakdown.
//!
//! The service owns schema `pricing`: the `Tariff` aggregate (OCPI 2.2.1 tariffs, created over gRPC
//! `joule.v1.TariffService`), the `PricedSession` aggregate (one per charging session), the `tariffs`
//! and `priced_sessions` read tables, and `chargers`, its projection of the REGISTRY (which tariff a
//! charger uses, in which time zone). It consumes `SessionCompleted` (SESSION), prices it with the
//! pure engine of `joule-tariff`, and publishes `SessionPriced` (PRICING) through its relay.
//!
//! Tariffs have versions with validity windows, assignments to sites, chargers and connectors, and
//! contract overrides for accounts and fleets ([`tariff`]); a session is priced with the version in
//! force when it started, and records which. Re-rating ([`rerate`]) re-prices sessions after a
//! tariff or meter correction and appends `SessionRerated` (published as `SessionPriceAdjusted`,
//! `pricing.<session_id>.adjusted`) with the difference; nothing is edited in place.
//!
//! While a session runs, [`running_intake`] keeps its running state ([`running`]: the tariff chosen
//! at the start, the readings so far) and publishes `SessionCostUpdated`
//! (`pricing.<session_id>.cost_updated`) for every `SessionMetered`; gRPC `GetRunningCost` and
//! `EstimateSessionCost` answer from it.
//!
//! It does not round amounts (invoicing does) and does not know accounts beyond passing their ids on.

// Values from outside (requests, events, provider answers) never reach an operator that can panic
// on overflow: checked operations that turn overflow into a refusal, or saturating ones with the
// reason beside them (ADR 024). Tests may use plain arithmetic.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod attempts;
pub mod choice;
pub mod grpc;
pub mod intake;
pub mod outbox;
pub mod priced_session;
pub mod read;
pub mod registry;
pub mod rerate;
pub mod running;
pub mod running_intake;
pub mod tariff;

use std::sync::Arc;

use joule_bus::{ConsumerSpec, Domain, OnPark};
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
}, Migration {
    version: 2,
    name: "tariff versions, assignments, contracts, re-rating",
    sql: "ALTER TABLE {schema}.tariffs ADD COLUMN retired_at timestamptz;
          CREATE TABLE {schema}.tariff_versions (
              tariff_id         text NOT NULL,
              version           int NOT NULL,
              -- NULL: in force from the beginning (version 1).
              valid_from        timestamptz,
              ocpi_json         text NOT NULL,
              published_at      timestamptz NOT NULL,
              corrected_at      timestamptz,
              correction_reason text,
              PRIMARY KEY (tariff_id, version)
          );
          INSERT INTO {schema}.tariff_versions (tariff_id, version, valid_from, ocpi_json, published_at)
              SELECT id, 1, NULL, ocpi_json, created_at FROM {schema}.tariffs;
          CREATE TABLE {schema}.tariff_assignments (
              scope_type   text NOT NULL CHECK (scope_type IN ('site', 'charger', 'connector')),
              scope_id     text NOT NULL,
              connector_id int NOT NULL DEFAULT 0,
              tariff_id    text NOT NULL,
              assigned_at  timestamptz NOT NULL,
              PRIMARY KEY (scope_type, scope_id, connector_id)
          );
          CREATE TABLE {schema}.tariff_contracts (
              party_type    text NOT NULL CHECK (party_type IN ('account', 'fleet')),
              party_id      text NOT NULL,
              tariff_id     text NOT NULL,
              account_ids   text[] NOT NULL,
              discounts     jsonb NOT NULL,
              valid_from    timestamptz,
              valid_until   timestamptz,
              contracted_at timestamptz NOT NULL,
              PRIMARY KEY (party_type, party_id)
          );
          CREATE INDEX ON {schema}.tariff_contracts USING gin (account_ids);
          ALTER TABLE {schema}.chargers ADD COLUMN site_id text NOT NULL DEFAULT '';
          ALTER TABLE {schema}.priced_sessions
              ADD COLUMN tariff_version int,
              ADD COLUMN tariff_source text,
              ADD COLUMN connector_id int,
              ADD COLUMN time_zone text,
              -- After every adjustment; the first price stays in total_* and breakdown.
              ADD COLUMN current_total_excl_vat numeric,
              ADD COLUMN current_total_incl_vat numeric,
              ADD COLUMN current_lines jsonb,
              ADD COLUMN adjustments int NOT NULL DEFAULT 0;
          UPDATE {schema}.priced_sessions
             SET tariff_version = 1, time_zone = breakdown->>'time_zone',
                 current_total_excl_vat = total_excl_vat, current_total_incl_vat = total_incl_vat
           WHERE status = 'priced';
          CREATE INDEX ON {schema}.priced_sessions (tariff_id, started_at);
          CREATE TABLE {schema}.price_adjustments (
              adjustment_id  text PRIMARY KEY,
              session_id     text NOT NULL,
              rerating_id    text NOT NULL,
              tariff_id      text NOT NULL,
              tariff_version int NOT NULL,
              reason         text NOT NULL,
              delta_excl_vat numeric NOT NULL,
              delta_incl_vat numeric NOT NULL,
              total_excl_vat numeric NOT NULL,
              total_incl_vat numeric NOT NULL,
              lines          jsonb NOT NULL,
              adjusted_at    timestamptz NOT NULL
          );
          CREATE INDEX ON {schema}.price_adjustments (session_id);",
}, Migration {
    version: 3,
    name: "running costs of sessions in progress",
    sql: running::MIGRATION_SQL,
}, Migration {
    version: 4,
    name: "priced sessions keep their readings for bulk re-rating",
    // NULL: priced from start, stop and energy only (constant power, no idle time).
    sql: "ALTER TABLE {schema}.priced_sessions ADD COLUMN metering jsonb;",
}, Migration {
    version: 5,
    name: "a tariff's OCPI identity, to find the one a second creation repeats",
    // Upper-cased: OCPI compares these case-insensitively. Not unique: tariffs created before
    // identities were unique may repeat one (new ones cannot: their id derives from it).
    sql: "ALTER TABLE {schema}.tariffs
              ADD COLUMN country_code text NOT NULL DEFAULT '',
              ADD COLUMN party_id text NOT NULL DEFAULT '';
          UPDATE {schema}.tariffs
             SET country_code = upper(coalesce(ocpi_json::jsonb->>'country_code', '')),
                 party_id = upper(coalesce(ocpi_json::jsonb->>'party_id', ''));
          CREATE INDEX ON {schema}.tariffs (tenant_id, country_code, party_id, upper(ocpi_id));",
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
    tasks.push(ctx.relay("pricing-relay", relay));

    let projection = registry::RegistryProjection {
        pool: ctx.pool.clone(),
    };
    let spec = ConsumerSpec {
        domain: Domain::Registry,
        durable: "pricing-registry".into(),
        filter: Some("registry.charger.*".into()),
        // A projection: a charger's later change waits for its earlier one, or a replay would regress it.
        on_park: OnPark::HoldAggregate,
    };
    tasks.push(ctx.consumer(spec, projection));

    let intake = intake::SessionIntake::new(ctx.pool.clone(), priced.clone());
    let spec = ConsumerSpec {
        domain: Domain::Session,
        durable: "pricing-sessions".into(),
        filter: Some("session.*.completed".into()),
        // Money: a session's price is never skipped.
        on_park: OnPark::HoldAggregate,
    };
    tasks.push(ctx.consumer(spec, intake));

    let (pool, shutdown) = (ctx.pool.clone(), ctx.shutdown.clone());
    tasks.push(Task::restartable(
        "pricing-running-costs-purge",
        move || running::run_purge(pool.clone(), shutdown.clone()),
    ));
    // All of SESSION, not one subject: a session's start, readings and completion in their order.
    let running = running_intake::RunningCostIntake::new(ctx.pool.clone(), ctx.bus.clone());
    let spec = ConsumerSpec {
        domain: Domain::Session,
        durable: "pricing-running-cost".into(),
        filter: None,
        // An estimate for display and holds: the next reading recomputes it; the bill comes from
        // the completed session (pricing-sessions).
        on_park: OnPark::Skip,
    };
    tasks.push(ctx.consumer(spec, running));

    let server = TariffServiceServer::new(grpc::TariffGrpc {
        pool: ctx.pool.clone(),
        cqrs: tariffs,
        sessions: priced.clone(),
        default_tenant: ctx.settings.tenant.clone(),
    });
    let name = <TariffServiceServer<grpc::TariffGrpc> as NamedService>::NAME;
    Ok(Started {
        tasks,
        grpc: Some((tonic::service::Routes::new(server), vec![name])),
    })
}
