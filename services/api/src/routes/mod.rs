//! The HTTP surface: `/v1/...` routes, every one behind bearer authentication and requiring one
//! scope ([`table`]), JSON in and out, errors as problem+json, writes audited ([`crate::audit`]).
//! Outside them, unauthenticated: the OAuth2 token endpoint, the JWKS, `GET /healthz`, and the
//! OpenAPI document the table generates (`GET /v1/openapi.json`, rendered at `GET /docs`).

mod api_keys;
mod audit;
mod charger_commands;
mod dead_letters;
mod fleets;
mod health;
mod invoices;
mod ledger;
pub mod nats_credentials;
mod payments;
mod pricing;
mod reach;
mod registry;
mod reservations;
mod sessions;
pub mod table;
mod tariffs;
mod tenants;
mod transactions;
mod wallets;
mod webhooks;
mod written;

use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use joule_proto::v1::charger_commands_client::ChargerCommandsClient;
use joule_proto::v1::invoicing_service_client::InvoicingServiceClient;
use joule_proto::v1::ledger_service_client::LedgerServiceClient;
use joule_proto::v1::payments_service_client::PaymentsServiceClient;
use joule_proto::v1::sessions_service_client::SessionsServiceClient;
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_proto::v1::webhooks_service_client::WebhooksServiceClient;
use joule_store::Decided;
use postgres_es::PostgresCqrs;
use rust_decimal::Decimal;
use sqlx::PgPool;
use tracing::Instrument;

use crate::access::Scope;
use crate::auth::directory::Directory;
use crate::auth::{Authenticator, require_caller};
use crate::domain::account::Account;
use crate::domain::api_key::ApiKey;
use crate::domain::charger::Charger;
use crate::domain::cost_centre::CostCentre;
use crate::domain::driver::Driver;
use crate::domain::fleet::Fleet;
use crate::domain::site::Site;
use crate::domain::tenant::Tenant;
use crate::domain::token::Token;
use crate::domain::vehicle::Vehicle;
use crate::extract::Listed;
use crate::problem::ApiError;
use crate::upstreams::{Traced, Upstreams};
use table::{RouteEntry, RouteTable};

/// The registry's command side.
pub struct Registry {
    pub sites: PostgresCqrs<Site>,
    pub chargers: PostgresCqrs<Charger>,
    pub accounts: PostgresCqrs<Account>,
    pub tokens: PostgresCqrs<Decided<Token>>,
    pub fleets: PostgresCqrs<Decided<Fleet>>,
    pub cost_centres: PostgresCqrs<Decided<CostCentre>>,
    pub drivers: PostgresCqrs<Decided<Driver>>,
    pub vehicles: PostgresCqrs<Decided<Vehicle>>,
    pub tenants: PostgresCqrs<Tenant>,
    pub api_keys: PostgresCqrs<ApiKey>,
}

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub registry: Arc<Registry>,
    pub upstream: Upstreams,
    /// For the dead-letter stream (`/v1/dead-letters`).
    pub bus: joule_bus::Bus,
    /// This replica's tenants and API keys.
    pub directory: Arc<Directory>,
    /// `live` or `test`, in every new API key.
    pub key_environment: String,
    /// Reservations' command side and fee pricing.
    pub reservations: Arc<crate::reservations::Reservations>,
    /// Seals the answers kept for `Idempotency-Key` (`crate::idempotency`).
    pub answers_kek: Arc<joule_auth::KeyEncryptionKey>,
    /// The integrator plane, when the deployment has one (`/v1/nats-credentials`).
    pub integrator: Option<Arc<nats_credentials::IntegratorPlane>>,
}

impl AppState {
    /// The key of `tenant`'s derived ids (empty: unkeyed, the default tenant).
    fn id_key(&self, tenant: &joule_domain::TenantId) -> String {
        self.directory
            .tenant(tenant)
            .map(|t| t.id_key.clone())
            .unwrap_or_default()
    }

    /// Pricing's `TariffService`. Cloning a client is cheap: it shares its channel.
    fn pricing(&self) -> TariffServiceClient<Traced> {
        self.upstream.tariffs.clone()
    }

    fn sessions(&self) -> SessionsServiceClient<Traced> {
        self.upstream.sessions.clone()
    }

    fn invoicing(&self) -> InvoicingServiceClient<Traced> {
        self.upstream.invoicing.clone()
    }

    fn ledger(&self) -> LedgerServiceClient<Traced> {
        self.upstream.ledger.clone()
    }

    fn payments(&self) -> PaymentsServiceClient<Traced> {
        self.upstream.payments.clone()
    }

    /// The gateway's `ChargerCommands`.
    fn gateway(&self) -> ChargerCommandsClient<Traced> {
        self.upstream.commands.clone()
    }

    fn webhooks(&self) -> WebhooksServiceClient<Traced> {
        self.upstream.webhooks.clone()
    }
}

/// The answer of a gRPC call to another service, or its failure as the problem
/// [`ApiError::upstream`] makes of it.
trait Answer<T> {
    fn answer(self, service: &'static str) -> Result<T, ApiError>;
}

impl<T> Answer<T> for Result<tonic::Response<T>, tonic::Status> {
    fn answer(self, service: &'static str) -> Result<T, ApiError> {
        self.map(tonic::Response::into_inner)
            .map_err(ApiError::upstream(service))
    }
}

/// A page of another service's list as the API answers it: each item as its view, and the next
/// cursor (proto3's empty one means the last page).
fn listed<T, V>(
    items: Vec<T>,
    next_cursor: String,
    view: impl FnMut(T) -> Result<V, ApiError>,
) -> Result<Listed<V>, ApiError> {
    Ok(Listed {
        data: items.into_iter().map(view).collect::<Result<_, _>>()?,
        next_cursor: Some(next_cursor).filter(|s| !s.is_empty()),
    })
}

/// Request body limits: `bulk` for tariffs, CDRs, re-ratings and settlement reports, `default`
/// for every other route (413 beyond).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub default: usize,
    pub bulk: usize,
}

/// Every route with its scope.
pub fn table(bulk: DefaultBodyLimit) -> RouteTable {
    let t = RouteTable::new(bulk)
        .post("/v1/tenants", Scope::Platform, tenants::create)
        .get("/v1/tenants", Scope::Platform, tenants::list)
        .get("/v1/tenants/{id}", Scope::Platform, tenants::one)
        .post(
            "/v1/tenants/{id}/api-keys",
            Scope::Platform,
            tenants::create_key,
        )
        .post("/v1/api-keys", Scope::ApiKeysWrite, api_keys::create)
        .get("/v1/api-keys", Scope::ApiKeysRead, api_keys::list)
        .get("/v1/api-keys/{id}", Scope::ApiKeysRead, api_keys::one)
        .post(
            "/v1/api-keys/{id}/rotate",
            Scope::ApiKeysWrite,
            api_keys::rotate,
        )
        .post(
            "/v1/api-keys/{id}/revoke",
            Scope::ApiKeysWrite,
            api_keys::revoke,
        )
        .get("/v1/audit-events", Scope::AuditRead, audit::list)
        .post_bulk("/v1/tariffs", Scope::TariffsWrite, tariffs::create_tariff)
        .get("/v1/tariffs", Scope::TariffsRead, tariffs::list_tariffs)
        .get("/v1/tariffs/{id}", Scope::TariffsRead, tariffs::get_tariff)
        .delete(
            "/v1/tariffs/{id}",
            Scope::TariffsWrite,
            tariffs::retire_tariff,
        )
        .get("/v1/sessions", Scope::SessionsRead, sessions::list_sessions)
        .get(
            "/v1/sessions/{id}",
            Scope::SessionsRead,
            sessions::get_session,
        )
        .get(
            "/v1/sessions/{id}/cost",
            Scope::SessionsRead,
            sessions::get_session_cost,
        )
        .get("/v1/invoices", Scope::InvoicesRead, invoices::list_invoices)
        .get(
            "/v1/invoices/{id}",
            Scope::InvoicesRead,
            invoices::get_invoice,
        )
        .get(
            "/v1/ledger/trial-balance",
            Scope::LedgerRead,
            ledger::trial_balance,
        )
        .get("/v1/ledger/accounts", Scope::LedgerRead, ledger::accounts)
        .get(
            "/v1/accounts/{id}/statement",
            Scope::LedgerRead,
            ledger::statement,
        )
        .get("/v1/ledger/postings", Scope::LedgerRead, ledger::postings)
        .get(
            "/v1/ledger/general-ledger.csv",
            Scope::LedgerRead,
            ledger::general_ledger_csv,
        )
        .get(
            "/v1/transactions",
            Scope::TransactionsRead,
            transactions::list,
        );
    let t = registry::routes(t);
    let t = fleets::routes(t);
    let t = payments::routes(t);
    let t = pricing::routes(t);
    let t = wallets::routes(t);
    let t = charger_commands::routes(t);
    let t = reservations::routes(t);
    let t = webhooks::routes(t);
    let t = nats_credentials::routes(t);
    dead_letters::routes(t)
}

/// The routes as data, for the access-matrix test and the README's table.
pub fn entries() -> Vec<RouteEntry> {
    table(DefaultBodyLimit::max(1)).into_parts().1
}

/// The routes and the OpenAPI document that describes them.
fn documented(bulk: DefaultBodyLimit) -> (axum::Router<AppState>, aide::openapi::OpenApi) {
    let (routes, entries) = table(bulk).into_parts();
    let mut document = aide::openapi::OpenApi::default();
    crate::openapi::frame(&mut document);
    crate::openapi::webhooks(&mut document);
    let routes = routes.finish_api(&mut document);
    document.tags = crate::openapi::tags(&entries.iter().map(|e| e.path).collect::<Vec<_>>());
    crate::openapi::without_boolean_schemas(&mut document);
    (routes, document)
}

/// The OpenAPI document `GET /v1/openapi.json` serves.
pub fn openapi() -> aide::openapi::OpenApi {
    documented(DefaultBodyLimit::max(1)).1
}

pub fn router(state: AppState, auth: Authenticator, limits: BodyLimits) -> Router {
    let (routes, document) = documented(DefaultBodyLimit::max(limits.bulk));
    let bus = state.bus.clone();
    let idempotency = crate::idempotency::Idempotency {
        pool: state.pool.clone(),
        max_body: limits.bulk.max(limits.default),
        kek: state.answers_kek.clone(),
    };
    let public = crate::auth::token_endpoint::routes(auth.clone())
        .merge(health::routes(state.pool.clone(), state.bus.clone()))
        .merge(crate::openapi::routes(Arc::new(document)));
    routes
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Inside the audit log, which records a replayed answer as it went out.
        .layer(from_fn_with_state(
            idempotency,
            crate::idempotency::keep_answers,
        ))
        // Inside authentication: the audit log knows who acted.
        .layer(from_fn_with_state(bus, crate::audit::record))
        // Authentication wraps the fallbacks too, so an anonymous caller learns nothing about routes.
        .layer(from_fn_with_state(auth, require_caller))
        .with_state(state)
        // The token endpoint, the JWKS and the health probe authenticate nobody by bearer token.
        .merge(public)
        // The innermost limit wins: bulk routes have their own.
        .layer(DefaultBodyLimit::max(limits.default))
        .layer(from_fn(trace))
}

/// One span per request, continuing the caller's W3C trace. Headers are not logged: one of them is
/// the bearer token.
async fn trace(path: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let route = path
        .as_ref()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "http",
        http.method = %request.method(),
        http.route = %route,
        http.status = tracing::field::Empty
    );
    joule_telemetry::set_parent_from_http(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.status", response.status().as_u16());
    response
}

/// A path id: one that does not parse cannot name an existing record, so it is a 404.
fn path_id<T: FromStr>(raw: &str, noun: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no {noun} with id {raw}")))
}

/// A decimal string from another service; a bad one breaks the contract.
fn upstream_decimal(service: &'static str, field: &str, raw: &str) -> Result<Decimal, ApiError> {
    Decimal::from_str(raw).map_err(|e| ApiError::UpstreamContract {
        service,
        reason: format!("{field} {raw:?} is not a decimal: {e}"),
    })
}

/// Like [`upstream_decimal`], with proto3's empty string meaning "none".
fn optional_decimal(
    service: &'static str,
    field: &str,
    raw: &str,
) -> Result<Option<Decimal>, ApiError> {
    non_empty(raw)
        .map(|r| upstream_decimal(service, field, r))
        .transpose()
}

/// An amount of `currency` as the API writes money ([`joule_domain::Currency::written`]: at least
/// the minor unit's digits, `0.50`); an amount of a currency this build does not know stays as
/// it came.
fn money(currency: &str, amount: Decimal) -> Decimal {
    match currency.parse::<joule_domain::Currency>() {
        Ok(c) => c.written(amount),
        Err(_) => amount,
    }
}

fn non_empty(raw: &str) -> Option<&str> {
    Some(raw).filter(|s| !s.is_empty())
}
