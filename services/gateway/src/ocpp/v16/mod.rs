//! OCPP 1.6J: the messages a charge point sends, read leniently, and what the gateway does with each.
//!
//! Transaction messages (StartTransaction, MeterValues, StopTransaction) are never refused, neither
//! for what they say (unknown token, unknown transaction, `transactionId = -1`) nor for fields that
//! cannot be read: what is readable is recorded, published and acknowledged, and each problem becomes
//! a flag that sessions puts on the session for review. Every published event is durable before the
//! answer leaves.
//!
//! A CALL is read into a [`Request`]; the event a transaction message publishes is a pure function
//! of it, its [`Origin`](crate::ocpp::context::Origin) and what the handler looked up ([`started`], [`meter_sampled`],
//! [`stopped`]), so that it is the same with or without a connection.

mod events;
mod messages;
#[cfg(test)]
mod tests;

pub use events::{
    INVALID_TRANSACTION_ID, UNKNOWN_TRANSACTION, issued_id, meter_sampled, start_key_meter,
    started, stopped,
};
pub use messages::{
    Authorize, BootNotification, MeterValues, StartTransaction, StatusNotification,
    StopTransaction, samples,
};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::links::hold::HoldOutcome;
use crate::ocpp::context::{ConnectorStatus, Cx};
use crate::ocpp::error::CallFailure;
use crate::ocpp::frame::Call;
use crate::ocpp::payload::ocpp_time;
use crate::transactions::StartKey;

/// The WebSocket subprotocol of OCPP 1.6J.
pub const SUBPROTOCOL: &str = "ocpp1.6";

/// A CALL of OCPP 1.6J read into the message its action names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    BootNotification(BootNotification),
    Heartbeat,
    StatusNotification(StatusNotification),
    Authorize(Authorize),
    StartTransaction(StartTransaction),
    MeterValues(MeterValues),
    StopTransaction(StopTransaction),
    /// Vendor extensions: the gateway knows none, which DataTransfer has an answer for.
    DataTransfer,
    /// DiagnosticsStatusNotification and FirmwareStatusNotification: informational only.
    Informational,
}

impl Request {
    /// Reads a CALL's payload as its action says: a payload that does not fit is a
    /// [`CallFailure::Payload`] (for a transaction message only one that is not an object:
    /// [`StartTransaction::parse`]), an unknown action [`CallFailure::NotImplemented`].
    pub fn parse(call: &Call, received_at: DateTime<Utc>) -> Result<Self, CallFailure> {
        let payload = &call.payload;
        Ok(match call.action.as_str() {
            "BootNotification" => Self::BootNotification(BootNotification::parse(payload)?),
            "Heartbeat" => Self::Heartbeat,
            "StatusNotification" => Self::StatusNotification(StatusNotification::parse(payload)?),
            "Authorize" => Self::Authorize(Authorize::parse(payload)?),
            "StartTransaction" => {
                Self::StartTransaction(StartTransaction::parse(payload, received_at)?)
            }
            "MeterValues" => Self::MeterValues(MeterValues::parse(payload, received_at)?),
            "StopTransaction" => {
                Self::StopTransaction(StopTransaction::parse(payload, received_at)?)
            }
            "DataTransfer" => Self::DataTransfer,
            "DiagnosticsStatusNotification" | "FirmwareStatusNotification" => Self::Informational,
            other => return Err(CallFailure::NotImplemented(other.to_owned())),
        })
    }
}

/// Handles one CALL from a connected charger and returns the CALLRESULT payload.
pub async fn handle(cx: &Cx<'_>, call: &Call) -> Result<Value, CallFailure> {
    match Request::parse(call, cx.received_at)? {
        Request::BootNotification(req) => boot(cx, req).await,
        Request::Heartbeat => Ok(json!({ "currentTime": ocpp_time(cx.received_at) })),
        Request::StatusNotification(req) => status(cx, req).await,
        Request::Authorize(req) => authorize(cx, req).await,
        Request::StartTransaction(req) => start(cx, req).await,
        Request::MeterValues(req) => meter_values(cx, req).await,
        Request::StopTransaction(req) => stop(cx, req).await,
        Request::DataTransfer => Ok(json!({ "status": "UnknownVendorId" })),
        // Kept in the frame audit trail and acknowledged so that chargers do not retry them.
        Request::Informational => Ok(json!({})),
    }
}

fn id_tag_info(status: &str) -> Value {
    json!({ "status": status })
}

async fn boot(cx: &Cx<'_>, req: BootNotification) -> Result<Value, CallFailure> {
    cx.booted(
        req.vendor,
        req.model,
        req.serial_number,
        req.firmware_version,
    )
    .await
}

async fn status(cx: &Cx<'_>, req: StatusNotification) -> Result<Value, CallFailure> {
    let detail = [req.info, req.vendor_error_code]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    cx.connector_status(ConnectorStatus {
        connector_id: req.connector_id,
        evse_id: 0,
        status: req.status,
        error_code: req.error_code,
        charger_time: req.timestamp,
        detail,
    })
    .await?;
    Ok(json!({}))
}

async fn authorize(cx: &Cx<'_>, req: Authorize) -> Result<Value, CallFailure> {
    let known = cx.find_token(&req.id_tag).await?;
    let status = if known.is_some() {
        "Accepted"
    } else {
        "Invalid"
    };
    tracing::info!(id_tag = %req.id_tag, status, "authorize");
    Ok(json!({ "idTagInfo": id_tag_info(status) }))
}

async fn start(cx: &Cx<'_>, req: StartTransaction) -> Result<Value, CallFailure> {
    let token = cx.find_token(&req.id_tag).await?;
    let key = StartKey {
        tenant: &cx.charger.tenant,
        charge_point_id: &cx.charger.charge_point_id,
        connector_id: req.connector_id,
        id_tag: &req.id_tag,
        meter_start_wh: start_key_meter(&req),
        charger_time: req.timestamp,
    };
    let transaction_id = cx
        .gateway
        .transaction_ids
        .id_for(&key, cx.received_at)
        .await?;
    let event = started(&cx.origin(), req, transaction_id, token.as_ref());
    // The hold is asked for while the event is made durable: neither waits for the other.
    let transaction_text = transaction_id.to_string();
    let hold = cx.payment_hold(token.as_ref(), &transaction_text);
    let (published, hold) = tokio::join!(cx.publish_event(&event), hold);
    published?;
    // An unknown token still gets its transaction: the charger may already be charging, and
    // refusing would lose the energy to billing. The status tells the charger to stop; so does
    // Blocked when the card declined the hold.
    let status = match (&token, hold) {
        (None, _) => "Invalid",
        (Some(_), HoldOutcome::Declined) => "Blocked",
        (Some(_), HoldOutcome::Proceed) => "Accepted",
    };
    tracing::info!(transaction_id, id_tag = %event.message.id_tag, status, "transaction started");
    Ok(json!({ "transactionId": transaction_id, "idTagInfo": id_tag_info(status) }))
}

async fn meter_values(cx: &Cx<'_>, req: MeterValues) -> Result<Value, CallFailure> {
    cx.publish_event(&meter_sampled(&cx.origin(), req)).await?;
    Ok(json!({}))
}

async fn stop(cx: &Cx<'_>, req: StopTransaction) -> Result<Value, CallFailure> {
    let issued = match req.transaction_id.as_deref().and_then(issued_id) {
        Some(id) => cx.gateway.transaction_ids.was_issued(id).await?,
        None => false,
    };
    let token = match &req.id_tag {
        Some(tag) => cx.find_token(tag).await?,
        None => None,
    };
    // The stop is recorded whatever the token; the idTagInfo only updates the charger's cache.
    let answer = match req.id_tag {
        Some(_) => json!({ "idTagInfo": id_tag_info("Accepted") }),
        None => json!({}),
    };
    let event = stopped(&cx.origin(), req, issued, token.as_ref());
    cx.publish_event(&event).await?;
    let m = &event.message;
    tracing::info!(transaction_id = %m.transaction_id, meter_stop_wh = %m.meter_stop_wh, "transaction stopped");
    Ok(answer)
}
