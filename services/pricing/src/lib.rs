//! Pricing: tariffs and the priced session with its breakdown.
//!
//! - **Owns** schema `pricing`: the [`tariff::Tariff`] aggregate (OCPI 2.2.1 tariffs with versions,
//!   assignments to sites, chargers and connectors, and contract overrides for accounts and
//!   fleets) and the [`priced_session::PricedSession`] aggregate (one per charging session), and
//!   the read tables [`projections`] keeps: `tariffs`, `tariff_versions`, `tariff_assignments`,
//!   `tariff_contracts`, `priced_sessions`, `price_adjustments`, `chargers` (its projection of the
//!   REGISTRY) and `running_costs` ([`running`]).
//! - **Consumes** ([`consumers`]): `ChargerRegistered` (REGISTRY, `pricing-registry`);
//!   `SessionCompleted` (SESSION, `pricing-sessions`), priced with the pure engine of
//!   `joule-tariff` and the version in force when the session started ([`choice`]); and
//!   `SessionStarted`, `SessionMetered`, `SessionCompleted` (all of SESSION,
//!   `pricing-running-cost`) for the running cost of sessions in progress.
//! - **Publishes** on PRICING: `SessionPriced` (`pricing.<session_id>.priced`) and
//!   `SessionPriceAdjusted` (`pricing.<session_id>.adjusted`) through its outbox relay
//!   ([`projections::outbox`]); `SessionCostUpdated` (`pricing.<session_id>.cost_updated`)
//!   directly from the running-cost consumer, once per reading.
//! - **Serves** `joule.v1.TariffService` ([`grpc`]): tariffs and their versions, assignments and
//!   contracts, quotes, CDRs, priced sessions, running costs and estimates, and re-rating
//!   ([`rerate`]: a tariff or meter correction re-prices sessions and appends the difference;
//!   nothing is edited in place).
//!
//! It does not round amounts (invoicing does) and does not know accounts beyond passing their ids on.

// Values from outside (requests, events, provider answers) never reach an operator that can panic
// on overflow: checked operations that turn overflow into a refusal, or saturating ones with the
// reason beside them (ADR 024). Tests may use plain arithmetic.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod choice;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod projections;
pub mod rerate;
pub mod running;
pub mod wire;

pub use domain::{priced_session, tariff};

use std::sync::Arc;

use joule_proto::v1::tariff_service_server::TariffServiceServer;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_store::{Decided, Migration, Relay};
use tonic::server::NamedService;

use consumers::registry::RegistryProjection;
use consumers::running_cost::RunningCostIntake;
use consumers::session_completed::SessionIntake;

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
    6 => "006_tariffs_are_listed_by_cursor",
];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let tariffs = Arc::new(joule_store::cqrs::<Decided<tariff::Tariff>>(
        ctx.pool.clone(),
        SCHEMA,
        (),
    ));
    let priced = Arc::new(joule_store::cqrs_with_upcasters::<
        Decided<priced_session::PricedSession>,
    >(
        ctx.pool.clone(), SCHEMA, priced_session::UPCASTERS, ()
    ));

    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        projections::outbox::PricingOutbox,
    )?
    .with_upcasters(priced_session::UPCASTERS);
    let (pool, shutdown) = (ctx.pool.clone(), ctx.shutdown.clone());
    let tasks = vec![
        ctx.relay("pricing-relay", relay),
        ctx.consumer(
            consumers::registry::spec(),
            RegistryProjection {
                pool: ctx.pool.clone(),
            },
        ),
        ctx.consumer(
            consumers::session_completed::spec(),
            SessionIntake::new(ctx.pool.clone(), priced.clone()),
        ),
        Task::restartable("pricing-running-costs-purge", move || {
            running::run_purge(pool.clone(), shutdown.clone())
        }),
        ctx.consumer(
            consumers::running_cost::spec(),
            RunningCostIntake::new(ctx.pool.clone(), ctx.bus.clone()),
        ),
    ];

    let server = TariffServiceServer::new(grpc::TariffGrpc {
        pool: ctx.pool.clone(),
        cqrs: tariffs,
        sessions: priced,
        default_tenant: ctx.settings.tenant.clone(),
    });
    let name = <TariffServiceServer<grpc::TariffGrpc> as NamedService>::NAME;
    Ok(Started {
        tasks,
        grpc: Some((tonic::service::Routes::new(server), vec![name])),
    })
}
