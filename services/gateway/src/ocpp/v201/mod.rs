//! OCPP 2.0.1: the messages a charging station sends, read leniently, mapped onto the same
//! protocol-neutral charger events as 1.6, so that sessions needs to know no protocol.
//!
//! TransactionEvent: `Started` becomes `TransactionStarted` (meter start from the Transaction.Begin
//! sample), `Updated` becomes `MeterValuesSampled`, `Ended` becomes `TransactionStopped` (meter stop
//! from the Transaction.End sample); each carries the charger's `transactionId`, `seqNo` and
//! `offline` flag. An event is identified by (transactionId, seqNo): a repeat is stored once.
//! TransactionEvents are never refused; unreadable fields become flags. What they publish is a pure
//! function of the parsed [`Request`], its [`Origin`](crate::ocpp::context::Origin) and the token looked up
//! ([`transaction_message`], [`meter_sampled`]).
//!
//! The answer carries `idTokenInfo` when the event carries an idToken: `Blocked` for a Started
//! event whose hold payments declined ([`crate::links::hold`]). The Ended answer carries `totalCost` from
//! pricing's estimate when it comes within the short wait ([`crate::links::estimate`]); otherwise it is
//! omitted, which means "cost unknown", not "free". Running costs reach the charger as CostUpdated
//! ([`crate::consumers::costs`]).

mod events;
mod messages;
#[cfg(test)]
mod tests;

pub use events::{TransactionMessage, meter_sampled, transaction_message};
pub use messages::{
    BootNotification, EventType, IdToken, MeterValues, StatusNotification, TransactionEvent,
    samples,
};

use chrono::{DateTime, Utc};
use joule_domain::bounds;
use joule_proto::time::to_proto;
use joule_proto::v1::ChargerAlarm;
use serde_json::{Value, json};

use crate::links::hold::{self, HoldOutcome};
use crate::ocpp::context::{ALARM_CHARGER_EVENT, ConnectorStatus, Cx};
use crate::ocpp::error::CallFailure;
use crate::ocpp::frame::{Call, ErrorCode};
use crate::ocpp::meter;
use crate::ocpp::payload::{Object, Problems, ocpp_time};

/// The WebSocket subprotocol of OCPP 2.0.1.
pub const SUBPROTOCOL: &str = "ocpp2.0.1";

pub const TRANSACTION_BEGIN: &str = "Transaction.Begin";
pub const TRANSACTION_END: &str = "Transaction.End";

/// `eventData` entries one NotifyEvent may carry.
pub const NOTIFY_EVENT_DATA_MAX: usize = 100;

/// A CALL of OCPP 2.0.1 read into the message its action names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    BootNotification(BootNotification),
    Heartbeat,
    StatusNotification(StatusNotification),
    Authorize(IdToken),
    TransactionEvent(TransactionEvent),
    MeterValues(MeterValues),
    /// Read entry by entry as it is handled ([`NOTIFY_EVENT_DATA_MAX`]).
    NotifyEvent(&'a Value),
    DataTransfer,
    /// Notifications kept in the frame audit trail only.
    Informational,
}

impl<'a> Request<'a> {
    /// Reads a CALL's payload as its action says: a payload that does not fit is a
    /// [`CallFailure::Payload`] (for a TransactionEvent only one that is not an object:
    /// [`TransactionEvent::parse`]), an unknown action [`CallFailure::NotImplemented`].
    pub fn parse(call: &'a Call, received_at: DateTime<Utc>) -> Result<Self, CallFailure> {
        let payload = &call.payload;
        Ok(match call.action.as_str() {
            "BootNotification" => Self::BootNotification(BootNotification::parse(payload)?),
            "Heartbeat" => Self::Heartbeat,
            "StatusNotification" => Self::StatusNotification(StatusNotification::parse(payload)?),
            "Authorize" => Self::Authorize(IdToken::parse_in(payload)?),
            "TransactionEvent" => {
                Self::TransactionEvent(TransactionEvent::parse(payload, received_at)?)
            }
            "MeterValues" => Self::MeterValues(MeterValues::parse(payload, received_at)?),
            "NotifyEvent" => Self::NotifyEvent(payload),
            "DataTransfer" => Self::DataTransfer,
            "SecurityEventNotification"
            | "FirmwareStatusNotification"
            | "LogStatusNotification"
            | "NotifyReport"
            | "NotifyMonitoringReport"
            | "NotifyChargingLimit"
            | "ClearedChargingLimit"
            | "ReportChargingProfiles"
            | "ReservationStatusUpdate"
            | "NotifyDisplayMessages"
            | "NotifyCustomerInformation"
            | "PublishFirmwareStatusNotification" => Self::Informational,
            other => return Err(CallFailure::NotImplemented(other.to_owned())),
        })
    }
}

/// Handles one CALL and returns the CALLRESULT payload.
pub async fn handle(cx: &Cx<'_>, call: &Call) -> Result<Value, CallFailure> {
    match Request::parse(call, cx.received_at)? {
        Request::BootNotification(req) => boot(cx, req).await,
        Request::Heartbeat => Ok(json!({ "currentTime": ocpp_time(cx.received_at) })),
        Request::StatusNotification(req) => status(cx, req).await,
        Request::Authorize(token) => authorize(cx, &token).await,
        Request::TransactionEvent(req) => transaction_event(cx, req).await,
        Request::MeterValues(req) => meter_values(cx, req).await,
        Request::NotifyEvent(payload) => notify_event(cx, payload).await,
        Request::DataTransfer => Ok(json!({ "status": "UnknownVendorId" })),
        // Acknowledged so that stations do not retry them.
        Request::Informational => Ok(json!({})),
    }
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
    cx.connector_status(ConnectorStatus {
        connector_id: req.connector_id,
        evse_id: req.evse_id,
        status: req.connector_status,
        error_code: String::new(),
        charger_time: Some(req.timestamp),
        detail: String::new(),
    })
    .await?;
    Ok(json!({}))
}

async fn token_status(cx: &Cx<'_>, token: &IdToken) -> Result<(&'static str, String), CallFailure> {
    let known = cx.find_token(&token.id_token).await?;
    Ok(match known {
        Some(t) => ("Accepted", t.account_id.to_string()),
        None => ("Invalid", String::new()),
    })
}

async fn authorize(cx: &Cx<'_>, token: &IdToken) -> Result<Value, CallFailure> {
    let (status, _) = token_status(cx, token).await?;
    tracing::info!(id_token = %token.id_token, status, "authorize");
    Ok(json!({ "idTokenInfo": { "status": status } }))
}

async fn transaction_event(cx: &Cx<'_>, req: TransactionEvent) -> Result<Value, CallFailure> {
    let known = match &req.id_token {
        Some(token) => cx.find_token(&token.id_token).await?,
        None => None,
    };
    let mut answer_status = req.id_token.as_ref().map(|_| {
        if known.is_some() {
            "Accepted"
        } else {
            "Invalid"
        }
    });
    let mut total_cost = None;
    match transaction_message(&cx.origin(), &req, known.as_ref()) {
        TransactionMessage::Started(event) => {
            // The hold is asked for while the event is made durable ([`crate::links::hold`]).
            let hold = cx.payment_hold(known.as_ref(), &event.message.transaction_id);
            let (published, hold) = tokio::join!(cx.publish_event(&event), hold);
            published?;
            if known.is_some() && hold == HoldOutcome::Declined {
                answer_status = Some("Blocked");
            }
        }
        TransactionMessage::Updated(event) => cx.publish_event(&event).await?,
        TransactionMessage::Ended(event) => {
            let meter_stop_wh =
                meter::register_in_context(&event.message.transaction_data, TRANSACTION_END);
            cx.publish_event(&event).await?;
            let transaction_id = &event.message.transaction_id;
            if let Some(estimates) = &cx.gateway.estimates
                && !transaction_id.is_empty()
            {
                let session = hold::session_id(
                    cx.charger.tenant.as_str(),
                    &cx.charger.charge_point_id,
                    transaction_id,
                );
                // A stop time outside its domain (a clock at 9999) is not priced: the receive
                // time stands in, as it does in sessions.
                let ended_at = bounds::charger_time("timestamp", req.timestamp, cx.received_at)
                    .unwrap_or(cx.received_at);
                total_cost = estimates
                    .total_cost(&cx.charger.tenant, session, ended_at, meter_stop_wh)
                    .await;
            }
        }
    }
    let transaction_id = req.transaction_id.as_deref().unwrap_or_default();
    tracing::info!(%transaction_id, seq_no = ?req.seq_no, event_type = req.event_type.label(), offline = req.offline, trigger = %req.trigger_reason, "transaction event");
    let mut answer = json!({});
    if let Some(status) = answer_status {
        answer["idTokenInfo"] = json!({ "status": status });
    }
    if let Some(total) = total_cost {
        answer["totalCost"] = total;
    }
    Ok(answer)
}

async fn meter_values(cx: &Cx<'_>, req: MeterValues) -> Result<Value, CallFailure> {
    cx.publish_event(&meter_sampled(&cx.origin(), req)).await?;
    Ok(json!({}))
}

/// NotifyEvent: alerting or cleared device events become alarms; the rest stay in the frame audit
/// trail. Unreadable entries are skipped (the message is informational and always acknowledged).
async fn notify_event(cx: &Cx<'_>, payload: &Value) -> Result<Value, CallFailure> {
    let o = Object::root(payload)?;
    let mut problems = Problems::default();
    // Each alerting entry becomes an alarm event: their number is bounded (a CALLERROR beyond).
    let entries = match o.bounded_objects("eventData", NOTIFY_EVENT_DATA_MAX) {
        Err(e) if e.code == ErrorCode::OccurenceConstraintViolation => return Err(e.into()),
        read => problems.take(read).unwrap_or_default(),
    };
    for data in entries {
        let trigger = problems.take(data.string("trigger")).unwrap_or_default();
        let cleared = problems.take_opt(data.opt_bool("cleared")).unwrap_or(false);
        if trigger != "Alerting" && !cleared {
            continue;
        }
        let component = problems.take(data.object("component"));
        let variable = problems.take(data.object("variable"));
        let name = |o: &Option<Object<'_>>| {
            o.as_ref()
                .and_then(|o| o.opt_string("name").ok().flatten())
                .unwrap_or_default()
        };
        let evse = component
            .as_ref()
            .and_then(|c| c.opt_object("evse").ok().flatten());
        let evse_id = evse
            .as_ref()
            .and_then(|e| e.connector_id("id").ok())
            .unwrap_or(0);
        let connector_id = evse
            .as_ref()
            .and_then(|e| e.opt_connector_id("connectorId").ok().flatten())
            .unwrap_or(0);
        let detail = [
            problems.take_opt(data.opt_string("actualValue")),
            problems.take_opt(data.opt_string("techCode")),
            problems.take_opt(data.opt_string("techInfo")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        cx.alarm(ChargerAlarm {
            kind: ALARM_CHARGER_EVENT.into(),
            raised: !cleared,
            connector_id,
            evse_id,
            code: format!("{}.{}", name(&component), name(&variable)),
            detail,
            charger_time: problems.take(data.timestamp("timestamp")).map(to_proto),
            ..Default::default()
        })
        .await?;
    }
    if !problems.is_empty() {
        tracing::warn!(problems = ?problems.flags(), "NotifyEvent partly unreadable");
    }
    Ok(json!({}))
}
