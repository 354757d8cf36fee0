//! The HTTP surface: `/v1/...` routes, every one behind bearer authentication, JSON in and out,
//! errors as problem+json.

mod charger_commands;
mod dead_letters;
mod invoices;
mod ledger;
mod payments;
mod pricing;
mod registry;
mod sessions;
mod tariffs;
mod wallets;

use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use postgres_es::PostgresCqrs;
use rust_decimal::Decimal;
use sqlx::PgPool;
use tracing::Instrument;

use crate::auth::{Authenticator, require_caller};
use crate::domain::account::Account;
use crate::domain::charger::Charger;
use crate::domain::site::Site;
use crate::domain::token::Token;
use crate::problem::ApiError;
use crate::upstreams::Upstreams;

/// The registry's command side.
pub struct Registry {
    pub sites: PostgresCqrs<Site>,
    pub chargers: PostgresCqrs<Charger>,
    pub accounts: PostgresCqrs<Account>,
    pub tokens: PostgresCqrs<Token>,
}

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub registry: Arc<Registry>,
    pub upstream: Upstreams,
    /// For the dead-letter stream (`/v1/dead-letters`).
    pub bus: joule_bus::Bus,
}

/// Request body limits: `bulk` for tariffs, CDRs, re-ratings and settlement reports, `default`
/// for every other route (413 beyond).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub default: usize,
    pub bulk: usize,
}

pub fn router(state: AppState, auth: Authenticator, limits: BodyLimits) -> Router {
    let bulk = DefaultBodyLimit::max(limits.bulk);
    Router::new()
        .route(
            "/v1/sites",
            get(registry::list_sites).post(registry::create_site),
        )
        .route("/v1/sites/{id}", get(registry::get_site))
        .route(
            "/v1/chargers",
            get(registry::list_chargers).post(registry::create_charger),
        )
        .route("/v1/chargers/{id}", get(registry::get_charger))
        .route(
            "/v1/accounts",
            get(registry::list_accounts).post(registry::create_account),
        )
        .route("/v1/accounts/{id}", get(registry::get_account))
        .route(
            "/v1/tokens",
            get(registry::list_tokens).post(registry::create_token),
        )
        .route("/v1/tokens/{id}", get(registry::get_token))
        .route(
            "/v1/tariffs",
            axum::routing::post(tariffs::create_tariff).layer(bulk),
        )
        .route(
            "/v1/tariffs/{id}",
            get(tariffs::get_tariff).delete(tariffs::retire_tariff),
        )
        .route("/v1/sessions", get(sessions::list_sessions))
        .route("/v1/sessions/{id}", get(sessions::get_session))
        .route("/v1/sessions/{id}/cost", get(sessions::get_session_cost))
        .route("/v1/invoices", get(invoices::list_invoices))
        .route("/v1/invoices/{id}", get(invoices::get_invoice))
        .route("/v1/ledger/trial-balance", get(ledger::trial_balance))
        .merge(payments::routes(bulk))
        .merge(pricing::routes(bulk))
        .merge(wallets::routes())
        .merge(charger_commands::routes())
        .merge(dead_letters::routes())
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Authentication wraps the fallbacks too, so an anonymous caller learns nothing about routes.
        .layer(from_fn_with_state(auth, require_caller))
        // The innermost limit wins: bulk routes have their own.
        .layer(DefaultBodyLimit::max(limits.default))
        .layer(from_fn(trace))
        .with_state(state)
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
        .map_err(|_| ApiError::NotFound(format!("no {noun} with id {raw:?}")))
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

fn non_empty(raw: &str) -> Option<&str> {
    Some(raw).filter(|s| !s.is_empty())
}

/// proto3's empty `next_cursor` means the last page.
fn next_cursor(raw: String) -> Option<String> {
    Some(raw).filter(|s| !s.is_empty())
}
