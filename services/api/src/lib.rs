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
    let auth = auth::Authenticator::new(ctx.settings.admin_token.expose(), tenant)?;
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
    let s = &ctx.settings;
    let limits = routes::BodyLimits {
        default: usize::try_from(s.api_body_limit_bytes).unwrap_or(usize::MAX),
        bulk: usize::try_from(s.api_bulk_body_limit_bytes).unwrap_or(usize::MAX),
    };
    let app = joule_runtime::http::request_timeout(
        routes::router(state, auth, limits),
        std::time::Duration::from_secs(s.http_request_timeout_secs),
        || axum::response::IntoResponse::into_response(problem::ApiError::Timeout),
    );
    let listener = ctx.bind("api", &s.api_addr).await?;
    let http = Task::new(
        "api-http",
        joule_runtime::http::serve(
            "api",
            listener,
            None,
            app,
            joule_runtime::http::Limits::from_settings(s, s.api_max_connections),
            ctx.shutdown.clone(),
        ),
    );

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
