//! The OCPP 1.6J messages a charge point sends, read leniently: a transaction message fails to read
//! only when its payload is not an object; its unreadable fields become [`Problems`].

use chrono::{DateTime, Utc};
use joule_domain::bounds;
use rust_decimal::Decimal;
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
        let transaction_data = problems
            .take(o.opt_objects("transactionData"))
            .map(|data| samples(&data, timestamp, &mut problems))
            .unwrap_or_default();
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

/// 1.6 `MeterValue[]`: values are text, with unit, context and format beside them
/// ([`meter::read_samples`]).
pub fn samples(
    meter_values: &[Object<'_>],
    fallback_time: DateTime<Utc>,
    problems: &mut Problems,
) -> Vec<RawSample> {
    meter::read_samples(
        meter_values,
        fallback_time,
        problems,
        |problems, sampled| {
            let sv = sampled.object;
            let text = |problems: &mut Problems, name: &str| {
                problems
                    .take_opt(sv.opt_string(name))
                    .map(|t| problems.text(name, t, bounds::TEXT_MAX_LEN))
            };
            RawSample {
                timestamp: sampled.timestamp,
                measurand: text(problems, "measurand"),
                unit: text(problems, "unit"),
                multiplier: 0,
                context: text(problems, "context"),
                phase: text(problems, "phase"),
                format: text(problems, "format"),
                value: problems.text("value", sampled.value, bounds::VALUE_TEXT_MAX_LEN),
                signed: None,
            }
        },
    )
}
