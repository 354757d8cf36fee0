//! The public REST API for integrators, and the registry it owns.
//!
//! - [`domain`]: the registry's Site, Charger, Account and Token aggregates and the fleet records
//!   (Fleet, CostCentre, Driver, Vehicle; issue 13), event-sourced in schema `api`; [`projections`]:
//!   their read tables and the outbox handler that keeps them and publishes the REGISTRY stream
//!   (`<ns>.registry.<kind>.<id>`).
//! - [`routes`]: the REST resources, one module each. Besides the registry they pass reads and
//!   commands through to the other services over gRPC ([`upstreams`]: pricing, sessions,
//!   invoicing, ledger, payments, the gateway's charger commands); the api keeps none of their data.
//!   Dead letters are read from the `<NS>_DEADLETTER` stream through the bus and replayed by a
//!   request the owning consumer serves.
//! - [`auth`]: every route needs `Authorization: Bearer <credential>`: a tenant's API key, the
//!   platform credential, the default tenant's admin token or an OAuth2 access token (the token
//!   endpoint `POST /oauth/token` and `GET /.well-known/jwks.json` are public); [`access`]: the scope each route
//!   requires and the roles that grant them; rate limits per credential and tenant. [`audit`]:
//!   every write in `<NS>_AUDIT`, projected by [`consumers::audit`]. Tenants and API keys are
//!   aggregates beside the registry's (ADR 034).
//! - [`reservations`]: chargers held for a token (OCPP ReserveNow / CancelReservation from the
//!   routes), expired by the `api-reservation-sweep` task, used by a session
//!   ([`consumers::session_started`]) and priced with the OCPI RESERVATION elements of the
//!   charger's tariff (pricing's `PriceCdr`).
//! - [`extract`]: request bodies and queries. [`problem`]: errors as `application/problem+json`,
//!   mapped in one place.

pub mod access;
pub mod audit;
pub mod auth;
pub mod consumers;
pub mod domain;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod problem;
pub mod projections;
pub mod reply;
pub mod reservations;
pub mod routes;
pub mod time;
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

const MIGRATIONS: &[joule_store::Migration] = &[
    joule_store::migration!(1 => "001_registry_read_tables"),
    joule_store::migration!(2 => "002_tenants_api_keys_audit_events"),
    joule_store::migration!(3 => "003_fleets_drivers_vehicles_cost_centres"),
    // The OAuth2 signing keys' table is joule-auth's (ADR 033).
    joule_store::Migration {
        version: 4,
        name: "004_oauth_signing_keys",
        sql: joule_auth::MIGRATION_SQL,
    },
    joule_store::migration!(5 => "005_reservations"),
    joule_store::migration!(6 => "006_driver_keys"),
    joule_store::migration!(7 => "007_idempotency_keys"),
    joule_store::migration!(8 => "008_nats_credentials"),
];

/// Migrates the api's schema (for tools such as `make bench-auth`; `start` does it itself).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), BoxError> {
    joule_store::migrate(pool, SCHEMA, MIGRATIONS).await?;
    Ok(())
}

/// Migrates the schema; returns the HTTP server and the registry's outbox relay.
pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    let tenant: TenantId = ctx
        .settings
        .tenant
        .parse()
        .map_err(|e| format!("JOULE_TENANT {:?}: {e}", ctx.settings.tenant))?;
    let s = &ctx.settings;
    let limits = auth::rate::RateLimits::parse(&s.api_rate_limits, &s.api_tenant_rate_limit)
        .map_err(|e| format!("JOULE_API_RATE_LIMITS / JOULE_API_TENANT_RATE_LIMIT: {e}"))?;
    // Refuse bad tokens before touching the database.
    auth::token_digest("JOULE_ADMIN_TOKEN", s.admin_token.expose(), true)?;
    auth::token_digest("JOULE_PLATFORM_TOKEN", s.platform_token.expose(), false)?;
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;

    let registry = routes::Registry {
        sites: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        chargers: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        accounts: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        tokens: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        fleets: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        cost_centres: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        drivers: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        vehicles: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        tenants: joule_store::cqrs(ctx.pool.clone(), SCHEMA, ()),
        api_keys: joule_store::cqrs_with_upcasters(
            ctx.pool.clone(),
            SCHEMA,
            domain::api_key::UPCASTERS,
            (),
        ),
    };
    ensure_default_tenant(&registry.tenants, &tenant).await?;
    let directory = Arc::new(auth::directory::Directory::load(ctx.pool.clone(), &tenant).await?);
    let oauth = Arc::new(auth::oauth::OAuth::start(&ctx.pool, s).await?);
    let auth = auth::Authenticator::new(
        s.admin_token.expose(),
        tenant,
        s.platform_token.expose(),
        directory.clone(),
        Arc::new(auth::rate::Limiter::new(limits)),
    )?
    .with_oauth(oauth.clone());
    let upstream = upstreams::Upstreams::new(&ctx)?;
    let reservations = Arc::new(reservations::Reservations::new(
        ctx.pool.clone(),
        upstream.tariffs.clone(),
    ));
    let state = routes::AppState {
        pool: ctx.pool.clone(),
        registry: Arc::new(registry),
        upstream,
        bus: ctx.bus.clone(),
        directory: directory.clone(),
        key_environment: s.api_key_environment.clone(),
        reservations: reservations.clone(),
        answers_kek: Arc::new(match s.oauth_key_encryption_key.expose().trim() {
            "" => joule_auth::KeyEncryptionKey::random(),
            text => joule_auth::KeyEncryptionKey::from_base64(text)
                .map_err(|e| format!("JOULE_OAUTH_KEY_ENCRYPTION_KEY: {e}"))?,
        }),
        integrator: routes::nats_credentials::IntegratorPlane::from_settings(s)?.map(Arc::new),
    };
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
    )?
    .with_upcasters(domain::api_key::UPCASTERS);
    let relay = ctx.relay("api-relay", relay);
    let directory = Task::new("api-directory", directory.run(ctx.shutdown.clone()));
    let idempotency = Task::new(
        "api-idempotency-sweep",
        idempotency::sweep(ctx.pool.clone(), ctx.shutdown.clone()),
    );
    let oauth = Task::new("api-oauth-keys", oauth.run(ctx.shutdown.clone()));
    let audit = ctx.consumer(
        consumers::audit::spec(),
        consumers::audit::AuditProjection(ctx.pool.clone()),
    );

    let reservations_used = ctx.consumer(
        consumers::session_started::spec(),
        consumers::session_started::ReservationsUsed(reservations.clone()),
    );
    let reservation_sweep = Task::new(
        "api-reservation-sweep",
        reservations::sweep::run(reservations, ctx.shutdown.clone()),
    );

    Ok(Started {
        tasks: vec![
            http,
            relay,
            directory,
            oauth,
            audit,
            reservations_used,
            reservation_sweep,
            idempotency,
        ],
        grpc: None,
    })
}

/// The deployment's default tenant (`JOULE_TENANT`) is a tenant like any other, recorded once; it
/// has no id key, so its records keep the ids they had before tenants existed (ADR 034).
async fn ensure_default_tenant(
    tenants: &postgres_es::PostgresCqrs<domain::tenant::Tenant>,
    tenant: &TenantId,
) -> Result<(), BoxError> {
    let command = domain::tenant::TenantCommand::Create {
        tenant_id: tenant.clone(),
        name: tenant
            .as_str()
            .parse()
            .map_err(|e| format!("JOULE_TENANT: {e}"))?,
        id_key: String::new(),
        at: chrono::Utc::now(),
    };
    let meta = joule_store::CommandMeta {
        tenant_id: tenant.to_string(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        causation_id: String::new(),
    };
    match joule_store::execute(tenants, tenant.as_str(), command, meta).await {
        Ok(()) | Err(cqrs_es::AggregateError::UserError(_)) => Ok(()),
        Err(e) => Err(e.to_string().into()),
    }
}
