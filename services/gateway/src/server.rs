//! The OCPP-J endpoint: `GET /ocpp/{charge_point_id}` upgraded to a WebSocket. Chargers the registry
//! projection does not know get 404 and subprotocols the gateway does not speak get 400, both before
//! the upgrade and without any event.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use joule_domain::ChargePointId;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection;
use crate::protocol::OcppVersion;
use crate::publish::ChargerEvents;
use crate::registry;

/// What every connection shares.
pub struct Gateway {
    pub pool: PgPool,
    pub events: ChargerEvents,
    /// Given to chargers in the BootNotification answer.
    pub heartbeat_interval_secs: u32,
    pub shutdown: CancellationToken,
    /// Open connections, so that shutdown waits for them to close (axum stops tracking a connection
    /// once it is upgraded).
    connections: TaskTracker,
}

/// Missed heartbeats after which a silent connection counts as gone.
const MISSED_HEARTBEATS: u32 = 3;

impl Gateway {
    pub fn new(
        pool: PgPool,
        events: ChargerEvents,
        heartbeat_interval_secs: u32,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            pool,
            events,
            heartbeat_interval_secs,
            shutdown,
            connections: TaskTracker::new(),
        }
    }

    /// How long a connection may stay silent (no frame, not even a WebSocket ping).
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.heartbeat_interval_secs) * u64::from(MISSED_HEARTBEATS))
    }
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/ocpp/{charge_point_id}", get(upgrade))
        .with_state(gateway)
}

/// Serves until shutdown, then waits for open connections to close (each closes on shutdown).
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) -> std::io::Result<()> {
    let shutdown = gateway.shutdown.clone();
    let connections = gateway.connections.clone();
    axum::serve(listener, router(gateway))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    connections.close();
    connections.wait().await;
    Ok(())
}

async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    Path(charge_point_id): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let ws = ws.protocols(OcppVersion::SUPPORTED.map(OcppVersion::subprotocol));
    let Some(version) = ws
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(OcppVersion::from_subprotocol)
    else {
        let offered: Vec<_> = ws
            .requested_protocols()
            .filter_map(|p| p.to_str().ok())
            .collect();
        tracing::info!(%charge_point_id, ?offered, "upgrade refused: no supported OCPP subprotocol");
        let supported: Vec<_> = OcppVersion::SUPPORTED
            .iter()
            .map(|v| v.subprotocol())
            .collect();
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "Sec-WebSocket-Protocol must offer one of: {}",
                supported.join(", ")
            ),
        )
            .into_response();
    };
    let Ok(id) = charge_point_id.parse::<ChargePointId>() else {
        tracing::info!(%charge_point_id, "upgrade refused: invalid charge point id");
        return StatusCode::NOT_FOUND.into_response();
    };
    let charger = match registry::find_charger(&gateway.pool, &id).await {
        Ok(Some(charger)) => charger,
        Ok(None) => {
            tracing::info!(%charge_point_id, "upgrade refused: unknown charge point");
            return StatusCode::NOT_FOUND.into_response();
        }
        Err(e) => {
            tracing::error!(%charge_point_id, error = %e, "cannot look up charge point");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    // Taken before the upgrade so that a shutdown starting now still waits for this connection.
    let tracked = gateway.connections.token();
    ws.on_upgrade(move |socket| async move {
        connection::run(socket, gateway, charger, version).await;
        drop(tracked);
    })
}
