//! The process runtime. It owns what services share inside one process (the PostgreSQL pool, the NATS
//! connection, the gRPC server and its `grpc.health.v1` service) and the one shutdown path: a signal or
//! a failed task cancels every task, which then drain within the grace period.
//!
//! A service is a [`ServiceDef`]: a name and a `start` function that returns its long-lived [`Task`]s
//! and its gRPC routes. `joule run --all` starts every definition in one process; a service's own
//! `main.rs` starts just one.

pub mod http;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use joule_bus::{Bus, Namespace};
use joule_config::Settings;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
pub use tokio_util::sync::CancellationToken;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a service gets from the process.
#[derive(Clone)]
pub struct Context {
    pub settings: Arc<Settings>,
    pub pool: PgPool,
    pub bus: Bus,
    pub shutdown: CancellationToken,
    addrs: Arc<Mutex<HashMap<String, SocketAddr>>>,
    grpc_addr: Option<SocketAddr>,
}

impl Context {
    /// Records the address a listener actually bound (tests bind port 0).
    pub fn report_addr(&self, name: &str, addr: SocketAddr) {
        self.addrs
            .lock()
            .expect("addrs lock")
            .insert(name.to_owned(), addr);
    }

    /// A lazily connecting gRPC channel to `configured`, or to this process's gRPC server when empty.
    pub fn grpc_channel(&self, configured: &str) -> Result<tonic::transport::Channel, BoxError> {
        let url = if configured.is_empty() {
            let addr = self
                .grpc_addr
                .ok_or("no gRPC url configured and no local gRPC server")?;
            format!("http://{addr}")
        } else {
            configured.to_owned()
        };
        Ok(tonic::transport::Endpoint::from_shared(url)?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy())
    }

    /// Binds a TCP listener and records its address under `name`.
    /// Binds a listener with a backlog of [`LISTEN_BACKLOG`]: tokio's `TcpListener::bind` queues only
    /// 1,024 pending connections, and a reconnect storm of many thousand chargers would see its SYNs
    /// dropped and retried seconds later.
    pub async fn bind(&self, name: &str, addr: &str) -> Result<TcpListener, BoxError> {
        let listener = listen(addr)
            .await
            .map_err(|e| format!("cannot bind {name} on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        self.report_addr(name, local);
        tracing::info!(%local, "{name} listening");
        Ok(listener)
    }
}

/// Runs `round` now and then every `period` until shutdown: housekeeping such as purging rows past
/// their retention. A failed round is logged and left to the next one (it is housekeeping: nothing
/// waits for it); a round's `Ok(n)` is the number of items it handled, logged when not zero.
pub async fn every<F, Fut, E>(
    name: &'static str,
    period: Duration,
    shutdown: CancellationToken,
    mut round: F,
) -> Result<(), std::convert::Infallible>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, E>>,
    E: std::fmt::Display,
{
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        match round().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(task = name, items = n, "housekeeping round done"),
            Err(e) => {
                tracing::warn!(task = name, error = %e, "housekeeping round failed; next round retries")
            }
        }
    }
}

/// Pending connections a listener queues (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 8192;

async fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(a).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
}

/// A named long-lived task. If it ends before shutdown, the process shuts down.
pub struct Task {
    pub name: String,
    future: Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>,
}

impl Task {
    pub fn new<F, E>(name: impl Into<String>, future: F) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self {
            name: name.into(),
            future: Box::pin(async move { future.await.map_err(Into::into) }),
        }
    }
}

/// What a started service hands back.
#[derive(Default)]
pub struct Started {
    pub tasks: Vec<Task>,
    /// gRPC services to serve, with their names for the health service.
    pub grpc: Option<(tonic::service::Routes, Vec<&'static str>)>,
}

/// A service that can run in this process.
#[derive(Clone, Copy)]
pub struct ServiceDef {
    pub name: &'static str,
    /// Migrates the service's schema and returns its tasks and gRPC routes.
    pub start: fn(Context) -> BoxFuture<'static, Result<Started, BoxError>>,
}

/// A running set of services.
pub struct Running {
    pub shutdown: CancellationToken,
    addrs: Arc<Mutex<HashMap<String, SocketAddr>>>,
    join: tokio::task::JoinHandle<Result<(), BoxError>>,
}

impl Running {
    /// The bound address of a listener: `api`, `ocpp`, `grpc`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.lock().expect("addrs lock").get(name).copied()
    }

    /// Waits until every task has stopped (after a signal, a failure, or [`Running::stop`]).
    pub async fn wait(self) -> Result<(), BoxError> {
        self.join
            .await
            .map_err(|e| format!("runtime panicked: {e}"))?
    }

    pub async fn stop(self) -> Result<(), BoxError> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// Connects, migrates and starts `services`; returns once they are started.
pub async fn spawn(settings: Settings, services: &[ServiceDef]) -> Result<Running, BoxError> {
    let namespace = Namespace::new(&settings.namespace)?;
    let pool =
        joule_store::connect(&settings.database_url, settings.database_max_connections).await?;
    let bus = Bus::connect(&settings.nats_url, namespace).await?;
    bus.ensure_streams().await?;

    let shutdown = CancellationToken::new();
    let addrs = Arc::new(Mutex::new(HashMap::new()));
    let grpc_listener = TcpListener::bind(&settings.grpc_addr)
        .await
        .map_err(|e| format!("cannot bind gRPC on {}: {e}", settings.grpc_addr))?;
    let grpc_addr = grpc_listener.local_addr()?;
    addrs
        .lock()
        .expect("addrs lock")
        .insert("grpc".to_owned(), grpc_addr);

    let context = Context {
        settings: Arc::new(settings),
        pool,
        bus,
        shutdown: shutdown.clone(),
        addrs: addrs.clone(),
        grpc_addr: Some(grpc_addr),
    };

    let mut tasks = Vec::new();
    let mut router = axum::Router::new();
    let mut grpc_names = Vec::new();
    for service in services {
        let started = (service.start)(context.clone())
            .await
            .map_err(|e| format!("starting {}: {e}", service.name))?;
        tasks.extend(started.tasks);
        if let Some((routes, names)) = started.grpc {
            // `Routes::new` gives each service tonic's "unimplemented" fallback, and axum refuses to
            // merge two routers that both have one: drop them, and add one at the end.
            router = router.merge(routes.into_axum_router().reset_fallback());
            grpc_names.extend(names);
        }
        tracing::info!(service = service.name, "service started");
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    for name in &grpc_names {
        health
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let routes = tonic::service::Routes::from(
        router.merge(tonic::service::Routes::default().into_axum_router()),
    )
    .add_service(health_service);
    let grpc_shutdown = shutdown.clone();
    tracing::info!(%grpc_addr, "gRPC listening");
    // Limits (README "Limits"): a call timeout, a cap on connections, keep-alive pings that close
    // connections whose peer went silent, and bounded headers and streams per connection. tonic
    // keeps its 4 MiB limit on a decoded message.
    let grpc_timeout = Duration::from_secs(context.settings.grpc_request_timeout_secs);
    let grpc_max_connections = context.settings.grpc_max_connections as usize;
    tasks.push(Task::new("grpc", async move {
        tonic::transport::Server::builder()
            .timeout(grpc_timeout)
            .http2_keepalive_interval(Some(GRPC_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(GRPC_KEEPALIVE_TIMEOUT))
            .http2_max_header_list_size(GRPC_MAX_HEADER_BYTES)
            .max_concurrent_streams(GRPC_MAX_STREAMS)
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                http::capped_incoming(grpc_listener, grpc_max_connections),
                grpc_shutdown.cancelled_owned(),
            )
            .await
    }));

    let grace = Duration::from_secs(context.settings.shutdown_grace_secs);
    let join = tokio::spawn(supervise(tasks, shutdown.clone(), grace));
    Ok(Running {
        shutdown,
        addrs,
        join,
    })
}

const GRPC_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const GRPC_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
const GRPC_MAX_HEADER_BYTES: u32 = 16 * 1024;
const GRPC_MAX_STREAMS: u32 = 256;

async fn supervise(
    tasks: Vec<Task>,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<(), BoxError> {
    let mut set = JoinSet::new();
    for task in tasks {
        let name = task.name;
        let future = task.future;
        set.spawn(async move { (name, future.await) });
    }
    let mut failure: Option<String> = None;
    let mut record = |joined: Result<(String, Result<(), BoxError>), tokio::task::JoinError>,
                      shutdown: &CancellationToken| {
        let msg = match joined {
            Ok((name, Ok(()))) if shutdown.is_cancelled() => {
                tracing::debug!(task = %name, "task stopped");
                return;
            }
            Ok((name, Ok(()))) => format!("task {name} ended unexpectedly"),
            Ok((name, Err(e))) => format!("task {name} failed: {e}"),
            Err(e) => format!("task panicked: {e}"),
        };
        tracing::error!("{msg}");
        failure.get_or_insert(msg);
        shutdown.cancel();
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        Some(joined) = set.join_next() => record(joined, &shutdown),
    }
    shutdown.cancel();
    let drain = async {
        while let Some(joined) = set.join_next().await {
            record(joined, &shutdown);
        }
    };
    if tokio::time::timeout(grace, drain).await.is_err() {
        tracing::warn!(?grace, "tasks did not drain in time; aborting them");
        set.abort_all();
    }
    match failure {
        Some(msg) => Err(msg.into()),
        None => Ok(()),
    }
}

/// Runs `services` until SIGINT/SIGTERM or a task fails. For `main`.
pub async fn run(settings: Settings, services: &[ServiceDef]) -> Result<(), BoxError> {
    let running = spawn(settings, services).await?;
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        shutdown.cancel();
    });
    running.wait().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `main` for a service's own binary: loads settings, then [`main_with`].
pub fn main(process_name: &str, services: &[ServiceDef]) -> std::process::ExitCode {
    match Settings::load(None) {
        Ok(settings) => main_with(settings, process_name, services),
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Installs telemetry, runs `services` until a signal or a failure, and maps the outcome to an exit code.
pub fn main_with(
    settings: Settings,
    process_name: &str,
    services: &[ServiceDef],
) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let format = if settings.log_format == "json" {
            joule_telemetry::LogFormat::Json
        } else {
            joule_telemetry::LogFormat::Text
        };
        let _telemetry =
            match joule_telemetry::init(process_name, Some(&settings.otlp_endpoint), format) {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("telemetry: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
        match run(settings, services).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "exiting after failure");
                std::process::ExitCode::FAILURE
            }
        }
    })
}
