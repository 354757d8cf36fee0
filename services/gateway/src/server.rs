//! The OCPP-J endpoint: `GET /ocpp/{charge_point_id}` upgraded to a WebSocket, over plain TCP or TLS.
//! Before the upgrade, and without any event: chargers the registry projection does not know get
//! 404, subprotocols the gateway does not speak get 400, and a charger with a password (security
//! profiles 1 and 2) that does not present it in HTTP Basic auth gets 401. A charger without a
//! password connects without authentication (profile 0) unless `JOULE_OCPP_REQUIRE_AUTH` is set.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;

/// Read buffer per WebSocket connection; larger frames still arrive, in several reads.
const OCPP_READ_BUFFER: usize = 4 * 1024;
/// The largest message (and frame) a charger may send, and the most the gateway buffers for
/// writing to one charger: OCPP messages are a few KiB (a signed meter value batch stays far
/// below), and the limit bounds what one charger can make the gateway hold in memory.
const OCPP_MAX_MESSAGE: usize = 1 << 20;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use joule_bus::Bus;
use joule_domain::ChargePointId;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::FrameLog;
use crate::cache::RegistryCache;
use crate::clock::ClockPolicy;
use crate::connection;
use crate::connectors::ConnectorLog;
use crate::credentials;
use crate::estimate::CostEstimates;
use crate::hold::HoldCheck;
use crate::presence::Live;
use crate::protocol::OcppVersion;
use crate::publish::ChargerEvents;
use crate::registry;
use crate::tls::{Peer, TlsListener};
use crate::transactions::TransactionIds;

/// How the gateway treats connections; from the settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Given to chargers in the BootNotification answer.
    pub heartbeat_interval_secs: u32,
    pub clock: ClockPolicy,
    pub require_auth: bool,
    /// Whether the listener terminates TLS (security profile 2 rather than 1).
    pub tls: bool,
    /// How long a charger may take to answer a command.
    pub command_timeout: Duration,
}

/// What every connection shares.
pub struct Gateway {
    pub pool: PgPool,
    pub bus: Bus,
    pub events: ChargerEvents,
    pub heartbeat_interval_secs: u32,
    pub clock: ClockPolicy,
    pub require_auth: bool,
    pub tls: bool,
    pub command_timeout: Duration,
    pub frames: FrameLog,
    /// This replica's copy of the registry projection.
    pub registry: Arc<RegistryCache>,
    /// 1.6 transaction ids, allocated in batches.
    pub transaction_ids: TransactionIds,
    /// Where changed connector states are stored.
    pub connector_log: ConnectorLog,
    /// Payments' hold decision at transaction starts; `None` when turned off.
    pub holds: Option<HoldCheck>,
    /// Pricing's estimate for the 2.0.1 Ended answer; `None` when turned off.
    pub estimates: Option<CostEstimates>,
    /// The tenant this gateway serves (part of the session ids it derives).
    pub tenant: String,
    pub live: Arc<Live>,
    pub shutdown: CancellationToken,
    /// Open connections, so that shutdown waits for them to close (axum stops tracking a connection
    /// once it is upgraded).
    connections: TaskTracker,
}

/// What the gateway is wired to besides the pool and the bus: its in-memory helpers (registry
/// copy, id allocator, connector writer) and the other services it asks while answering chargers.
#[derive(Clone)]
pub struct Links {
    pub tenant: String,
    pub registry: Arc<RegistryCache>,
    pub transaction_ids: TransactionIds,
    pub connector_log: ConnectorLog,
    pub holds: Option<HoldCheck>,
    pub estimates: Option<CostEstimates>,
}

/// Missed heartbeats after which a silent connection counts as gone.
const MISSED_HEARTBEATS: u32 = 3;

impl Gateway {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        events: ChargerEvents,
        policy: Policy,
        frames: FrameLog,
        links: Links,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            pool,
            bus,
            events,
            heartbeat_interval_secs: policy.heartbeat_interval_secs,
            clock: policy.clock,
            require_auth: policy.require_auth,
            tls: policy.tls,
            command_timeout: policy.command_timeout,
            frames,
            registry: links.registry,
            transaction_ids: links.transaction_ids,
            connector_log: links.connector_log,
            holds: links.holds,
            estimates: links.estimates,
            tenant: links.tenant,
            live: Arc::new(Live::default()),
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
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    gateway: Arc<Gateway>,
) -> std::io::Result<()> {
    let shutdown = gateway.shutdown.clone();
    let connections = gateway.connections.clone();
    let app = router(gateway);
    match tls {
        None => {
            axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await?
        }
        Some(acceptor) => {
            axum::serve(
                TlsListener::new(listener, acceptor)?,
                app.into_make_service_with_connect_info::<Peer>(),
            )
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?
        }
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

fn unauthorized(charge_point_id: &str, why: &str) -> Response {
    tracing::info!(%charge_point_id, why, "upgrade refused: not authenticated");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"joule-ocpp\"")],
        "charger authentication required (HTTP Basic, user = charge point id)",
    )
        .into_response()
}

/// The security profile the upgrade qualifies for, or the refusal.
async fn authenticate(
    gateway: &Gateway,
    id: &ChargePointId,
    headers: &HeaderMap,
    peer: &Peer,
) -> Result<&'static str, Response> {
    // Profile 3: the handshake verified the certificate against the client CA; it must name this
    // charge point.
    if let Some(cn) = &peer.certificate_cn {
        return if cn == id.as_str() {
            Ok("3")
        } else {
            tracing::info!(charge_point_id = %id, certificate_cn = %cn, "client certificate names another charge point");
            Err(unauthorized(
                id.as_str(),
                "the client certificate is for another charge point",
            ))
        };
    }
    let stored = registry::password_hash(&gateway.pool, id)
        .await
        .map_err(|e| {
            tracing::error!(charge_point_id = %id, error = %e, "cannot look up charger credentials");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        })?;
    let Some(stored) = stored else {
        if gateway.require_auth {
            return Err(unauthorized(id.as_str(), "no password registered"));
        }
        return Ok("0");
    };
    let Some((user, password)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(credentials::parse_basic)
    else {
        return Err(unauthorized(id.as_str(), "no Basic credentials"));
    };
    if user != id.as_str() {
        return Err(unauthorized(id.as_str(), "user is not the charge point id"));
    }
    // Key derivation is deliberately slow: off the async workers.
    let verified =
        tokio::task::spawn_blocking(move || credentials::verify_password(&stored, &password)).await;
    match verified {
        Ok(Ok(true)) => Ok(if gateway.tls { "2" } else { "1" }),
        Ok(Ok(false)) => Err(unauthorized(id.as_str(), "wrong password")),
        Ok(Err(e)) => {
            tracing::error!(charge_point_id = %id, error = %e, "stored password hash unusable");
            Err(unauthorized(id.as_str(), "unusable stored hash"))
        }
        Err(e) => {
            tracing::error!(charge_point_id = %id, error = %e, "password check failed");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    Path(charge_point_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
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
    let charger = match gateway.registry.find_charger(&gateway.pool, &id).await {
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
    let profile = match authenticate(&gateway, &id, &headers, &peer).await {
        Ok(profile) => profile,
        Err(refusal) => return refusal,
    };
    // Taken before the upgrade so that a shutdown starting now still waits for this connection.
    let tracked = gateway.connections.token();
    // OCPP frames are small and chargers mostly idle: tungstenite's default 128 KiB read buffer per
    // connection (zero-filled on every read) dominated memory per charger (BENCHMARKS.md).
    ws.read_buffer_size(OCPP_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(OCPP_MAX_MESSAGE)
        .max_message_size(OCPP_MAX_MESSAGE)
        .max_frame_size(OCPP_MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            connection::run(socket, gateway, charger, version, profile).await;
            drop(tracked);
        })
}
