//! `GET /healthz`: whether this api replica can serve, for load balancers and orchestrators. 200
//! with `{"status": "ok", ...}` when its PostgreSQL pool answers `SELECT 1` and its NATS connection
//! is up; 503 (problem+json saying which is not) otherwise. Unauthenticated and outside the route
//! table, like the token endpoint: it names no record, reads no tenant's data and needs no scope.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sqlx::PgPool;

use crate::problem::ApiError;

/// The longest a probe waits for PostgreSQL: a probe that hangs says nothing.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Probe {
    pool: PgPool,
    bus: joule_bus::Bus,
}

/// What a healthy replica answers.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    pub status: &'static str,
    pub database: &'static str,
    pub nats: &'static str,
}

pub fn routes(pool: PgPool, bus: joule_bus::Bus) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(Probe { pool, bus })
}

async fn healthz(State(probe): State<Probe>) -> Result<Json<Health>, ApiError> {
    let mut down = Vec::new();
    let query = sqlx::query("SELECT 1").execute(&probe.pool);
    match tokio::time::timeout(DATABASE_TIMEOUT, query).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: PostgreSQL does not answer");
            down.push("PostgreSQL does not answer");
        }
        Err(_) => {
            tracing::warn!(timeout = ?DATABASE_TIMEOUT, "health: PostgreSQL does not answer in time");
            down.push("PostgreSQL does not answer");
        }
    }
    if !probe.bus.is_connected() {
        tracing::warn!("health: NATS is not connected");
        down.push("NATS is not connected");
    }
    if !down.is_empty() {
        return Err(ApiError::Unavailable(down.join("; ")));
    }
    Ok(Json(Health {
        status: "ok",
        database: "ok",
        nats: "ok",
    }))
}
