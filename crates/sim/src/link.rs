//! One simulated charger's WebSocket: opened from a chosen loopback source address with small
//! buffers (thousands live in one process), CALLs timed from send to answer, and CALLs from the
//! gateway answered while waiting.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::ocpp::{self, Action, Incoming, Version};
use crate::stats::Recorder;

/// Read buffer per connection. OCPP frames are small; a larger one would cost this much resident
/// memory per charger, because tungstenite zero-fills it on the first read.
const READ_BUFFER: usize = 2 * 1024;
/// Largest frame accepted from the gateway.
const MAX_MESSAGE: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the gateway refused the upgrade with HTTP {0}")]
    Refused(u16),
    #[error("the gateway chose subprotocol {chosen:?}, not {offered}")]
    Subprotocol {
        offered: &'static str,
        chosen: Option<String>,
    },
    #[error("tcp: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: {0}")]
    WebSocket(tungstenite::Error),
    #[error("no connection within {0:?}")]
    Timeout(Duration),
}

impl ConnectError {
    /// A short kind for the summary.
    pub fn kind(&self) -> String {
        match self {
            ConnectError::Refused(status) => format!("http {status}"),
            ConnectError::Subprotocol { .. } => "subprotocol".into(),
            ConnectError::Io(e) => format!("tcp {:?}", e.kind()),
            ConnectError::WebSocket(_) => "websocket".into(),
            ConnectError::Timeout(_) => "timeout".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connection closed")]
    Closed,
    #[error("no answer to {0} in time")]
    Timeout(&'static str),
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EndpointError(String);

/// Where chargers connect: `ws://host:port/path/<charge point id>`, and from which source addresses.
#[derive(Debug, Clone)]
pub struct Endpoint {
    addr: SocketAddr,
    /// `ws://host:port/path` without a trailing slash.
    base: String,
    sources: Vec<IpAddr>,
}

impl Endpoint {
    /// `url` like `ws://127.0.0.1:9000/ocpp`. With `source_addrs > 0` and a loopback gateway,
    /// connections are spread over 127.0.0.2 .. 127.0.0.(1 + source_addrs): one source address
    /// has about 28,000 ephemeral ports, too few for a large fleet.
    pub async fn resolve(url: &str, source_addrs: u8) -> Result<Self, EndpointError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| EndpointError(format!("url {url:?}: {e}")))?;
        match uri.scheme_str() {
            Some("ws") => {}
            Some("wss") => {
                return Err(EndpointError(format!(
                    "url {url:?}: the simulator speaks plain ws:// only"
                )));
            }
            _ => {
                return Err(EndpointError(format!(
                    "url {url:?}: use ws://host:port/path"
                )));
            }
        }
        let host = uri
            .host()
            .ok_or_else(|| EndpointError(format!("url {url:?} has no host")))?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| EndpointError(format!("url {url:?}: cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| EndpointError(format!("url {url:?}: {host} has no address")))?;
        let sources = if source_addrs > 0 && addr.ip().is_loopback() && addr.is_ipv4() {
            (0..source_addrs)
                .map(|k| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + k.min(253))))
                .collect()
        } else {
            Vec::new()
        };
        let path = uri.path().trim_end_matches('/');
        Ok(Self {
            addr,
            base: format!("ws://{host}:{port}{path}"),
            sources,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Opens `charge_point_id`'s connection; `slot` picks the source address.
    pub async fn connect(
        &self,
        charge_point_id: &str,
        version: Version,
        slot: u64,
    ) -> Result<Link, ConnectError> {
        let socket = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if !self.sources.is_empty() {
            let source = self.sources[(slot % self.sources.len() as u64) as usize];
            socket.bind(SocketAddr::new(source, 0))?;
        }
        let stream = socket.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let mut request = format!("{}/{charge_point_id}", self.base)
            .into_client_request()
            .map_err(ConnectError::WebSocket)?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            version
                .subprotocol()
                .parse()
                .expect("subprotocol is a valid header value"),
        );
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_write_buffer_size(MAX_MESSAGE)
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let (ws, response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Http(response) => {
                        ConnectError::Refused(response.status().as_u16())
                    }
                    other => ConnectError::WebSocket(other),
                })?;
        let chosen = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        if chosen != Some(version.subprotocol()) {
            return Err(ConnectError::Subprotocol {
                offered: version.subprotocol(),
                chosen: chosen.map(str::to_owned),
            });
        }
        Ok(Link {
            ws,
            version,
            next_id: 1,
        })
    }
}

/// What the gateway answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Result(Value),
    Error { code: String, description: String },
}

/// An open connection of one charger.
pub struct Link {
    ws: WebSocketStream<TcpStream>,
    version: Version,
    next_id: u64,
}

impl Link {
    pub fn version(&self) -> Version {
        self.version
    }

    /// Sends a CALL and waits up to `timeout` for its answer, recording both. CALLs from the gateway
    /// that arrive meanwhile are answered; stale answers (to an earlier, timed-out CALL) are skipped.
    pub async fn call(
        &mut self,
        recorder: &Recorder,
        action: Action,
        payload: &Value,
        timeout: Duration,
    ) -> Result<Answer, LinkError> {
        let id = self.next_id.to_string();
        self.next_id += 1;
        let frame = ocpp::call_frame(&id, action.wire_name(), payload);
        recorder.sent(action);
        let steady = recorder.in_steady_phase();
        let sent_at = Instant::now();
        self.ws.send(Message::text(frame)).await?;
        let deadline = sent_at + timeout;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => {
                    recorder.timeout(action);
                    return Err(LinkError::Timeout(action.label()));
                }
                Ok(None) => return Err(LinkError::Closed),
                Ok(Some(message)) => message?,
            };
            let Some(incoming) = self.incoming(recorder, message).await? else {
                continue;
            };
            match incoming {
                Incoming::Result {
                    id: answered,
                    payload,
                } if answered == id => {
                    recorder.answered(action, sent_at.elapsed(), steady);
                    return Ok(Answer::Result(payload));
                }
                Incoming::Error {
                    id: answered,
                    code,
                    description,
                } if answered == id => {
                    recorder.call_error(action, &code, sent_at.elapsed(), steady);
                    return Ok(Answer::Error { code, description });
                }
                _ => {}
            }
        }
    }

    /// Serves the connection (answers the gateway's CALLs, WebSocket pings) until `until` or until
    /// `stop` is cancelled. `Err` when the connection is lost before.
    pub async fn serve_until(
        &mut self,
        recorder: &Recorder,
        until: Instant,
        stop: &CancellationToken,
    ) -> Result<(), LinkError> {
        loop {
            let message = tokio::select! {
                _ = tokio::time::sleep_until(until) => return Ok(()),
                _ = stop.cancelled() => return Ok(()),
                message = self.ws.next() => match message {
                    None => return Err(LinkError::Closed),
                    Some(message) => message?,
                },
            };
            // Answers arriving here belong to nothing: a late answer to a timed-out CALL.
            self.incoming(recorder, message).await?;
        }
    }

    /// Handles one received WebSocket message: CALLs from the gateway are answered here, answers
    /// are returned to the caller.
    async fn incoming(
        &mut self,
        recorder: &Recorder,
        message: Message,
    ) -> Result<Option<Incoming>, LinkError> {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Err(LinkError::Closed),
            // Pings are answered by tungstenite on the next read or write.
            _ => return Ok(None),
        };
        match ocpp::parse_incoming(text.as_str()) {
            Ok(Incoming::Call {
                id,
                action,
                payload: _,
            }) => {
                let reply = match ocpp::answer_command(self.version, &action) {
                    Ok(payload) => ocpp::call_result_frame(&id, &payload),
                    Err(code) => {
                        ocpp::call_error_frame(&id, code, "not supported by the simulator")
                    }
                };
                recorder
                    .server_calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.ws.send(Message::text(reply)).await?;
                Ok(None)
            }
            Ok(answer) => Ok(Some(answer)),
            Err(e) => {
                tracing::debug!(error = %e, "unreadable frame from the gateway");
                Ok(None)
            }
        }
    }

    /// Closes the connection politely; errors are irrelevant at this point.
    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}
