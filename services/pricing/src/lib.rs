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

const MIGRATIONS: &[Migration] = joule_store::migrations![
    1 => "001_tariffs_charger_tariffs_priced_sessions",
    2 => "002_tariff_versions_assignments_contracts_re_rating",
    3 => "003_running_costs_of_sessions_in_progress",
    4 => "004_priced_sessions_keep_their_readings_for_bulk_re_rating",
    5 => "005_a_tariff_s_ocpi_identity_to_find_the_one_a_second_creation_repeats",
];

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
