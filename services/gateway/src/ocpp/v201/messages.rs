//! The OCPP 2.0.1 messages a charging station sends, read leniently: a TransactionEvent fails to
//! read only when its payload is not an object; its unreadable fields become [`Problems`].

use chrono::{DateTime, Utc};
use joule_domain::bounds;
use joule_proto::v1::SignedMeterValue;
use serde_json::Value;

use crate::ocpp::meter::{self, RawSample};
use crate::ocpp::payload::{Object, PayloadError, Problems};

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
    let short = |problems: &mut Problems, o: &Object<'_>, name: &str| {
        problems
            .take_opt(o.opt_string(name))
            .map(|t| problems.text(name, t, bounds::TEXT_MAX_LEN))
    };
    let long = |problems: &mut Problems, name: &str, t: String| {
        problems.text(name, t, bounds::VALUE_TEXT_MAX_LEN)
    };
    meter::read_samples(
        meter_values,
        fallback_time,
        problems,
        |problems, sampled| {
            let sv = sampled.object;
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
            RawSample {
                timestamp: sampled.timestamp,
                value: long(problems, "value", sampled.value),
                measurand: short(problems, sv, "measurand"),
                unit,
                multiplier,
                context: short(problems, sv, "context"),
                phase: short(problems, sv, "phase"),
                format: None,
                signed,
            }
        },
    )
}
