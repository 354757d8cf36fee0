//! The public REST API for integrators, and the registry it owns.
//!
//! - The registry: Site, Charger, Account and Token aggregates (event-sourced in schema `api`),
//!   their read tables, and the REGISTRY stream (`<ns>.registry.<kind>.<id>`) through the outbox relay.
//! - Pass-through reads and commands over gRPC: tariffs (pricing), sessions, invoices (invoicing) and
//!   the trial balance (ledger). The api keeps none of their data.
//! - Dead letters: parked messages read from the `<NS>_DEADLETTER` stream through the bus, and their
//!   replay (a request the owning consumer serves).
//!
//! Every route needs `Authorization: Bearer <JOULE_ADMIN_TOKEN>`; the admin acts for the configured
//! tenant. Errors are `application/problem+json` (see [`problem`]).

pub mod auth;
pub mod extract;
pub mod grpc;
pub mod problem;
pub mod read;
pub mod registry;
pub mod relay;
pub mod routes;

use std::sync::Arc;

use joule_domain::TenantId;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};

pub const SERVICE: ServiceDef = ServiceDef {
    name: "api",
    start: |ctx| Box::pin(start(ctx)),
};

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    let tenant: TenantId = ctx
        .settings
        .tenant
        .parse()
        .map_err(|e| format!("JOULE_TENANT {:?}: {e}", ctx.settings.tenant))?;
    let auth = auth::Authenticator::new(&ctx.settings.admin_token, tenant)?;
    joule_store::migrate(&ctx.pool, read::SCHEMA, read::MIGRATIONS).await?;

    let registry = routes::Registry {
        sites: joule_store::cqrs(ctx.pool.clone(), read::SCHEMA, ()),
        chargers: joule_store::cqrs(ctx.pool.clone(), read::SCHEMA, ()),
        accounts: joule_store::cqrs(ctx.pool.clone(), read::SCHEMA, ()),
        tokens: joule_store::cqrs(ctx.pool.clone(), read::SCHEMA, ()),
    };
    let state = routes::AppState {
        pool: ctx.pool.clone(),
        registry: Arc::new(registry),
        upstream: grpc::Upstreams::new(&ctx)?,
        bus: ctx.bus.clone(),
    };
    let app = routes::router(state, auth);
    let listener = ctx.bind("api", &ctx.settings.api_addr).await?;
    let http_shutdown = ctx.shutdown.clone();
    let http = Task::new("api-http", async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(http_shutdown.cancelled_owned())
            .await
    });

    let relay = joule_store::Relay::new(
        ctx.pool.clone(),
        read::SCHEMA,
        ctx.bus.clone(),
        relay::RegistryRelay,
    )?;
    let relay = ctx.relay("api-relay", relay);

    Ok(Started {
        tasks: vec![http, relay],
        grpc: None,
    })
}
