//! The OCPP-J endpoint: `GET /ocpp/{tenant}/{charge_point_id}` upgraded to a WebSocket, over plain
//! TCP or TLS. The path names the charger's tenant, and the charge point id is looked up in that
//! tenant only (ADR 032); the path of earlier releases, `GET /ocpp/{charge_point_id}`, names a
//! charge point of the deployment's tenant (`JOULE_TENANT`). An unknown tenant, or a charge point
//! not registered in the tenant the path names, is an unknown charge point.
//!
//! Before the upgrade, and without any event: subprotocols the gateway does not speak get 400, and
//! a charger that does not authenticate gets 401. Authentication is required by default
//! (`JOULE_OCPP_REQUIRE_AUTH`): a password in HTTP Basic auth (profiles 1 and 2) or a client
//! certificate (profile 3); a charger without a password connects without authentication
//! (profile 0) only where that setting is turned off. A client certificate is for a charge point
//! of a tenant other than the deployment's only when its organisation (O) names that tenant; on
//! the deployment's tenant, a certificate whose O names another tenant the gateway knows is refused.
//!
//! An unknown charge point id gets the same 401 as a wrong password, after the same work: its
//! password is checked against a dummy hash, so that neither the answer nor its timing tells
//! which ids exist (ADR 026). Failures are throttled per id and per source address
//! ([`crate::edge::throttle`]; 429 during a lock-out, without a lookup or a hash); password checks run on
//! the blocking pool, at most `JOULE_OCPP_AUTH_HASH_CONCURRENCY` at once. A connection at a lower
//! security profile than the charger's open one is refused with 409 (the open one stays).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;

/// Read buffer per WebSocket connection; larger frames still arrive, in several reads.
const OCPP_READ_BUFFER: usize = 4 * 1024;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use joule_bus::Bus;
use joule_domain::{ChargePointId, TenantId};
use joule_runtime::http::{Limits, Peer};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::edge::audit::FrameLog;
use crate::edge::connection;
use crate::edge::connectors::ConnectorLog;
use crate::edge::credentials;
use crate::edge::throttle::{AuthThrottle, ThrottlePolicy};
use crate::edge::tls;
use crate::links::estimate::CostEstimates;
use crate::links::hold::HoldCheck;
use crate::ocpp::clock::ClockPolicy;
use crate::ocpp::protocol::OcppVersion;
use crate::presence::Live;
use crate::projections::cache::RegistryCache;
use crate::projections::registry::{self, ChargePointKey, KnownCharger};
use crate::publish::ChargerEvents;
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
    pub throttle: ThrottlePolicy,
    /// Password checks running at once.
    pub hash_concurrency: usize,
    /// The largest message a charger may send.
    pub max_frame_bytes: usize,
    /// Messages per second per connection, and the burst.
    pub message_rate: crate::edge::rate::RatePolicy,
    /// Heartbeat intervals of silence after which a connection is closed.
    pub idle_heartbeats: u32,
    /// The listener's limits (connections, header and TLS handshake timeouts) and the upgrade
    /// request's timeout.
    pub limits: Limits,
    pub request_timeout: Duration,
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
    pub max_frame_bytes: usize,
    pub message_rate: crate::edge::rate::RatePolicy,
    idle_heartbeats: u32,
    limits: Limits,
    request_timeout: Duration,
    throttle: AuthThrottle,
    /// Permits for password checks on the blocking pool.
    hashing: Arc<Semaphore>,
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
    /// The deployment's tenant (`JOULE_TENANT`): the charge points of the path without a tenant.
    pub tenant: TenantId,
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
    pub tenant: TenantId,
    pub registry: Arc<RegistryCache>,
    pub transaction_ids: TransactionIds,
    pub connector_log: ConnectorLog,
    pub holds: Option<HoldCheck>,
    pub estimates: Option<CostEstimates>,
}

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
            max_frame_bytes: policy.max_frame_bytes,
            message_rate: policy.message_rate,
            idle_heartbeats: policy.idle_heartbeats,
            limits: policy.limits,
            request_timeout: policy.request_timeout,
            throttle: AuthThrottle::new(policy.throttle),
            hashing: Arc::new(Semaphore::new(policy.hash_concurrency.max(1))),
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
        Duration::from_secs(
            u64::from(self.heartbeat_interval_secs) * u64::from(self.idle_heartbeats.max(1)),
        )
    }
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    let timeout = gateway.request_timeout;
    let router = Router::new()
        .route("/ocpp/{tenant}/{charge_point_id}", get(upgrade_in_tenant))
        // The path of releases before tenants: a charge point of the deployment's tenant.
        .route("/ocpp/{charge_point_id}", get(upgrade_in_default_tenant))
        // The upgrade is a GET: no body is read, and none may be large.
        .layer(axum::extract::DefaultBodyLimit::max(UPGRADE_BODY_LIMIT))
        .with_state(gateway);
    joule_runtime::http::request_timeout(router, timeout, || {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    })
}

/// The most body an upgrade request may carry.
const UPGRADE_BODY_LIMIT: usize = 1024;

/// Serves until shutdown, then waits for open connections to close (each closes on shutdown).
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    gateway: Arc<Gateway>,
) -> std::io::Result<()> {
    let shutdown = gateway.shutdown.clone();
    let connections = gateway.connections.clone();
    let limits = gateway.limits;
    let app = router(gateway);
    joule_runtime::http::serve("ocpp", listener, tls, app, limits, shutdown).await?;
    connections.close();
    connections.wait().await;
    Ok(())
}

/// The one refusal for every failed authentication, whatever failed (ADR 026): an unknown id, a
/// wrong or missing password, a certificate of another charge point. The reason is logged only.
fn unauthorized(charge_point_id: &str, why: &str) -> Response {
    tracing::info!(%charge_point_id, why, "upgrade refused: not authenticated");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"joule-ocpp\"")],
        "charger authentication required (HTTP Basic, user = charge point id)",
    )
        .into_response()
}

fn locked_out(charge_point_id: &str, retry_after: Duration) -> Response {
    tracing::info!(%charge_point_id, ?retry_after, "upgrade refused: locked out after failed authentications");
    let secs = retry_after.as_secs().max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(
            header::RETRY_AFTER,
            HeaderValue::from_str(&secs.to_string()).unwrap_or(HeaderValue::from_static("1")),
        )],
        "too many failed authentications; retry later",
    )
        .into_response()
}

/// Why an upgrade was not admitted: a failed authentication (counted by the throttle) or another
/// answer (a lock-out, the database unreachable).
enum Refusal {
    Failed(&'static str),
    Answer(Response),
}

/// The charger and the security profile the upgrade qualifies for.
async fn authenticate(
    gateway: &Gateway,
    key: &ChargePointKey,
    headers: &HeaderMap,
    peer: &Peer,
) -> Result<(KnownCharger, u8), Refusal> {
    let id = &key.charge_point_id;
    let unavailable = |e: sqlx::Error| {
        tracing::error!(charge_point = %key, error = %e, "cannot look up the charger");
        Refusal::Answer(StatusCode::SERVICE_UNAVAILABLE.into_response())
    };
    let charger = gateway
        .registry
        .find_charger(&gateway.pool, key)
        .await
        .map_err(unavailable)?;
    // Profile 3: the handshake verified the certificate against the client CA; it must name this
    // charge point, and belong to its tenant.
    if let Some(certificate) = &peer.client_certificate {
        let cn = tls::subject_common_name(certificate.as_ref());
        let organization = tls::subject_organization(certificate.as_ref());
        let tenant_matches = certificate_tenant_matches(gateway, key, organization.as_deref())
            .await
            .map_err(unavailable)?;
        return match (cn, charger) {
            (Some(cn), _) if cn == id.as_str() && !tenant_matches => {
                tracing::info!(charge_point = %key, certificate_o = ?organization, "client certificate is for another tenant");
                Err(Refusal::Failed(
                    "the client certificate is for another tenant",
                ))
            }
            (Some(cn), Some(charger)) if cn == id.as_str() => Ok((charger, 3)),
            (Some(cn), _) if cn == id.as_str() => Err(Refusal::Failed("unknown charge point")),
            (cn, _) => {
                tracing::info!(charge_point = %key, certificate_cn = ?cn, "client certificate names another charge point");
                Err(Refusal::Failed(
                    "the client certificate is for another charge point",
                ))
            }
        };
    }
    let stored = match &charger {
        Some(_) => registry::password_hash(&gateway.pool, key)
            .await
            .map_err(unavailable)?,
        None => None,
    };
    if let (Some(charger), None, false) = (&charger, &stored, gateway.require_auth) {
        return Ok((charger.clone(), 0));
    }
    let Some((user, password)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(credentials::parse_basic)
    else {
        return Err(Refusal::Failed("no Basic credentials"));
    };
    if user != id.as_str() {
        return Err(Refusal::Failed("user is not the charge point id"));
    }
    // Without a stored hash (unknown id, no password) the check runs against the dummy hash, so
    // that it takes as long as a wrong password does.
    let has_password = stored.is_some();
    let stored = stored.unwrap_or_else(|| credentials::dummy_hash().to_owned());
    let verified = {
        let _permit = gateway
            .hashing
            .acquire()
            .await
            .map_err(|_| Refusal::Answer(StatusCode::SERVICE_UNAVAILABLE.into_response()))?;
        // Key derivation is deliberately slow: off the async workers.
        tokio::task::spawn_blocking(move || credentials::verify_password(&stored, &password)).await
    };
    match (verified, charger) {
        (Ok(Ok(true)), Some(charger)) if has_password => {
            Ok((charger, if gateway.tls { 2 } else { 1 }))
        }
        (Ok(Ok(_)), Some(_)) if has_password => Err(Refusal::Failed("wrong password")),
        (Ok(Ok(_)), Some(_)) => Err(Refusal::Failed("no password registered")),
        (Ok(Ok(_)), None) => Err(Refusal::Failed("unknown charge point")),
        (Ok(Err(e)), _) => {
            tracing::error!(charge_point = %key, error = %e, "stored password hash unusable");
            Err(Refusal::Failed("unusable stored hash"))
        }
        (Err(e), _) => {
            tracing::error!(charge_point = %key, error = %e, "password check failed");
            Err(Refusal::Answer(
                StatusCode::SERVICE_UNAVAILABLE.into_response(),
            ))
        }
    }
}

/// Whether a client certificate's organisation (O) fits the tenant of the charge point it connects
/// as: for another tenant than the deployment's it must name that tenant; for the deployment's it
/// may be anything (certificates from before tenants) except another tenant the gateway knows.
async fn certificate_tenant_matches(
    gateway: &Gateway,
    key: &ChargePointKey,
    organization: Option<&str>,
) -> Result<bool, sqlx::Error> {
    if key.tenant != gateway.tenant {
        return Ok(organization == Some(key.tenant.as_str()));
    }
    match organization {
        None => Ok(true),
        Some(o) if o == key.tenant.as_str() => Ok(true),
        Some(o) => Ok(!registry::tenant_known(&gateway.pool, o).await?),
    }
}

/// `GET /ocpp/{tenant}/{charge_point_id}`.
async fn upgrade_in_tenant(
    State(gateway): State<Arc<Gateway>>,
    Path((tenant, charge_point_id)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(gateway, Some(tenant), charge_point_id, peer, headers, ws).await
}

/// `GET /ocpp/{charge_point_id}`: a charge point of the deployment's tenant.
async fn upgrade_in_default_tenant(
    State(gateway): State<Arc<Gateway>>,
    Path(charge_point_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(gateway, None, charge_point_id, peer, headers, ws).await
}

async fn upgrade(
    gateway: Arc<Gateway>,
    tenant: Option<String>,
    charge_point_id: String,
    peer: Peer,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // The charger as the path names it, for the log.
    let named = match &tenant {
        Some(tenant) => format!("{tenant}/{charge_point_id}"),
        None => charge_point_id.clone(),
    };
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
        tracing::info!(charge_point = %named, ?offered, "upgrade refused: no supported OCPP subprotocol");
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
    let ip = peer.addr.ip();
    if let Some(retry_after) = gateway.throttle.ip_locked_out(ip, Instant::now()) {
        return locked_out(&named, retry_after);
    }
    let Some(key) = charge_point_key(&gateway.tenant, tenant.as_deref(), &charge_point_id) else {
        gateway.throttle.failed(None, ip, Instant::now());
        return unauthorized(&named, "invalid tenant or charge point id");
    };
    // Failures are counted per charge point of a tenant: one tenant's failures never lock out
    // another tenant's charger of the same id.
    let throttle_id = key.to_string();
    if let Some(retry_after) = gateway
        .throttle
        .locked_out(&throttle_id, ip, Instant::now())
    {
        return locked_out(&named, retry_after);
    }
    let (charger, profile) = match authenticate(&gateway, &key, &headers, &peer).await {
        Ok(admitted) => admitted,
        Err(Refusal::Failed(why)) => {
            gateway
                .throttle
                .failed(Some(&throttle_id), ip, Instant::now());
            return unauthorized(&named, why);
        }
        Err(Refusal::Answer(response)) => return response,
    };
    gateway.throttle.succeeded(&throttle_id);
    if let Some(open_profile) = gateway.live.security_profile(&key)
        && open_profile > profile
    {
        return downgrade_refused(&key, profile, open_profile);
    }
    // Taken before the upgrade so that a shutdown starting now still waits for this connection.
    let tracked = gateway.connections.token();
    // OCPP frames are small and chargers mostly idle: tungstenite's default 128 KiB read buffer per
    // connection (zero-filled on every read) dominated memory per charger (BENCHMARKS.md). The
    // largest message bounds what one charger can make the gateway hold in memory.
    let max = gateway.max_frame_bytes;
    ws.read_buffer_size(OCPP_READ_BUFFER.min(max))
        .write_buffer_size(0)
        .max_write_buffer_size(max.max(OCPP_WRITE_BUFFER_MIN))
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            connection::run(socket, gateway, charger, version, profile).await;
            drop(tracked);
        })
}

/// The most the gateway buffers for writing to one charger, whatever the frame limit: its own
/// answers and commands are small.
const OCPP_WRITE_BUFFER_MIN: usize = 64 * 1024;

/// The charge point a path names: in the tenant it names (the deployment's when it names none);
/// `None` when either is not a valid id.
fn charge_point_key(
    default_tenant: &TenantId,
    tenant: Option<&str>,
    charge_point_id: &str,
) -> Option<ChargePointKey> {
    let tenant = match tenant {
        None => default_tenant.clone(),
        Some(raw) => raw.parse().ok()?,
    };
    Some(ChargePointKey::new(
        tenant,
        charge_point_id.parse::<ChargePointId>().ok()?,
    ))
}

/// A newcomer at a lower security profile never replaces the charger's open connection.
pub fn downgrade_refused(id: &ChargePointKey, profile: u8, open_profile: u8) -> Response {
    tracing::warn!(charge_point = %id, security_profile = profile, open_profile, "upgrade refused: the charger is connected at a higher security profile");
    (
        StatusCode::CONFLICT,
        "the charger is connected at a higher security profile",
    )
        .into_response()
}
