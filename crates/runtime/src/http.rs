//! HTTP/1.1 listeners with limits, for every axum router a service serves (the REST API, the OCPP
//! upgrade, provider webhooks), and the connection cap of the gRPC listener.
//!
//! axum's `serve` has no knobs, so this is its loop with limits: at most `max_connections` open
//! connections (a TLS handshake in progress counts; a WebSocket keeps its slot until it closes;
//! connections beyond are closed at once, never queued), TLS handshakes bounded by a timeout, and
//! hyper's header read timeout, which also closes idle keep-alive connections. A request timeout
//! and body limits are per router ([`request_timeout`], axum's `DefaultBodyLimit`). Every request
//! carries [`ConnectInfo<Peer>`](axum::extract::ConnectInfo).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to receive a request's whole header (and the most a keep-alive connection idles).
    pub header_read_timeout: Duration,
    /// Connections open at once, TLS handshakes included.
    pub max_connections: usize,
    /// Time to complete a TLS handshake.
    pub tls_handshake_timeout: Duration,
}

impl Limits {
    /// The limits in the settings, with the listener's own connection cap.
    pub fn from_settings(settings: &joule_config::Settings, max_connections: u32) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(settings.http_header_read_timeout_secs),
            max_connections: max_connections as usize,
            tls_handshake_timeout: Duration::from_secs(settings.tls_handshake_timeout_secs),
        }
    }
}

/// Request headers larger than this are answered 431 (hyper's default is about 400 KiB).
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Who is at the other end of a connection: its address, and over TLS the first certificate of
/// the chain the client presented (verified by the acceptor's client verifier).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub client_certificate: Option<CertificateDer<'static>>,
}

/// An answer of `timed_out()` for a request the router does not answer within `timeout`. A
/// WebSocket upgrade counts until its 101, not for the life of the socket.
pub fn request_timeout(router: Router, timeout: Duration, timed_out: fn() -> Response) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            match tokio::time::timeout(timeout, next.run(request)).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::info!(?timeout, "request not answered in time");
                    timed_out()
                }
            }
        },
    ))
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown`, then lets requests in flight
/// finish; upgraded connections are the router's to close.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refused = AtomicU64::new(0);
    let connections = TaskTracker::new();
    loop {
        let (stream, addr) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(listener = name, error = %e, "cannot accept a TCP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Closed at once: a client retries later, and the process keeps its file descriptors.
            let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(listener = name, %addr, refused = n, max = limits.max_connections, "connection refused: too many open connections");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, tls, shutdown) = (app.clone(), tls.clone(), shutdown.clone());
        connections.spawn(async move {
            let Some(acceptor) = tls else {
                let peer = Peer {
                    addr,
                    client_certificate: None,
                };
                let io = Held {
                    io: stream,
                    _slot: slot,
                };
                return serve_connection(io, peer, app, limits, shutdown).await;
            };
            let handshake =
                tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream)).await;
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(listener = name, %addr, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(listener = name, %addr, "TLS handshake timed out");
                    return;
                }
            };
            let client_certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.clone().into_owned());
            let peer = Peer {
                addr,
                client_certificate,
            };
            serve_connection(
                Held {
                    io: tls,
                    _slot: slot,
                },
                peer,
                app,
                limits,
                shutdown,
            )
            .await
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

async fn serve_connection<I>(
    io: I,
    peer: Peer,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = app.map_request(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer.clone()));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    let connection = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A connection with its slot under the listener's cap: the slot is free again when the
/// connection (or the WebSocket it was upgraded to, which owns it) is dropped.
pub struct Held<I> {
    io: I,
    _slot: OwnedSemaphorePermit,
}

impl<I> Held<I> {
    pub fn get_ref(&self) -> &I {
        &self.io
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Held<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Held<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Held<TcpStream> {
    type ConnectInfo = <TcpStream as tonic::transport::server::Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// The gRPC server's incoming connections, at most `max_connections` open at once (more are
/// closed at once).
pub fn capped_incoming(
    listener: TcpListener,
    max_connections: usize,
) -> impl futures::Stream<Item = io::Result<Held<TcpStream>>> {
    let slots = Arc::new(Semaphore::new(max_connections));
    futures::stream::unfold(
        (listener, slots, 0u64),
        move |(listener, slots, mut refused)| async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => return Some((Err(e), (listener, slots, refused))),
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    refused += 1;
                    if refused.is_power_of_two() {
                        tracing::warn!(
                            listener = "grpc",
                            refused,
                            max = max_connections,
                            "connection refused: too many open connections"
                        );
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let held = Held {
                    io: stream,
                    _slot: slot,
                };
                return Some((Ok(held), (listener, slots, refused)));
            }
        },
    )
}
