//! The public REST API for integrators, and the registry it owns.
//!
//! - [`domain`]: the registry's Site, Charger, Account and Token aggregates, event-sourced in schema
//!   `api`; [`projections`]: their read tables and the outbox handler that keeps them and publishes
//!   the REGISTRY stream (`<ns>.registry.<kind>.<id>`).
//! - [`routes`]: the REST resources, one module each. Besides the registry they pass reads and
//!   commands through to the other services over gRPC ([`upstreams`]: pricing, sessions,
//!   invoicing, ledger, payments, the gateway's charger commands); the api keeps none of their data.
//!   Dead letters are read from the `<NS>_DEADLETTER` stream through the bus and replayed by a
//!   request the owning consumer serves.
//! - [`auth`]: every route needs `Authorization: Bearer <JOULE_ADMIN_TOKEN>`; the admin acts for the
//!   configured tenant. [`extract`]: request bodies and queries. [`problem`]: errors as
//!   `application/problem+json`, mapped in one place.

pub mod auth;
pub mod domain;
pub mod extract;
pub mod problem;
pub mod projections;
pub mod routes;
pub mod upstreams;

use std::sync::Arc;

use joule_domain::TenantId;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};

pub const SERVICE: ServiceDef = ServiceDef {
    name: "api",
    start: |ctx| Box::pin(start(ctx)),
};

/// The schema this service owns: the registry's events and read tables.
pub const SCHEMA: &str = "api";

const MIGRATIONS: &[joule_store::Migration] =
    joule_store::migrations![1 => "001_registry_read_tables"];

/// Migrates the schema; returns the HTTP server and the registry's outbox relay.
pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    let tenant: TenantId = ctx
        .settings
        .tenant
        .parse()
        .map_err(|e| format!("JOULE_TENANT {:?}: {e}", ctx.settings.tenant))?;
    let auth = auth::Authenticator::new(ctx.settings.admin_token.expose(), tenant)?;
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;

    let registry = routes::Registry {
        sites: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        chargers: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        accounts: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        tokens: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
    };
    let state = routes::AppState {
        pool: ctx.pool.clone(),
        registry: Arc::new(registry),
        upstream: upstreams::Upstreams::new(&ctx)?,
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
        SCHEMA,
        ctx.bus.clone(),
        projections::outbox::RegistryRelay,
    )?;
    let relay = ctx.relay("api-relay", relay);

    Ok(Started {
        tasks: vec![http, relay],
        grpc: None,
    })
}
