//! OCPP 1.6J: the messages a charge point sends, read leniently, and what the gateway does with each.
//!
//! Transaction messages (StartTransaction, MeterValues, StopTransaction) are never refused, neither
//! for what they say (unknown token, unknown transaction, `transactionId = -1`) nor for fields that
//! cannot be read: what is readable is recorded, published and acknowledged, and each problem becomes
//! a flag that sessions puts on the session for review. Every published event is durable before the
//! answer leaves.
//!
//! A CALL is read into a [`Request`]; the event a transaction message publishes is a pure function
//! of it, its [`Origin`] and what the handler looked up ([`started`], [`meter_sampled`],
//! [`stopped`]), so that it is the same with or without a connection.

use chrono::{DateTime, SecondsFormat, Utc};
use joule_domain::bounds;
use joule_proto::time::to_proto;
use joule_proto::v1::{MeterSample, MeterValuesSampled, TransactionStarted, TransactionStopped};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::context::{ConnectorStatus, Cx, Origin};
use crate::error::CallFailure;
use crate::frame::Call;
use crate::hold::HoldOutcome;
use crate::meter::{self, RawSample};
use crate::payload::{Object, PayloadError, Problems};
use crate::publish::{ChargerEvent, EventKind, key_time};
use crate::registry::KnownToken;
use crate::transactions::StartKey;

/// The WebSocket subprotocol of OCPP 1.6J.
pub const SUBPROTOCOL: &str = "ocpp1.6";

/// Flag on a stop whose transactionId identifies nothing (-1, 0, missing).
pub const INVALID_TRANSACTION_ID: &str = "invalid_transaction_id";
/// Flag on a stop or meter values for a transaction id the gateway never gave.
pub const UNKNOWN_TRANSACTION: &str = "unknown_transaction";

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

/// dateTime as OCPP writes it: UTC, milliseconds, `Z`.
pub fn ocpp_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
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
        let o = Object::root(payload)?;
        let max = bounds::TEXT_MAX_LEN;
        Ok(Self {
            vendor: o.bounded_string("chargePointVendor", max)?,
            model: o.bounded_string("chargePointModel", max)?,
            serial_number: match o.opt_bounded_string("chargePointSerialNumber", max)? {
                Some(s) => Some(s),
                None => o.opt_bounded_string("chargeBoxSerialNumber", max)?,
            },
            firmware_version: o.opt_bounded_string("firmwareVersion", max)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNotification {
    pub connector_id: u32,
    pub error_code: String,
    pub status: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub info: Option<String>,
    pub vendor_error_code: Option<String>,
}

impl StatusNotification {
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        let max = bounds::TEXT_MAX_LEN;
        Ok(Self {
            connector_id: o.connector_id("connectorId")?,
            error_code: o.bounded_string("errorCode", max)?,
            status: o.bounded_string("status", max)?,
            timestamp: o.opt_timestamp("timestamp")?,
            info: o.opt_bounded_string("info", max)?,
            vendor_error_code: o.opt_bounded_string("vendorErrorCode", max)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorize {
    pub id_tag: String,
}

impl Authorize {
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        Ok(Self {
            id_tag: Object::root(payload)?.bounded_string("idTag", bounds::IDENTIFIER_MAX_LEN)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartTransaction {
    pub connector_id: u32,
    pub id_tag: String,
    /// OCPP 1.6 meterStart is in Wh by definition; `None` when unreadable.
    pub meter_start_wh: Option<Decimal>,
    /// The receive time when the charger's is unreadable (flagged).
    pub timestamp: DateTime<Utc>,
    pub problems: Problems,
}

impl StartTransaction {
    /// Fails only when the payload is not an object; unreadable fields become problems.
    pub fn parse(payload: &Value, received_at: DateTime<Utc>) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        let mut problems = Problems::default();
        let connector_id = problems.take(o.connector_id("connectorId")).unwrap_or(0);
        let id_tag = problems
            .take(o.string("idTag"))
            .map(|t| problems.identifier("idTag", t))
            .unwrap_or_default();
        let meter_start_wh = problems
            .take(o.string("meterStart"))
            .and_then(|t| problems.register("meterStart", &t));
        let timestamp = problems
            .take(o.timestamp("timestamp"))
            .unwrap_or(received_at);
        Ok(Self {
            connector_id,
            id_tag,
            meter_start_wh,
            timestamp,
            problems,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterValues {
    pub connector_id: u32,
    /// Kept as text: chargers send ids beyond 32 bits, and ids the gateway never gave.
    pub transaction_id: Option<String>,
    pub samples: Vec<RawSample>,
    pub problems: Problems,
}

impl MeterValues {
    pub fn parse(payload: &Value, received_at: DateTime<Utc>) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        let mut problems = Problems::default();
        let connector_id = problems.take(o.connector_id("connectorId")).unwrap_or(0);
        let transaction_id = problems.take_opt(o.opt_integer_text("transactionId"));
        let meter_values = problems.take(o.objects("meterValue")).unwrap_or_default();
        let samples = samples(&meter_values, received_at, &mut problems);
        Ok(Self {
            connector_id,
            transaction_id,
            samples,
            problems,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopTransaction {
    /// `None` when missing or unreadable.
    pub transaction_id: Option<String>,
    pub meter_stop_wh: Option<Decimal>,
    pub timestamp: DateTime<Utc>,
    pub id_tag: Option<String>,
    pub reason: Option<String>,
    pub transaction_data: Vec<RawSample>,
    pub problems: Problems,
}

impl StopTransaction {
    pub fn parse(payload: &Value, received_at: DateTime<Utc>) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        let mut problems = Problems::default();
        let transaction_id = problems.take(o.integer_text("transactionId"));
        let meter_stop_wh = problems
            .take(o.string("meterStop"))
            .and_then(|t| problems.register("meterStop", &t));
        let timestamp = problems
            .take(o.timestamp("timestamp"))
            .unwrap_or(received_at);
        let id_tag = problems
            .take_opt(o.opt_string("idTag"))
            .map(|t| problems.identifier("idTag", t));
        let reason = problems
            .take_opt(o.opt_string("reason"))
            .map(|t| problems.text("reason", t, bounds::TEXT_MAX_LEN));
        let data = problems
            .take(o.opt_objects("transactionData"))
            .unwrap_or_default();
        let transaction_data = samples(&data, timestamp, &mut problems);
        Ok(Self {
            transaction_id,
            meter_stop_wh,
            timestamp,
            id_tag,
            reason,
            transaction_data,
            problems,
        })
    }
}

/// Flattens `MeterValue[]` (each with a timestamp and `SampledValue[]`) into samples. A sample
/// without a readable value is left out, a meter value without a readable timestamp gets
/// `fallback_time`; both are noted as problems.
pub fn samples(
    meter_values: &[Object<'_>],
    fallback_time: DateTime<Utc>,
    problems: &mut Problems,
) -> Vec<RawSample> {
    let mut out = Vec::new();
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
            let text = |problems: &mut Problems, name: &str| {
                problems
                    .take_opt(sv.opt_string(name))
                    .map(|t| problems.text(name, t, bounds::TEXT_MAX_LEN))
            };
            out.push(RawSample {
                timestamp,
                measurand: text(problems, "measurand"),
                unit: text(problems, "unit"),
                multiplier: 0,
                context: text(problems, "context"),
                phase: text(problems, "phase"),
                format: text(problems, "format"),
                value: problems.text("value", value, bounds::VALUE_TEXT_MAX_LEN),
                signed: None,
            });
        }
    }
    out
}

fn id_tag_info(status: &str) -> Value {
    json!({ "status": status })
}

/// A transaction id the gateway could have given: a positive 32-bit integer.
pub fn issued_id(transaction_id: &str) -> Option<i32> {
    transaction_id.parse::<i32>().ok().filter(|id| *id > 0)
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

/// The register a start's transaction id is keyed on: a missing meterStart still needs one, and -1
/// never occurs as a real register.
pub fn start_key_meter(req: &StartTransaction) -> Decimal {
    req.meter_start_wh.unwrap_or(Decimal::NEGATIVE_ONE)
}

/// The `TransactionStarted` a StartTransaction publishes, given the transaction id the gateway
/// gave it ([`crate::transactions`]) and the token its idTag names, if known. Unreadable fields
/// and an untrustworthy clock are flags on it.
pub fn started(
    origin: &Origin,
    mut req: StartTransaction,
    transaction_id: i32,
    token: Option<&KnownToken>,
) -> ChargerEvent<TransactionStarted> {
    if let Some(flag) = origin.clock_flag(req.timestamp, None) {
        req.problems.push(flag);
    }
    let business_key = format!(
        "{}/{}/{}/{}/{}",
        origin.charge_point_id,
        req.connector_id,
        req.id_tag,
        start_key_meter(&req),
        key_time(req.timestamp)
    );
    let message = TransactionStarted {
        charger_id: origin.charger_id.clone(),
        charge_point_id: origin.charge_point_id.clone(),
        connector_id: req.connector_id,
        transaction_id: transaction_id.to_string(),
        id_tag: req.id_tag,
        account_id: token.map(|t| t.account_id.to_string()).unwrap_or_default(),
        meter_start_wh: req
            .meter_start_wh
            .map(|d| d.to_string())
            .unwrap_or_default(),
        charger_time: Some(to_proto(req.timestamp)),
        received_at: Some(to_proto(origin.received_at)),
        ocpp_version: origin.ocpp_version(),
        flags: req.problems.into_flags(),
        ..Default::default()
    };
    ChargerEvent {
        kind: EventKind::Started,
        business_key,
        message,
    }
}

/// The `MeterValuesSampled` a MeterValues publishes: its samples normalised ([`meter::normalise`]).
pub fn meter_sampled(origin: &Origin, mut req: MeterValues) -> ChargerEvent<MeterValuesSampled> {
    let samples: Vec<MeterSample> = req.samples.iter().map(meter::normalise).collect();
    let transaction_id = req.transaction_id.unwrap_or_default();
    if let Some(first) = req.samples.first()
        && let Some(flag) = origin.clock_flag(first.timestamp, None)
    {
        req.problems.push(flag);
    }
    let first_time = req
        .samples
        .first()
        .map(|s| key_time(s.timestamp))
        .unwrap_or_default();
    let business_key = format!(
        "{}/meter/{}/{}/{}/{}",
        origin.charge_point_id,
        transaction_id,
        req.connector_id,
        first_time,
        meter::fingerprint(&samples)
    );
    let message = MeterValuesSampled {
        charger_id: origin.charger_id.clone(),
        charge_point_id: origin.charge_point_id.clone(),
        connector_id: req.connector_id,
        transaction_id,
        samples,
        received_at: Some(to_proto(origin.received_at)),
        ocpp_version: origin.ocpp_version(),
        flags: req.problems.into_flags(),
        charger_time: req.samples.first().map(|s| to_proto(s.timestamp)),
        ..Default::default()
    };
    ChargerEvent {
        kind: EventKind::Meter,
        business_key,
        message,
    }
}

/// The `TransactionStopped` a StopTransaction publishes. `issued`: whether the gateway gave its
/// transaction id (asked only for an id it could have given, [`issued_id`]); `token`: the one its
/// idTag names, if known.
///
/// A stop is identified by its transaction id; one whose id identifies nothing (-1: the charger
/// never got its start confirmed) by its own content (`session_key`), so that two such stops stay
/// two sessions and a retry of one stays one.
pub fn stopped(
    origin: &Origin,
    mut req: StopTransaction,
    issued: bool,
    token: Option<&KnownToken>,
) -> ChargerEvent<TransactionStopped> {
    let transaction_id = req.transaction_id.unwrap_or_default();
    let meter_text = req.meter_stop_wh.map(|d| d.to_string()).unwrap_or_default();
    let cp = &origin.charge_point_id;
    let (business_key, session_key) = match issued_id(&transaction_id) {
        Some(_) => {
            if !issued {
                req.problems.push(UNKNOWN_TRANSACTION);
            }
            (format!("{cp}/stop/{transaction_id}"), String::new())
        }
        None => {
            req.problems.push(INVALID_TRANSACTION_ID);
            let session_key = format!("{transaction_id}@{}/{meter_text}", key_time(req.timestamp));
            (format!("{cp}/stop/{session_key}"), session_key)
        }
    };
    if let Some(flag) = origin.clock_flag(req.timestamp, None) {
        req.problems.push(flag);
    }
    let message = TransactionStopped {
        charger_id: origin.charger_id.clone(),
        charge_point_id: cp.clone(),
        transaction_id,
        meter_stop_wh: meter_text,
        id_tag: req.id_tag.unwrap_or_default(),
        reason: req.reason.unwrap_or_default(),
        charger_time: Some(to_proto(req.timestamp)),
        received_at: Some(to_proto(origin.received_at)),
        transaction_data: req.transaction_data.iter().map(meter::normalise).collect(),
        ocpp_version: origin.ocpp_version(),
        flags: req.problems.into_flags(),
        account_id: token.map(|t| t.account_id.to_string()).unwrap_or_default(),
        session_key,
        ..Default::default()
    };
    ChargerEvent {
        kind: EventKind::Stopped,
        business_key,
        message,
    }
}

async fn start(cx: &Cx<'_>, req: StartTransaction) -> Result<Value, CallFailure> {
    let token = cx.find_token(&req.id_tag).await?;
    let key = StartKey {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ErrorCode;
    use rust_decimal_macros::dec;

    fn now() -> DateTime<Utc> {
        "2024-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn start_transaction_reads_numbers_given_as_strings() {
        let req = StartTransaction::parse(
            &json!({
                "connectorId": "1", "idTag": "04A2B3C4", "meterStart": "1000", "timestamp": "2024-03-01T10:00:00Z"
            }),
            now(),
        )
        .unwrap();
        assert_eq!(req.connector_id, 1);
        assert_eq!(req.meter_start_wh, Some(dec!(1000)));
        assert_eq!(
            req.timestamp,
            DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z").unwrap()
        );
        assert!(req.problems.is_empty());
    }

    #[test]
    fn an_unreadable_start_is_still_a_start_with_its_problems_named() {
        let req = StartTransaction::parse(
            &json!({"connectorId": [1], "idTag": "A", "timestamp": "yesterday"}),
            now(),
        )
        .unwrap();
        assert_eq!(req.meter_start_wh, None);
        assert_eq!(req.timestamp, now(), "the receive time stands in");
        assert_eq!(
            req.problems.flags(),
            [
                "unreadable_field:connectorId",
                "unreadable_field:meterStart",
                "unreadable_field:timestamp"
            ]
        );
        let err = StartTransaction::parse(&json!([1]), now()).unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::FormationViolation, "payload")
        );
    }

    #[test]
    fn meter_values_accept_an_object_for_the_array_and_long_transaction_ids() {
        let req = MeterValues::parse(
            &json!({
                "connectorId": 2,
                "transactionId": 5_000_000_000u64,
                "meterValue": {
                    "timestamp": "2024-03-01T10:05:00Z",
                    "sampledValue": [
                        {"value": "1.5", "unit": "kWh"},
                        {"value": 7400, "measurand": "Power.Active.Import", "unit": "W"}
                    ]
                }
            }),
            now(),
        )
        .unwrap();
        assert_eq!(req.transaction_id.as_deref(), Some("5000000000"));
        let samples: Vec<_> = req.samples.iter().map(meter::normalise).collect();
        assert_eq!(samples[0].value, "1500");
        assert_eq!(samples[0].unit, "Wh");
        assert_eq!(samples[0].measurand, "Energy.Active.Import.Register");
        assert_eq!(samples[1].value, "7400");
    }

    #[test]
    fn unreadable_samples_are_left_out_and_named() {
        let req = MeterValues::parse(
            &json!({
                "connectorId": 1,
                "meterValue": [{"timestamp": "2024-03-01T10:05:00Z", "sampledValue": [{"unit": "Wh"}, {"value": "5"}]}]
            }),
            now(),
        )
        .unwrap();
        assert_eq!(req.samples.len(), 1);
        assert_eq!(
            req.problems.flags(),
            ["unreadable_field:meterValue[0].sampledValue[0].value"]
        );
    }

    #[test]
    fn a_stop_survives_unreadable_transaction_data() {
        let req = StopTransaction::parse(
            &json!({
                "transactionId": -1, "meterStop": 2500, "timestamp": "2024-03-01T11:00:00Z",
                "transactionData": [{"sampledValue": [{"value": "2.5", "unit": "kWh"}]}]
            }),
            now(),
        )
        .unwrap();
        assert_eq!(req.transaction_id.as_deref(), Some("-1"));
        assert_eq!(req.meter_stop_wh, Some(dec!(2500)));
        assert_eq!(
            req.problems.flags(),
            ["unreadable_field:transactionData[0].timestamp"]
        );
        assert_eq!(
            req.transaction_data[0].timestamp,
            "2024-03-01T11:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            "the stop's time stands in"
        );
        assert_eq!(issued_id("-1"), None);
        assert_eq!(issued_id("0"), None);
        assert_eq!(issued_id("5000000000"), None);
        assert_eq!(issued_id("17"), Some(17));
    }

    #[test]
    fn boot_falls_back_to_the_charge_box_serial() {
        let req = BootNotification::parse(&json!({
            "chargePointVendor": "V", "chargePointModel": "M", "chargeBoxSerialNumber": "CB-1"
        }))
        .unwrap();
        assert_eq!(req.serial_number.as_deref(), Some("CB-1"));
    }
}
