//! One charger's WebSocket connection: a single task reads frames, handles each CALL to the end
//! (including the durable publish) and writes its answer before reading the next, so a charger's
//! messages are processed in the order it sent them.
//!
//! The same task sends the charger the commands routed to it ([`crate::presence`]): one CALL at a
//! time (OCPP allows one outstanding CALL per direction), the rest queued, each answered to its
//! requester when the charger's CALLRESULT or CALLERROR arrives, or failed on timeout or when the
//! connection closes. Every frame in and out goes to the audit trail (within its byte budget).
//!
//! Limits (ADR 026): messages beyond the connection's rate ([`crate::edge::rate`]) are refused (a CALL
//! with a CallError) and a connection that keeps flooding is closed (1008); a message over
//! `JOULE_OCPP_MAX_FRAME_BYTES` closes the connection (1009); so does silence for
//! `JOULE_OCPP_IDLE_HEARTBEATS` heartbeat intervals.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use chrono::{DateTime, Utc};
use joule_proto::time::to_proto;
use joule_proto::v1::{
    ChargerAlarm, ChargerCommandReply, ChargerCommandResult, ChargerConnected, ChargerDisconnected,
    charger_command_reply,
};
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use crate::commands::{self, FAILURE_DISCONNECTED, FAILURE_REJECTED, FAILURE_TIMEOUT};
use crate::edge::audit::{ChargerFrames, Direction};
use crate::edge::connectors::ChargerConnectors;
use crate::edge::rate::{RateLimit, Verdict};
use crate::edge::server::Gateway;
use crate::ocpp::calls;
use crate::ocpp::context::{ALARM_OFFLINE, Cx};
use crate::ocpp::frame::{self, ErrorCode, Frame};
use crate::ocpp::protocol::OcppVersion;
use crate::presence::{self, CommandJob};
use crate::projections::registry::KnownCharger;
use crate::publish::{EventKind, key_time};

/// A command sent to the charger, waiting for its answer.
struct Pending {
    message_id: String,
    action: &'static str,
    reply: Option<async_nats::Subject>,
    deadline: Instant,
}

/// The connection's state besides the socket.
struct Conn {
    gateway: Arc<Gateway>,
    charger: KnownCharger,
    version: OcppVersion,
    pending: Option<Pending>,
    queued: VecDeque<Box<CommandJob>>,
    connectors: ChargerConnectors,
    frames: ChargerFrames,
}

/// The socket broke while writing.
struct Lost;

/// Serves one charger's connection until it closes.
///
/// This future lives as long as the connection, and an async function's state is as large as its
/// largest await. So every await that does real work (handling a message, sending, delivering a
/// command, presence, connection events, closing) is a boxed future, allocated only while it runs:
/// an idle connection holds just the loop's state (9.0 KiB per connection in all instead of 14.7,
/// BENCHMARKS.md run F).
pub async fn run(
    mut socket: WebSocket,
    gateway: Arc<Gateway>,
    charger: KnownCharger,
    version: OcppVersion,
    security_profile: u8,
) {
    let charge_point = charger.key();
    let cp = charger.charge_point_id.clone();
    // Checked before the upgrade too; this is the check without a race.
    let presence::Registered {
        conn_id,
        mut commands,
        kicked,
    } = match gateway.live.register(&charge_point, security_profile) {
        Ok(registered) => registered,
        Err(downgrade) => {
            return Box::pin(refuse_downgrade(socket, &cp, security_profile, downgrade)).await;
        }
    };
    match Box::pin(presence::claim(
        &gateway.pool,
        &gateway.bus,
        &charge_point,
        &gateway.live.replica_id,
        conn_id,
        security_profile,
    ))
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(downgrade)) => {
            gateway.live.unregister(&charge_point, conn_id);
            return Box::pin(refuse_downgrade(socket, &cp, security_profile, downgrade)).await;
        }
        Err(e) => {
            tracing::error!(charge_point_id = %cp, error = %e, "cannot record presence; commands will not reach this charger");
        }
    }
    tracing::info!(tenant = %charger.tenant, charge_point_id = %cp, ocpp = version.label(), security_profile, "charger connected");
    let connected_at = Utc::now();
    let connected = ChargerConnected {
        charger_id: charger.charger_id.to_string(),
        charge_point_id: cp.to_string(),
        ocpp_version: version.label().into(),
        received_at: Some(to_proto(connected_at)),
        security_profile: security_profile.to_string(),
    };
    let key = format!("{cp}/connected/{}", key_time(connected_at));
    Box::pin(publish_connection_event(
        &gateway,
        &charger,
        EventKind::Connected,
        &key,
        connected_at,
        &connected,
    ))
    .await;

    let mut conn = Conn {
        gateway: gateway.clone(),
        charger: charger.clone(),
        version,
        pending: None,
        queued: VecDeque::new(),
        connectors: ChargerConnectors::default(),
        frames: gateway.frames.charger(charger.tenant.as_str(), cp.as_str()),
    };
    let idle = gateway.idle_timeout();
    let mut last_heard = Instant::now();
    let mut rate = RateLimit::new(gateway.message_rate, last_heard);
    let reason = loop {
        let pending_deadline = conn.pending.as_ref().map(|p| p.deadline);
        let message = tokio::select! {
            _ = gateway.shutdown.cancelled() => {
                Box::pin(close(&mut socket, close_code::AWAY, "gateway shutting down")).await;
                break "shutdown";
            }
            _ = kicked.cancelled() => {
                tracing::info!(charge_point_id = %cp, "replaced by a newer connection; closing");
                Box::pin(close(&mut socket, close_code::POLICY, "replaced by a newer connection")).await;
                break "replaced";
            }
            // A charger that vanished without closing (power cut, mobile network) would otherwise
            // count as connected until TCP gives up; its heartbeats stopping is the earlier sign.
            _ = tokio::time::sleep_until(last_heard + idle) => {
                tracing::info!(charge_point_id = %cp, "no message within the idle limit; closing");
                Box::pin(close(&mut socket, close_code::AWAY, "idle")).await;
                break "idle";
            }
            _ = sleep_until_some(pending_deadline) => {
                if let Some(p) = conn.pending.take() {
                    tracing::info!(charge_point_id = %cp, action = p.action, "command not answered in time");
                    let why = format!("no answer to {} within {:?}", p.action, gateway.command_timeout);
                    Box::pin(presence::reply_failure(&gateway.bus, p.reply, FAILURE_TIMEOUT, why)).await;
                }
                if Box::pin(conn.send_next(&mut socket)).await.is_err() {
                    break "lost";
                }
                continue;
            }
            Some(job) = commands.recv() => {
                conn.queued.push_back(job);
                if Box::pin(conn.send_next(&mut socket)).await.is_err() {
                    break "lost";
                }
                continue;
            }
            message = socket.recv() => message,
        };
        let received_at = Utc::now();
        last_heard = Instant::now();
        let verdict = match &message {
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Verdict::Allow,
            Some(Ok(_)) => rate.take(last_heard),
        };
        if verdict == Verdict::Close {
            tracing::warn!(charge_point_id = %cp, "message rate limit exceeded again and again; closing");
            Box::pin(close(
                &mut socket,
                close_code::POLICY,
                "message rate limit exceeded",
            ))
            .await;
            break "rate_limited";
        }
        let text = match message {
            None | Some(Ok(Message::Close(_))) => break "closed",
            Some(Err(e)) if too_large(&e) => {
                tracing::warn!(charge_point_id = %cp, max_bytes = gateway.max_frame_bytes, "message larger than the limit; closing");
                Box::pin(close(&mut socket, close_code::SIZE, "message too large")).await;
                break "frame_too_large";
            }
            Some(Err(e)) => {
                tracing::info!(charge_point_id = %cp, error = %e, "connection lost");
                break "lost";
            }
            Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
            // OCPP-J is text; a binary frame that holds UTF-8 is read as text all the same.
            Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text,
                Err(_) => {
                    let answer = frame::call_error_named(
                        frame::UNKNOWN_MESSAGE_ID,
                        version.error_code(ErrorCode::FormationViolation),
                        "binary frame is not UTF-8 text",
                    );
                    if Box::pin(send(&gateway, &mut conn.frames, &mut socket, answer))
                        .await
                        .is_err()
                    {
                        break "lost";
                    }
                    continue;
                }
            },
            // Pings are answered by the WebSocket layer.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
        };
        gateway
            .frames
            .record(&mut conn.frames, Direction::In, &text);
        if verdict == Verdict::Refuse {
            // Not handled: a CALL gets a CallError (the charger retries later), anything else is
            // dropped.
            tracing::debug!(charge_point_id = %cp, "message over the rate limit refused");
            if let Ok(Frame::Call(call)) = frame::parse(&text) {
                let answer = frame::call_error_named(
                    &call.id,
                    version.error_code(ErrorCode::GenericError),
                    "message rate limit exceeded; retry later",
                );
                if Box::pin(send(&gateway, &mut conn.frames, &mut socket, answer))
                    .await
                    .is_err()
                {
                    break "lost";
                }
            }
            continue;
        }
        let Some(answer) = Box::pin(conn.receive(&text, received_at)).await else {
            if Box::pin(conn.send_next(&mut socket)).await.is_err() {
                break "lost";
            }
            continue;
        };
        if Box::pin(send(&gateway, &mut conn.frames, &mut socket, answer))
            .await
            .is_err()
        {
            tracing::info!(charge_point_id = %cp, "cannot write answer; connection lost");
            break "lost";
        }
    };

    // Commands still waiting will not be answered on this connection.
    let waiting = conn
        .pending
        .take()
        .map(|p| p.reply)
        .into_iter()
        .chain(conn.queued.drain(..).map(|j| j.reply));
    for reply in waiting {
        Box::pin(presence::reply_failure(
            &gateway.bus,
            reply,
            FAILURE_DISCONNECTED,
            "the connection closed before the charger answered".into(),
        ))
        .await;
    }
    commands.close();
    while let Ok(job) = commands.try_recv() {
        Box::pin(presence::reply_failure(
            &gateway.bus,
            job.reply,
            FAILURE_DISCONNECTED,
            "the connection closed".into(),
        ))
        .await;
    }
    gateway.live.unregister(&charge_point, conn_id);
    if conn.frames.dropped() > 0 {
        tracing::warn!(charge_point_id = %cp, dropped = conn.frames.dropped(), "frames of this connection not recorded in the audit trail (over budget)");
    }
    // At shutdown the replica clears all its presence rows in one statement
    // (`presence::release_replica`): one DELETE per connection would keep every closing connection
    // waiting for the pool, and chargers cannot reconnect until the old process has exited.
    if reason != "shutdown"
        && let Err(e) = Box::pin(presence::release(
            &gateway.pool,
            &charge_point,
            &gateway.live.replica_id,
            conn_id,
        ))
        .await
    {
        tracing::warn!(charge_point_id = %cp, error = %e, "cannot clear presence");
    }

    let disconnected_at = Utc::now();
    let disconnected = ChargerDisconnected {
        charger_id: charger.charger_id.to_string(),
        charge_point_id: cp.to_string(),
        received_at: Some(to_proto(disconnected_at)),
        reason: reason.into(),
    };
    let key = format!("{cp}/disconnected/{}", key_time(disconnected_at));
    Box::pin(publish_connection_event(
        &gateway,
        &charger,
        EventKind::Disconnected,
        &key,
        disconnected_at,
        &disconnected,
    ))
    .await;
    if matches!(reason, "idle" | "lost" | "rate_limited" | "frame_too_large") {
        let alarm = ChargerAlarm {
            charger_id: charger.charger_id.to_string(),
            charge_point_id: cp.to_string(),
            kind: ALARM_OFFLINE.into(),
            raised: true,
            code: reason.into(),
            detail: "connection went silent or broke".into(),
            received_at: Some(to_proto(disconnected_at)),
            ..Default::default()
        };
        let key = format!("{cp}/alarm/offline/{}", key_time(disconnected_at));
        Box::pin(publish_connection_event(
            &gateway,
            &charger,
            EventKind::Alarm,
            &key,
            disconnected_at,
            &alarm,
        ))
        .await;
    }
    tracing::info!(charge_point_id = %cp, reason, "charger disconnected");
}

/// Refuses a connection admitted at a lower security profile than the charger's open one.
async fn refuse_downgrade(
    mut socket: WebSocket,
    cp: &joule_domain::ChargePointId,
    security_profile: u8,
    downgrade: presence::Downgrade,
) {
    tracing::warn!(charge_point_id = %cp, security_profile, open_profile = downgrade.open_profile, "connection refused: the charger is connected at a higher security profile");
    close(
        &mut socket,
        close_code::POLICY,
        "the charger is connected at a higher security profile",
    )
    .await;
}

/// Whether a receive error is a message over the size limit.
fn too_large(error: &axum::Error) -> bool {
    use std::error::Error as _;
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        error.source().and_then(|e| e.downcast_ref::<Error>()),
        Some(Error::Capacity(_))
    )
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

async fn send(
    gateway: &Gateway,
    frames: &mut ChargerFrames,
    socket: &mut WebSocket,
    text: String,
) -> Result<(), Lost> {
    gateway.frames.record(frames, Direction::Out, &text);
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| Lost)
}

impl Conn {
    /// Sends the next queued command if none is outstanding.
    async fn send_next(&mut self, socket: &mut WebSocket) -> Result<(), Lost> {
        while self.pending.is_none() {
            let Some(job) = self.queued.pop_front() else {
                return Ok(());
            };
            let CommandJob { request, reply } = *job;
            let Some(command) = request.command else {
                presence::reply_failure(
                    &self.gateway.bus,
                    reply,
                    commands::FAILURE_INVALID,
                    "command: required".into(),
                )
                .await;
                continue;
            };
            let (action, payload) = match calls::to_call(self.version, &command, Utc::now()) {
                Ok(call) => call,
                Err(e) => {
                    let failure = e.into_failure();
                    presence::reply_failure(
                        &self.gateway.bus,
                        reply,
                        &failure.kind,
                        failure.message,
                    )
                    .await;
                    continue;
                }
            };
            let message_id = uuid::Uuid::new_v4().to_string();
            tracing::info!(charge_point_id = %self.charger.charge_point_id, action, %message_id, "sending command");
            let text = frame::call(&message_id, action, &payload);
            self.pending = Some(Pending {
                message_id,
                action,
                reply,
                deadline: Instant::now() + self.gateway.command_timeout,
            });
            send(&self.gateway, &mut self.frames, socket, text).await?;
        }
        Ok(())
    }

    /// The answer to one received text frame; `None` for the charger's answers to commands.
    async fn receive(&mut self, text: &str, received_at: DateTime<Utc>) -> Option<String> {
        let version = self.version;
        let cp = &self.charger.charge_point_id;
        let call = match frame::parse(text) {
            Ok(Frame::Call(call)) => call,
            Ok(Frame::CallResult { id, payload }) => {
                self.answered(&id, Ok(payload)).await;
                return None;
            }
            Ok(Frame::CallError {
                id,
                code,
                description,
            }) => {
                self.answered(&id, Err(format!("{code}: {description}")))
                    .await;
                return None;
            }
            Err(e) => {
                tracing::warn!(charge_point_id = %cp, error = %e, "unreadable frame");
                return Some(frame::call_error_named(
                    e.id.as_deref().unwrap_or(frame::UNKNOWN_MESSAGE_ID),
                    version.error_code(e.code),
                    &e.description,
                ));
            }
        };
        // Each CALL starts its own trace (no parent): a trace follows one charger message through the system.
        let span = tracing::info_span!(
            parent: None,
            "ocpp.call",
            ocpp.version = version.label(),
            ocpp.action = %call.action,
            ocpp.message_id = %call.id,
            tenant = %self.charger.tenant,
            charge_point_id = %cp,
        );
        let cx = Cx {
            gateway: &self.gateway,
            charger: &self.charger,
            connectors: &self.connectors,
            received_at,
            version,
        };
        let outcome = version.handle(&cx, &call).instrument(span.clone()).await;
        Some(match outcome {
            Ok(payload) => frame::call_result(&call.id, payload),
            Err(failure) => {
                let (code, description) = failure.answer();
                span.in_scope(|| {
                    if failure.is_infrastructure() {
                        tracing::error!(error = %failure, "call failed; answering {}", code.as_str());
                    } else {
                        tracing::warn!(error = %failure, "call refused; answering {}", code.as_str());
                    }
                });
                frame::call_error_named(&call.id, version.error_code(code), &description)
            }
        })
    }

    /// Routes the charger's answer to the command waiting for it.
    async fn answered(&mut self, id: &str, outcome: Result<Value, String>) {
        let Some(pending) = self.pending.take_if(|p| p.message_id == id) else {
            tracing::debug!(charge_point_id = %self.charger.charge_point_id, message_id = %id, "answer to no pending command ignored");
            return;
        };
        let answer = match outcome {
            Ok(payload) => ChargerCommandReply {
                outcome: Some(charger_command_reply::Outcome::Result(
                    ChargerCommandResult {
                        charge_point_id: self.charger.charge_point_id.to_string(),
                        ocpp_version: self.version.label().into(),
                        action: pending.action.into(),
                        status: calls::answer_status(&payload),
                        response_json: payload.to_string(),
                    },
                )),
            },
            Err(error) => {
                presence::reply_failure(&self.gateway.bus, pending.reply, FAILURE_REJECTED, error)
                    .await;
                return;
            }
        };
        presence::reply_with(&self.gateway.bus, pending.reply, &answer).await;
    }
}

/// Connection events are informational: losing one to a broken bus must not keep a charger from
/// working, so failures are logged and the connection carries on.
async fn publish_connection_event<M: joule_proto::Message + joule_proto::EventName>(
    gateway: &Gateway,
    charger: &KnownCharger,
    kind: EventKind,
    key: &str,
    at: DateTime<Utc>,
    message: &M,
) {
    let span = tracing::info_span!(parent: None, "ocpp.connection", tenant = %charger.tenant, charge_point_id = %charger.charge_point_id, event = kind.subject_suffix());
    let published = gateway
        .events
        .publish(
            &charger.tenant,
            &charger.charge_point_id,
            kind,
            key,
            at,
            message,
        )
        .instrument(span)
        .await;
    if let Err(e) = published {
        tracing::error!(charge_point_id = %charger.charge_point_id, error = %e, "cannot publish {}", kind.subject_suffix());
    }
}
