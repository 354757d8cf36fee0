//! The process runtime. It owns what services share inside one process (the PostgreSQL pool, the NATS
//! connection, the gRPC server and its `grpc.health.v1` service), the supervision of the services'
//! tasks, and the one shutdown path: a signal or a task that cannot go on cancels every task, which
//! then drain within the grace period.
//!
//! Supervision: a task that fails, panics or ends before shutdown is logged with its name. A
//! restartable task ([`Task::restartable`], [`Context::consumer`], [`Context::relay`]) is started
//! again after a backoff, unless it failed more than `task_max_restarts` times within
//! `task_restart_window_secs`; a one-shot task ([`Task::new`]: listeners, writers that own a channel)
//! cannot be, and its failure stops the process as before.
//!
//! A service is a [`ServiceDef`]: a name and a `start` function that returns its long-lived [`Task`]s
//! and its gRPC routes. `joule run --all` starts every definition in one process; a service's own
//! `main.rs` starts just one. With mutual TLS, each gRPC service answers only the callers
//! [`authz`] allows (ADR 029).

pub mod authz;
mod local_grpc;
pub use local_grpc::{GrpcChannel, LocalGrpc};
mod dev_certs;
pub mod http;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use dev_certs::{DevCa, DevCertFiles, IssuedCert, write_dev_certs};
use futures::future::BoxFuture;
use joule_bus::{Bus, ConsumerSpec, Handler, Namespace, NatsUser, RetryPolicy};
use joule_config::Settings;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
pub use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a service gets from the process.
#[derive(Clone)]
pub struct Context {
    pub settings: Arc<Settings>,
    pub pool: PgPool,
    pub bus: Bus,
    pub shutdown: CancellationToken,
    addrs: Arc<Mutex<HashMap<String, SocketAddr>>>,
    grpc_tls: Option<Arc<GrpcTls>>,
    /// The services this process runs: an empty gRPC URL may name only these.
    local_services: Arc<[&'static str]>,
    /// This process's gRPC router once every service started: an empty URL calls into it.
    local_grpc: local_grpc::LocalRouter,
}

impl Context {
    /// Records the address a listener actually bound (tests bind port 0).
    pub fn report_addr(&self, name: &str, addr: SocketAddr) {
        self.addrs
            .lock()
            .expect("addrs lock")
            .insert(name.to_owned(), addr);
    }

    /// A gRPC channel to the `service` service: lazily connecting to `configured` (mutual TLS with
    /// `JOULE_GRPC_TLS_*`), or, when `configured` is empty, calling into this process's own gRPC
    /// router (ADR 044), which is an error unless the process runs that service (a pod would
    /// otherwise call itself for a service it does not serve).
    pub fn grpc_channel(&self, service: &str, configured: &str) -> Result<GrpcChannel, BoxError> {
        if !configured.is_empty() {
            return grpc_channel(configured, self.grpc_tls.as_deref()).map(GrpcChannel::Remote);
        }
        if !self.local_services.contains(&service) {
            return Err(format!(
                "JOULE_{}_GRPC_URL is empty but the {service} service does not run in this \
                 process (it runs {}): set it to that service's gRPC address",
                service.to_uppercase(),
                self.local_services.join(", ")
            )
            .into());
        }
        Ok(GrpcChannel::Local(LocalGrpc::new(
            self.local_grpc.clone(),
            self.grpc_tls.as_ref().map(|tls| tls.caller().clone()),
        )))
    }

    /// A restartable task running the durable consumer `spec` through `handler`, named after its
    /// durable name.
    pub fn consumer<H: Handler>(&self, spec: ConsumerSpec, handler: H) -> Task {
        let handler = Arc::new(handler);
        let (bus, shutdown) = (self.bus.clone(), self.shutdown.clone());
        Task::restartable(spec.durable.clone(), move || {
            let (bus, spec, handler, shutdown) =
                (bus.clone(), spec.clone(), handler.clone(), shutdown.clone());
            async move { bus.run_consumer(spec, handler, shutdown).await }
        })
    }

    /// A restartable task running an outbox relay.
    pub fn relay<H: joule_store::OutboxHandler>(
        &self,
        name: &str,
        relay: joule_store::Relay<H>,
    ) -> Task {
        let relay = Arc::new(relay);
        let shutdown = self.shutdown.clone();
        Task::restartable(name, move || relay.clone().run_shared(shutdown.clone()))
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

/// How long a TLS handshake on the gRPC listener, or of a gRPC client, may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The process's mutual-TLS material for gRPC (ADR 028), read from the PEM files named by
/// `JOULE_GRPC_TLS_CERT`, `JOULE_GRPC_TLS_KEY` and `JOULE_GRPC_TLS_CA` (Kubernetes secrets): one
/// certificate serves as this process's server identity and as its client identity, and names the
/// services the process runs (ADR 029).
pub struct GrpcTls {
    identity: Identity,
    ca: Certificate,
    /// The services the certificate names: who this process is when it calls.
    caller: authz::Caller,
}

impl GrpcTls {
    /// The settings' TLS material, or `None` when `grpc_tls_*` are empty (plain h2c).
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, BoxError> {
        if !settings.grpc_tls() {
            return Ok(None);
        }
        let read = |what: &str, path: &str| {
            std::fs::read(path).map_err(|e| format!("cannot read {what} {path}: {e}"))
        };
        let cert = read("JOULE_GRPC_TLS_CERT", &settings.grpc_tls_cert)?;
        let caller = authz::Caller::of_pem(&cert)
            .map_err(|e| format!("JOULE_GRPC_TLS_CERT {}: {e}", settings.grpc_tls_cert))?;
        Ok(Some(Self {
            identity: Identity::from_pem(cert, read("JOULE_GRPC_TLS_KEY", &settings.grpc_tls_key)?),
            ca: Certificate::from_pem(read("JOULE_GRPC_TLS_CA", &settings.grpc_tls_ca)?),
            caller,
        }))
    }

    /// The Joule services this process's certificate names.
    pub fn caller(&self) -> &authz::Caller {
        &self.caller
    }

    /// The listener's configuration: a client certificate signed by the CA is required, so a
    /// caller without one is refused at the handshake.
    fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .timeout(TLS_HANDSHAKE_TIMEOUT)
    }

    /// A client's configuration: presents this process's certificate; the server's must be signed
    /// by the CA and name the URL's host (tonic takes the name from the URL).
    fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .identity(self.identity.clone())
            .ca_certificate(self.ca.clone())
            .timeout(TLS_HANDSHAKE_TIMEOUT)
    }
}

/// A lazily connecting channel to `url`. With `tls`, the channel is mutual TLS and an `http://` URL
/// is dialled as `https://` (a TLS server refuses h2c anyway, and the k8s URLs stay one spelling).
pub fn grpc_channel(
    url: &str,
    tls: Option<&GrpcTls>,
) -> Result<tonic::transport::Channel, BoxError> {
    let url = match (tls, url.strip_prefix("http://")) {
        (Some(_), Some(rest)) => format!("https://{rest}"),
        _ => url.to_owned(),
    };
    let mut endpoint = tonic::transport::Endpoint::from_shared(url)?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.client_config())?;
    }
    Ok(endpoint.connect_lazy())
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

/// A named long-lived task, supervised by the runtime (see the crate docs).
pub struct Task {
    pub name: String,
    run: Run,
}

type TaskFuture = BoxFuture<'static, Result<(), BoxError>>;

enum Run {
    Once(TaskFuture),
    Restartable(Box<dyn FnMut() -> TaskFuture + Send>),
}

impl Task {
    /// A task that runs once: if it fails, panics or ends before shutdown, the process shuts down.
    /// For tasks that own what cannot be made again (a bound listener, a channel's receiver).
    pub fn new<F, E>(name: impl Into<String>, future: F) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self {
            name: name.into(),
            run: Run::Once(Box::pin(async move { future.await.map_err(Into::into) })),
        }
    }

    /// A task the runtime starts again (with `start`) after it failed, panicked or ended before
    /// shutdown, within the restart limits.
    pub fn restartable<S, F, E>(name: impl Into<String>, mut start: S) -> Self
    where
        S: FnMut() -> F + Send + 'static,
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self {
            name: name.into(),
            run: Run::Restartable(Box::new(move || {
                let future = start();
                Box::pin(async move { future.await.map_err(Into::into) })
            })),
        }
    }
}

/// When the runtime gives up restarting a task.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// Restarts allowed within `window`; the next failure stops the process.
    pub max_restarts: u32,
    pub window: Duration,
    /// The wait before the first restart; it doubles with each failure in the window.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl RestartPolicy {
    fn from_settings(settings: &Settings) -> Self {
        Self {
            max_restarts: settings.task_max_restarts,
            window: Duration::from_secs(settings.task_restart_window_secs),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
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
    let grpc_tls = GrpcTls::from_settings(&settings)?.map(Arc::new);
    // Built first so that unusable certificates stop the process before anything starts.
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &grpc_tls {
        server = server
            .tls_config(tls.server_config())
            .map_err(|e| format!("gRPC TLS (JOULE_GRPC_TLS_*): {e}"))?;
        // The client side parses the same files: check it here too, not at the first call.
        grpc_channel("https://localhost", Some(tls))?;
        let names: Vec<&str> = services.iter().map(|s| s.name).collect();
        authz::check_own_certificate(tls.caller(), &names)?;
    }
    let pool = joule_store::connect(
        settings.database_url.expose(),
        settings.database_max_connections,
    )
    .await?;
    let nats_user = (!settings.nats_user.is_empty()).then(|| NatsUser {
        name: &settings.nats_user,
        password: settings.nats_password.expose(),
    });
    let bus = Bus::connect_as(&settings.nats_url, namespace, nats_user)
        .await?
        .with_retry(RetryPolicy {
            max_attempts: settings.consumer_max_attempts,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(settings.consumer_max_backoff_ms),
        });
    bus.ensure_streams().await?;

    let shutdown = CancellationToken::new();
    let addrs = Arc::new(Mutex::new(HashMap::new()));
    let grpc_listener = TcpListener::bind(&settings.grpc_addr)
        .await
        .map_err(|e| format!("cannot bind gRPC on {}: {e}", settings.grpc_addr))?;
    let grpc_addr = grpc_listener.local_addr()?;
    if grpc_tls.is_none() && !grpc_addr.ip().is_loopback() {
        if !settings.grpc_insecure {
            return Err(format!(
                "gRPC on {grpc_addr} without TLS: any host that reaches it could call every \
                 service. Set JOULE_GRPC_TLS_CERT, JOULE_GRPC_TLS_KEY and JOULE_GRPC_TLS_CA \
                 (`joule certs dev` makes development ones), bind a loopback address, or set \
                 JOULE_GRPC_INSECURE=true"
            )
            .into());
        }
        tracing::warn!(
            %grpc_addr,
            "INSECURE: gRPC listens on a non-loopback address without TLS (JOULE_GRPC_INSECURE=true); \
             anyone who reaches it can call every service"
        );
    }
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
        grpc_tls: grpc_tls.clone(),
        local_services: services.iter().map(|s| s.name).collect(),
        local_grpc: Default::default(),
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
            authz::check_served(service.name, &names)?;
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
    // In-process calls go straight in; `LocalGrpc` authorises them as this process.
    let _ = context.local_grpc.set(routes.clone().into_axum_router());
    // Per-caller authorisation needs the caller's certificate: only with TLS.
    let routes = match &grpc_tls {
        Some(_) => tonic::service::Routes::from(
            routes
                .into_axum_router()
                .layer(axum::middleware::from_fn(authz::authorize)),
        ),
        None => routes,
    };
    let grpc_shutdown = shutdown.clone();
    tracing::info!(%grpc_addr, mtls = grpc_tls.is_some(), "gRPC listening");
    // Limits (README "Transport limits"): a call timeout, a cap on connections, keep-alive pings that close
    // connections whose peer went silent, and bounded headers and streams per connection. tonic
    // keeps its 4 MiB limit on a decoded message.
    let grpc_timeout = Duration::from_secs(context.settings.grpc_request_timeout_secs);
    let grpc_max_connections = context.settings.grpc_max_connections as usize;
    tasks.push(Task::new("grpc", async move {
        server
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
    let policy = RestartPolicy::from_settings(&context.settings);
    let join = tokio::spawn(supervise(tasks, shutdown.clone(), grace, policy));
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
    policy: RestartPolicy,
) -> Result<(), BoxError> {
    let mut set = JoinSet::new();
    for task in tasks {
        set.spawn(keep_running(task, shutdown.clone(), policy));
    }
    let mut failure: Option<String> = None;
    let mut record = |joined: Result<Result<(), String>, tokio::task::JoinError>,
                      shutdown: &CancellationToken| {
        let msg = match joined {
            Ok(Ok(())) => return,
            Ok(Err(msg)) => msg,
            Err(e) => format!("a task supervisor stopped: {e}"),
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

/// Runs `task` until shutdown, restarting a restartable one within `policy`. `Err` when the task
/// cannot go on, which stops the process.
async fn keep_running(
    task: Task,
    shutdown: CancellationToken,
    policy: RestartPolicy,
) -> Result<(), String> {
    let name = task.name;
    let mut start = match task.run {
        Run::Once(future) => return run_once(&name, future, &shutdown).await,
        Run::Restartable(start) => start,
    };
    let mut failures: VecDeque<tokio::time::Instant> = VecDeque::new();
    loop {
        let error = match run_once(&name, start(), &shutdown).await {
            Ok(()) => return Ok(()),
            Err(error) if shutdown.is_cancelled() => return Err(error),
            Err(error) => error,
        };
        let now = tokio::time::Instant::now();
        failures.push_back(now);
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            failures.pop_front();
        }
        let recent = u32::try_from(failures.len()).unwrap_or(u32::MAX);
        if recent > policy.max_restarts {
            return Err(format!(
                "{error}; it failed {recent} times within {:?}, giving up",
                policy.window
            ));
        }
        let backoff = policy
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(recent.saturating_sub(1)))
            .min(policy.max_backoff);
        tracing::error!(task = %name, %error, failures = recent, restart_in = ?backoff, "task failed; restarting it");
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(backoff) => {}
        }
        tracing::info!(task = %name, "task restarted");
    }
}

/// Runs one incarnation of a task on its own tokio task, so that a panic is caught and named. `Ok`
/// only when it ended after shutdown was requested.
async fn run_once(
    name: &str,
    future: TaskFuture,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    /// Aborts the spawned task when the supervisor is dropped (aborted after the drain deadline).
    struct AbortOnDrop(tokio::task::JoinHandle<Result<(), BoxError>>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut handle = AbortOnDrop(tokio::spawn(future));
    match (&mut handle.0).await {
        Ok(Ok(())) if shutdown.is_cancelled() => {
            tracing::debug!(task = %name, "task stopped");
            Ok(())
        }
        Ok(Ok(())) => Err(format!("task {name} ended unexpectedly")),
        Ok(Err(e)) => Err(format!("task {name} failed: {e}")),
        Err(e) if e.is_panic() => Err(format!(
            "task {name} panicked: {}",
            joule_bus::panic_text(e.into_panic().as_ref())
        )),
        Err(e) => Err(format!("task {name} was cancelled: {e}")),
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
