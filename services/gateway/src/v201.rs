//! OCPP 2.0.1: the messages a charging station sends, read leniently, mapped onto the same
//! protocol-neutral charger events as 1.6, so that sessions needs to know no protocol.
//!
//! TransactionEvent: `Started` becomes `TransactionStarted` (meter start from the Transaction.Begin
//! sample), `Updated` becomes `MeterValuesSampled`, `Ended` becomes `TransactionStopped` (meter stop
//! from the Transaction.End sample); each carries the charger's `transactionId`, `seqNo` and
//! `offline` flag. An event is identified by (transactionId, seqNo): a repeat is stored once.
//! TransactionEvents are never refused; unreadable fields become flags. What they publish is a pure
//! function of the parsed [`Request`], its [`Origin`] and the token looked up
//! ([`transaction_message`], [`meter_sampled`]).
//!
//! The answer carries `idTokenInfo` when the event carries an idToken: `Blocked` for a Started
//! event whose hold payments declined ([`crate::hold`]). The Ended answer carries `totalCost` from
//! pricing's estimate when it comes within the short wait ([`crate::estimate`]); otherwise it is
//! omitted, which means "cost unknown", not "free". Running costs reach the charger as CostUpdated
//! ([`crate::cost`]).

use chrono::{DateTime, Utc};
use joule_domain::bounds;
use joule_proto::time::to_proto;
use joule_proto::v1::{
    ChargerAlarm, MeterSample, MeterValuesSampled, SignedMeterValue, TransactionStarted,
    TransactionStopped,
};
use serde_json::{Value, json};

use crate::context::{ALARM_CHARGER_EVENT, ConnectorStatus, Cx, Origin};
use crate::error::CallFailure;
use crate::frame::{Call, ErrorCode};
use crate::hold::{self, HoldOutcome};
use crate::meter::{self, RawSample};
use crate::payload::{Object, PayloadError, Problems};
use crate::publish::{ChargerEvent, EventKind, key_time};
use crate::registry::KnownToken;
use crate::v16::{INVALID_TRANSACTION_ID, ocpp_time};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootNotification {
    pub vendor: String,
    pub model: String,
    pub serial_number: Option<String>,
    pub firmware_version: Option<String>,
}

impl BootNotification {
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let station = Object::root(payload)?.object("chargingStation")?;
        let max = bounds::TEXT_MAX_LEN;
        Ok(Self {
            vendor: station.bounded_string("vendorName", max)?,
            model: station.bounded_string("model", max)?,
            serial_number: station.opt_bounded_string("serialNumber", max)?,
            firmware_version: station.opt_bounded_string("firmwareVersion", max)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNotification {
    pub timestamp: DateTime<Utc>,
    pub connector_status: String,
    pub evse_id: u32,
    pub connector_id: u32,
}

impl StatusNotification {
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        Ok(Self {
            timestamp: o.timestamp("timestamp")?,
            connector_status: o.bounded_string("connectorStatus", bounds::TEXT_MAX_LEN)?,
            evse_id: o.connector_id("evseId")?,
            connector_id: o.connector_id("connectorId")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdToken {
    pub id_token: String,
    pub kind: String,
}

impl IdToken {
    fn read(o: &Object<'_>) -> Result<Self, PayloadError> {
        Ok(Self {
            id_token: o.string("idToken")?,
            kind: o.opt_string("type")?.unwrap_or_default(),
        })
    }

    /// The `idToken` object of a payload (Authorize), its strings within their bounds.
    pub fn parse_in(payload: &Value) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?.object("idToken")?;
        Ok(Self {
            id_token: o.bounded_string("idToken", bounds::IDENTIFIER_MAX_LEN)?,
            kind: o
                .opt_bounded_string("type", bounds::TEXT_MAX_LEN)?
                .unwrap_or_default(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Started,
    Updated,
    Ended,
}

impl EventType {
    /// As business keys and logs name it.
    pub fn label(self) -> &'static str {
        match self {
            EventType::Started => "started",
            EventType::Updated => "updated",
            EventType::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionEvent {
    pub event_type: EventType,
    pub timestamp: DateTime<Utc>,
    pub trigger_reason: String,
    pub seq_no: Option<u32>,
    pub offline: bool,
    pub transaction_id: Option<String>,
    pub stopped_reason: Option<String>,
    pub id_token: Option<IdToken>,
    pub evse_id: u32,
    pub connector_id: u32,
    pub samples: Vec<RawSample>,
    pub problems: Problems,
}

impl TransactionEvent {
    /// Fails only when the payload is not an object: a TransactionEvent is never refused.
    pub fn parse(payload: &Value, received_at: DateTime<Utc>) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        let mut problems = Problems::default();
        let event_type = match problems.take(o.string("eventType")).as_deref() {
            Some("Started") => EventType::Started,
            Some("Ended") => EventType::Ended,
            Some("Updated") => EventType::Updated,
            // Readable but unknown: recorded as an update, so its readings still count.
            Some(_) => {
                problems.push("unreadable_field:eventType");
                EventType::Updated
            }
            None => EventType::Updated,
        };
        let timestamp = problems
            .take(o.timestamp("timestamp"))
            .unwrap_or(received_at);
        let trigger_reason = problems
            .take(o.string("triggerReason"))
            .map(|t| problems.text("triggerReason", t, bounds::TEXT_MAX_LEN))
            .unwrap_or_default();
        let seq_no = problems.take(o.connector_id("seqNo"));
        let offline = problems.take_opt(o.opt_bool("offline")).unwrap_or(false);
        let info = problems.take(o.object("transactionInfo"));
        let (transaction_id, stopped_reason) = match &info {
            Some(info) => (
                problems
                    .take(info.string("transactionId"))
                    .map(|t| problems.identifier("transactionId", t)),
                problems
                    .take_opt(info.opt_string("stoppedReason"))
                    .map(|t| problems.text("stoppedReason", t, bounds::TEXT_MAX_LEN)),
            ),
            None => (None, None),
        };
        let id_token = problems
            .take_opt(o.opt_object("idToken"))
            .and_then(|t| problems.take(IdToken::read(&t)))
            .map(|t| IdToken {
                id_token: problems.identifier("idToken", t.id_token),
                kind: problems.text("idToken.type", t.kind, bounds::TEXT_MAX_LEN),
            });
        let evse = problems.take_opt(o.opt_object("evse"));
        let (evse_id, connector_id) = match &evse {
            Some(e) => (
                problems.take(e.connector_id("id")).unwrap_or(0),
                problems
                    .take_opt(e.opt_connector_id("connectorId"))
                    .unwrap_or(0),
            ),
            None => (0, 0),
        };
        let meter_values = problems
            .take(o.opt_objects("meterValue"))
            .unwrap_or_default();
        let samples = samples(&meter_values, timestamp, &mut problems);
        Ok(Self {
            event_type,
            timestamp,
            trigger_reason,
            seq_no,
            offline,
            transaction_id,
            stopped_reason,
            id_token,
            evse_id,
            connector_id,
            samples,
            problems,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterValues {
    pub evse_id: u32,
    pub samples: Vec<RawSample>,
    pub problems: Problems,
}

impl MeterValues {
    pub fn parse(payload: &Value, received_at: DateTime<Utc>) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        let mut problems = Problems::default();
        let evse_id = problems.take(o.connector_id("evseId")).unwrap_or(0);
        let meter_values = problems.take(o.objects("meterValue")).unwrap_or_default();
        let samples = samples(&meter_values, received_at, &mut problems);
        Ok(Self {
            evse_id,
            samples,
            problems,
        })
    }
}

/// 2.0.1 `MeterValueType[]`: values are numbers (read from strings too), units and multipliers sit
/// in `unitOfMeasure`, signed data beside the value in `signedMeterValue`.
pub fn samples(
    meter_values: &[Object<'_>],
    fallback_time: DateTime<Utc>,
    problems: &mut Problems,
) -> Vec<RawSample> {
    let mut out = Vec::new();
    let short = |problems: &mut Problems, o: &Object<'_>, name: &str| {
        problems
            .take_opt(o.opt_string(name))
            .map(|t| problems.text(name, t, bounds::TEXT_MAX_LEN))
    };
    let long = |problems: &mut Problems, name: &str, t: String| {
        problems.text(name, t, bounds::VALUE_TEXT_MAX_LEN)
    };
    for mv in meter::bounded_meter_values(meter_values, problems) {
        let timestamp = problems
            .take(mv.timestamp("timestamp"))
            .unwrap_or(fallback_time);
        let sampled = problems
            .take(mv.objects("sampledValue"))
            .unwrap_or_default();
        for sv in meter::bounded_sampled_values(sampled, out.len(), problems) {
            let Some(value) = problems.take(sv.string("value")) else {
                continue;
            };
            let unit_of_measure = problems.take_opt(sv.opt_object("unitOfMeasure"));
            let (unit, multiplier) = match &unit_of_measure {
                Some(u) => (
                    short(problems, u, "unit"),
                    problems.take_opt(u.opt_i32("multiplier")).unwrap_or(0),
                ),
                None => (None, 0),
            };
            let signed = problems
                .take_opt(sv.opt_object("signedMeterValue"))
                .and_then(|s| {
                    let data = problems.take(s.string("signedMeterData"))?;
                    let public_key = problems.take_opt(s.opt_string("publicKey"));
                    Some(SignedMeterValue {
                        signed_meter_data: long(problems, "signedMeterData", data),
                        signing_method: short(problems, &s, "signingMethod").unwrap_or_default(),
                        encoding_method: short(problems, &s, "encodingMethod").unwrap_or_default(),
                        public_key: public_key
                            .map(|k| long(problems, "publicKey", k))
                            .unwrap_or_default(),
                    })
                });
            out.push(RawSample {
                timestamp,
                value: long(problems, "value", value),
                measurand: short(problems, &sv, "measurand"),
                unit,
                multiplier,
                context: short(problems, &sv, "context"),
                phase: short(problems, &sv, "phase"),
                format: None,
                signed,
            });
        }
    }
    out
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

/// What a TransactionEvent publishes, by its eventType.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionMessage {
    Started(ChargerEvent<TransactionStarted>),
    Updated(ChargerEvent<MeterValuesSampled>),
    Ended(ChargerEvent<TransactionStopped>),
}

/// The charger event a TransactionEvent publishes, given the token its idToken names, if known:
/// `TransactionStarted` with the Transaction.Begin register, `MeterValuesSampled`, or
/// `TransactionStopped` with the Transaction.End register. Unreadable fields, an untrustworthy
/// clock and a missing transaction id are flags on it.
pub fn transaction_message(
    origin: &Origin,
    req: &TransactionEvent,
    token: Option<&KnownToken>,
) -> TransactionMessage {
    let samples: Vec<MeterSample> = req.samples.iter().map(meter::normalise).collect();
    let account_id = token.map(|t| t.account_id.to_string()).unwrap_or_default();
    let mut problems = req.problems.clone();
    if let Some(flag) = origin.clock_flag(req.timestamp, Some(req.offline)) {
        problems.push(flag);
    }
    let transaction_id = req.transaction_id.clone().unwrap_or_default();
    if transaction_id.is_empty() {
        problems.push(INVALID_TRANSACTION_ID);
    }
    let cp = &origin.charge_point_id;
    // (transactionId, seqNo) identifies an event; without a seqNo its content does.
    let business_key = match req.seq_no {
        Some(seq) => format!("{cp}/tx201/{transaction_id}/{seq}"),
        None => format!(
            "{cp}/tx201/{transaction_id}/{}/{}/{}",
            req.event_type.label(),
            key_time(req.timestamp),
            meter::fingerprint(&samples)
        ),
    };
    let id_tag = req
        .id_token
        .as_ref()
        .map(|t| t.id_token.clone())
        .unwrap_or_default();
    let (charger_id, charge_point_id) = (origin.charger_id.clone(), cp.clone());
    let version = origin.ocpp_version();
    let flags = problems.into_flags();
    match req.event_type {
        EventType::Started => TransactionMessage::Started(ChargerEvent {
            kind: EventKind::Started,
            business_key,
            message: TransactionStarted {
                charger_id,
                charge_point_id,
                connector_id: req.evse_id,
                transaction_id,
                id_tag,
                account_id,
                meter_start_wh: meter::register_in_context(&samples, TRANSACTION_BEGIN)
                    .map(|d| d.normalize().to_string())
                    .unwrap_or_default(),
                charger_time: Some(to_proto(req.timestamp)),
                received_at: Some(to_proto(origin.received_at)),
                ocpp_version: version,
                seq_no: req.seq_no,
                offline: req.offline,
                flags,
                samples,
                evse_id: req.evse_id,
            },
        }),
        EventType::Updated => TransactionMessage::Updated(ChargerEvent {
            kind: EventKind::Meter,
            business_key,
            message: MeterValuesSampled {
                charger_id,
                charge_point_id,
                connector_id: req.evse_id,
                transaction_id,
                samples,
                received_at: Some(to_proto(origin.received_at)),
                ocpp_version: version,
                seq_no: req.seq_no,
                offline: req.offline,
                flags,
                evse_id: req.evse_id,
                id_tag,
                account_id,
                charger_time: Some(to_proto(req.timestamp)),
            },
        }),
        EventType::Ended => {
            let session_key = if transaction_id.is_empty() {
                format!("@{}", key_time(req.timestamp))
            } else {
                String::new()
            };
            TransactionMessage::Ended(ChargerEvent {
                kind: EventKind::Stopped,
                business_key,
                message: TransactionStopped {
                    charger_id,
                    charge_point_id,
                    transaction_id,
                    meter_stop_wh: meter::register_in_context(&samples, TRANSACTION_END)
                        .map(|d| d.normalize().to_string())
                        .unwrap_or_default(),
                    id_tag,
                    reason: req.stopped_reason.clone().unwrap_or_default(),
                    charger_time: Some(to_proto(req.timestamp)),
                    received_at: Some(to_proto(origin.received_at)),
                    transaction_data: samples,
                    ocpp_version: version,
                    seq_no: req.seq_no,
                    offline: req.offline,
                    flags,
                    connector_id: req.connector_id,
                    evse_id: req.evse_id,
                    account_id,
                    session_key,
                },
            })
        }
    }
}

/// The `MeterValuesSampled` a MeterValues publishes (outside any transaction: 2.0.1 sends
/// transaction readings in TransactionEvent).
pub fn meter_sampled(origin: &Origin, mut req: MeterValues) -> ChargerEvent<MeterValuesSampled> {
    let samples: Vec<MeterSample> = req.samples.iter().map(meter::normalise).collect();
    if let Some(first) = req.samples.first()
        && let Some(flag) = origin.clock_flag(first.timestamp, Some(false))
    {
        req.problems.push(flag);
    }
    let first_time = req
        .samples
        .first()
        .map(|s| key_time(s.timestamp))
        .unwrap_or_default();
    let business_key = format!(
        "{}/meter201/{}/{}/{}",
        origin.charge_point_id,
        req.evse_id,
        first_time,
        meter::fingerprint(&samples)
    );
    let message = MeterValuesSampled {
        charger_id: origin.charger_id.clone(),
        charge_point_id: origin.charge_point_id.clone(),
        connector_id: req.evse_id,
        samples,
        received_at: Some(to_proto(origin.received_at)),
        ocpp_version: origin.ocpp_version(),
        flags: req.problems.into_flags(),
        evse_id: req.evse_id,
        charger_time: req.samples.first().map(|s| to_proto(s.timestamp)),
        ..Default::default()
    };
    ChargerEvent {
        kind: EventKind::Meter,
        business_key,
        message,
    }
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
            // The hold is asked for while the event is made durable ([`crate::hold`]).
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
                let session = hold::session_id(&cx.gateway.tenant, &cx.cp(), transaction_id);
                // A stop time outside its domain (a clock at 9999) is not priced: the receive
                // time stands in, as it does in sessions.
                let ended_at = bounds::charger_time("timestamp", req.timestamp, cx.received_at)
                    .unwrap_or(cx.received_at);
                total_cost = estimates.total_cost(session, ended_at, meter_stop_wh).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn now() -> DateTime<Utc> {
        "2026-11-21T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_started_event_reads_token_evse_and_the_begin_register() {
        let req = TransactionEvent::parse(
            &json!({
                "eventType": "Started", "timestamp": "2026-11-21T10:00:00Z", "triggerReason": "Authorized",
                "seqNo": 0, "offline": false,
                "transactionInfo": {"transactionId": "f3b9-11"},
                "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [{"timestamp": "2026-11-21T10:00:00Z", "sampledValue": [
                    {"value": 1.5, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register",
                     "unitOfMeasure": {"unit": "kWh"}}
                ]}]
            }),
            now(),
        )
        .unwrap();
        assert_eq!(req.event_type, EventType::Started);
        assert_eq!(req.seq_no, Some(0));
        assert_eq!(req.transaction_id.as_deref(), Some("f3b9-11"));
        assert_eq!(req.id_token.unwrap().id_token, "04A2B3C4");
        assert_eq!((req.evse_id, req.connector_id), (1, 1));
        let samples: Vec<_> = req.samples.iter().map(meter::normalise).collect();
        assert_eq!(
            meter::register_in_context(&samples, TRANSACTION_BEGIN),
            Some(Decimal::from(1500))
        );
        assert!(req.problems.is_empty());
    }

    #[test]
    fn multipliers_strings_and_signed_values_are_read() {
        let req = TransactionEvent::parse(
            &json!({
                "eventType": "Ended", "timestamp": "2026-11-21T11:00:00Z", "triggerReason": "EVDeparted",
                "seqNo": "7", "offline": "true",
                "transactionInfo": {"transactionId": "T1", "stoppedReason": "EVDisconnected"},
                "meterValue": {"timestamp": "2026-11-21T11:00:00Z", "sampledValue": [
                    {"value": "135", "context": "Transaction.End", "unitOfMeasure": {"unit": "Wh", "multiplier": 2},
                     "signedMeterValue": {"signedMeterData": "T0NNRnx7fXx7fQ==", "signingMethod": "ECDSA-secp256r1-SHA256",
                                          "encodingMethod": "OCMF", "publicKey": "3059301306"}}
                ]}
            }),
            now(),
        )
        .unwrap();
        assert_eq!(req.seq_no, Some(7));
        assert!(req.offline);
        assert_eq!(req.stopped_reason.as_deref(), Some("EVDisconnected"));
        let samples: Vec<_> = req.samples.iter().map(meter::normalise).collect();
        assert_eq!(
            meter::register_in_context(&samples, TRANSACTION_END),
            Some(Decimal::from(13500))
        );
        let signed = samples[0].signed.as_ref().unwrap();
        assert_eq!(signed.signed_meter_data, "T0NNRnx7fXx7fQ==");
        assert_eq!(signed.encoding_method, "OCMF");
        assert_eq!(signed.public_key, "3059301306");
    }

    #[test]
    fn an_unreadable_event_is_still_an_event_with_its_problems_named() {
        let req =
            TransactionEvent::parse(&json!({"eventType": "Paused", "seqNo": -1}), now()).unwrap();
        assert_eq!(req.event_type, EventType::Updated);
        assert_eq!(req.timestamp, now());
        assert_eq!(req.transaction_id, None);
        assert_eq!(
            req.problems.flags(),
            [
                "unreadable_field:eventType",
                "unreadable_field:timestamp",
                "unreadable_field:triggerReason",
                "unreadable_field:seqNo",
                "unreadable_field:transactionInfo"
            ]
        );
    }

    #[test]
    fn boot_and_status_follow_the_201_shapes() {
        let boot = BootNotification::parse(&json!({
            "reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V", "serialNumber": "S"}
        }))
        .unwrap();
        assert_eq!((boot.vendor.as_str(), boot.model.as_str()), ("V", "M"));
        let err = BootNotification::parse(&json!({"chargingStation": {"model": "M"}})).unwrap_err();
        assert_eq!(err.field, "chargingStation.vendorName");
        let status = StatusNotification::parse(&json!({
            "timestamp": "2026-11-21T10:00:00Z", "connectorStatus": "Faulted", "evseId": 2, "connectorId": 1
        }))
        .unwrap();
        assert_eq!((status.evse_id, status.connector_id), (2, 1));
    }
}
