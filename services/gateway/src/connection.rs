//! One charger's WebSocket connection: a single task reads frames, handles each CALL to the end
//! (including the durable publish) and writes its answer before reading the next, so a charger's
//! messages are processed in the order it sent them.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use chrono::{DateTime, Utc};
use joule_proto::time::to_proto;
use joule_proto::v1::{ChargerConnected, ChargerDisconnected};
use tracing::Instrument;

use crate::frame::{self, ErrorCode, Frame};
use crate::protocol::OcppVersion;
use crate::publish::{EventKind, key_time};
use crate::registry::KnownCharger;
use crate::server::Gateway;

pub async fn run(
    mut socket: WebSocket,
    gateway: Arc<Gateway>,
    charger: KnownCharger,
    version: OcppVersion,
) {
    let cp = charger.charge_point_id.clone();
    tracing::info!(charge_point_id = %cp, ocpp = version.label(), "charger connected");
    let connected_at = Utc::now();
    let connected = ChargerConnected {
        charger_id: charger.charger_id.to_string(),
        charge_point_id: cp.to_string(),
        ocpp_version: version.label().into(),
        received_at: Some(to_proto(connected_at)),
    };
    let key = format!("{cp}/connected/{}", key_time(connected_at));
    publish_connection_event(
        &gateway,
        &charger,
        EventKind::Connected,
        &key,
        connected_at,
        &connected,
    )
    .await;

    loop {
        let message = tokio::select! {
            _ = gateway.shutdown.cancelled() => {
                let close = CloseFrame { code: close_code::AWAY, reason: "gateway shutting down".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            // A charger that vanished without closing (power cut, mobile network) would otherwise
            // count as connected until TCP gives up; its heartbeats stopping is the earlier sign.
            _ = tokio::time::sleep(gateway.idle_timeout()) => {
                tracing::info!(charge_point_id = %cp, "no message within the idle limit; closing");
                let close = CloseFrame { code: close_code::AWAY, reason: "idle".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            message = socket.recv() => message,
        };
        let received_at = Utc::now();
        let answer = match message {
            None | Some(Ok(Message::Close(_))) => break,
            Some(Err(e)) => {
                tracing::info!(charge_point_id = %cp, error = %e, "connection lost");
                break;
            }
            Some(Ok(Message::Text(text))) => {
                answer(&gateway, &charger, version, text.as_str(), received_at).await
            }
            // OCPP-J is text; a binary frame that holds UTF-8 is read as text all the same.
            Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                Ok(text) => answer(&gateway, &charger, version, text, received_at).await,
                Err(_) => Some(frame::call_error(
                    frame::UNKNOWN_MESSAGE_ID,
                    ErrorCode::FormationViolation,
                    "binary frame is not UTF-8 text",
                )),
            },
            // Pings are answered by the WebSocket layer.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
        };
        let Some(answer) = answer else { continue };
        if let Err(e) = socket.send(Message::Text(answer.into())).await {
            tracing::info!(charge_point_id = %cp, error = %e, "cannot write answer; connection lost");
            break;
        }
    }

    let disconnected_at = Utc::now();
    let disconnected = ChargerDisconnected {
        charger_id: charger.charger_id.to_string(),
        charge_point_id: cp.to_string(),
        received_at: Some(to_proto(disconnected_at)),
    };
    let key = format!("{cp}/disconnected/{}", key_time(disconnected_at));
    publish_connection_event(
        &gateway,
        &charger,
        EventKind::Disconnected,
        &key,
        disconnected_at,
        &disconnected,
    )
    .await;
    tracing::info!(charge_point_id = %cp, "charger disconnected");
}

/// The answer to one received text frame; `None` for answers from the charger to the gateway's calls.
async fn answer(
    gateway: &Gateway,
    charger: &KnownCharger,
    version: OcppVersion,
    text: &str,
    received_at: DateTime<Utc>,
) -> Option<String> {
    let call = match frame::parse(text) {
        Ok(Frame::Call(call)) => call,
        Ok(Frame::CallResult { id, .. } | Frame::CallError { id, .. }) => {
            // The gateway sends no CALLs yet, so nothing waits for these.
            tracing::debug!(charge_point_id = %charger.charge_point_id, message_id = %id, "unsolicited answer ignored");
            return None;
        }
        Err(e) => {
            tracing::warn!(charge_point_id = %charger.charge_point_id, error = %e, "unreadable frame");
            return Some(e.to_call_error());
        }
    };
    // Each CALL starts its own trace (no parent): a trace follows one charger message through the system.
    let span = tracing::info_span!(
        parent: None,
        "ocpp.call",
        ocpp.version = version.label(),
        ocpp.action = %call.action,
        ocpp.message_id = %call.id,
        charge_point_id = %charger.charge_point_id,
    );
    let outcome = version
        .handle(gateway, charger, &call, received_at)
        .instrument(span.clone())
        .await;
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
            frame::call_error(&call.id, code, &description)
        }
    })
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
    let span = tracing::info_span!(parent: None, "ocpp.connection", charge_point_id = %charger.charge_point_id, event = kind.subject_suffix());
    let published = gateway
        .events
        .publish(&charger.charge_point_id, kind, key, at, message)
        .instrument(span)
        .await;
    if let Err(e) = published {
        tracing::error!(charge_point_id = %charger.charge_point_id, error = %e, "cannot publish {}", kind.subject_suffix());
    }
}
