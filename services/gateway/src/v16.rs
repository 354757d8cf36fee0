//! OCPP 1.6J: the messages a charge point sends, read leniently, and what the gateway does with each.
//!
//! Transaction messages (StartTransaction, MeterValues, StopTransaction) are never refused for what
//! they say (unknown token, unknown transaction): they are recorded, published and acknowledged, and
//! the sessions service flags anomalies. Every published event is durable before the answer leaves.

use chrono::{DateTime, SecondsFormat, Utc};
use joule_proto::time::to_proto;
use joule_proto::v1::{
    ChargerBooted, ConnectorStatusChanged, MeterSample, MeterValuesSampled, TransactionStarted,
    TransactionStopped,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::error::CallFailure;
use crate::frame::Call;
use crate::meter::{self, RawSample};
use crate::payload::{Object, PayloadError};
use crate::publish::{EventKind, key_time};
use crate::registry::{self, KnownCharger};
use crate::server::Gateway;
use crate::transactions::{self, StartKey};

/// The WebSocket subprotocol of OCPP 1.6J.
pub const SUBPROTOCOL: &str = "ocpp1.6";

/// Handles one CALL from a connected charger and returns the CALLRESULT payload.
pub async fn handle(
    gateway: &Gateway,
    charger: &KnownCharger,
    call: &Call,
    received_at: DateTime<Utc>,
) -> Result<Value, CallFailure> {
    let payload = &call.payload;
    let cx = Cx {
        gateway,
        charger,
        received_at,
    };
    match call.action.as_str() {
        "BootNotification" => cx.boot(BootNotification::parse(payload)?).await,
        "Heartbeat" => Ok(json!({ "currentTime": ocpp_time(received_at) })),
        "StatusNotification" => cx.status(StatusNotification::parse(payload)?).await,
        "Authorize" => cx.authorize(Authorize::parse(payload)?).await,
        "StartTransaction" => cx.start(StartTransaction::parse(payload)?).await,
        "MeterValues" => cx.meter_values(MeterValues::parse(payload)?).await,
        "StopTransaction" => cx.stop(StopTransaction::parse(payload)?).await,
        // Vendor extensions: the gateway knows none, which DataTransfer has an answer for.
        "DataTransfer" => Ok(json!({ "status": "UnknownVendorId" })),
        // Informational only; acknowledged so that chargers do not retry them.
        "DiagnosticsStatusNotification" | "FirmwareStatusNotification" => Ok(json!({})),
        other => Err(CallFailure::NotImplemented(other.to_owned())),
    }
}

/// dateTime as OCPP writes it: UTC, milliseconds, `Z`.
fn ocpp_time(t: DateTime<Utc>) -> String {
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
        Ok(Self {
            vendor: o.string("chargePointVendor")?,
            model: o.string("chargePointModel")?,
            serial_number: match o.opt_string("chargePointSerialNumber")? {
                Some(s) => Some(s),
                None => o.opt_string("chargeBoxSerialNumber")?,
            },
            firmware_version: o.opt_string("firmwareVersion")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNotification {
    pub connector_id: u32,
    pub error_code: String,
    pub status: String,
    pub timestamp: Option<DateTime<Utc>>,
}

impl StatusNotification {
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        Ok(Self {
            connector_id: o.connector_id("connectorId")?,
            error_code: o.string("errorCode")?,
            status: o.string("status")?,
            timestamp: o.opt_timestamp("timestamp")?,
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
            id_tag: Object::root(payload)?.string("idTag")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartTransaction {
    pub connector_id: u32,
    pub id_tag: String,
    /// OCPP 1.6 meterStart is in Wh by definition.
    pub meter_start_wh: Decimal,
    pub timestamp: DateTime<Utc>,
}

impl StartTransaction {
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        Ok(Self {
            connector_id: o.connector_id("connectorId")?,
            id_tag: o.string("idTag")?,
            meter_start_wh: o.decimal("meterStart")?.normalize(),
            timestamp: o.timestamp("timestamp")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterValues {
    pub connector_id: u32,
    /// Kept as text: chargers send ids beyond 32 bits, and ids the gateway never gave.
    pub transaction_id: Option<String>,
    pub samples: Vec<RawSample>,
}

impl MeterValues {
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        Ok(Self {
            connector_id: o.connector_id("connectorId")?,
            transaction_id: o.opt_integer_text("transactionId")?,
            samples: samples(&o.objects("meterValue")?)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopTransaction {
    pub transaction_id: String,
    pub meter_stop_wh: Decimal,
    pub timestamp: DateTime<Utc>,
    pub id_tag: Option<String>,
    pub reason: Option<String>,
    /// Unreadable transaction data does not cost the stop: the error is kept for the log.
    pub transaction_data: Result<Vec<RawSample>, PayloadError>,
}

impl StopTransaction {
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let o = Object::root(payload)?;
        Ok(Self {
            transaction_id: o.integer_text("transactionId")?,
            meter_stop_wh: o.decimal("meterStop")?.normalize(),
            timestamp: o.timestamp("timestamp")?,
            id_tag: o.opt_string("idTag")?,
            reason: o.opt_string("reason")?,
            transaction_data: o
                .opt_objects("transactionData")
                .and_then(|values| samples(&values)),
        })
    }
}

/// Flattens `MeterValue[]` (each with a timestamp and `SampledValue[]`) into samples.
fn samples(meter_values: &[Object<'_>]) -> Result<Vec<RawSample>, PayloadError> {
    let mut out = Vec::new();
    for mv in meter_values {
        let timestamp = mv.timestamp("timestamp")?;
        for sv in mv.objects("sampledValue")? {
            out.push(RawSample {
                timestamp,
                value: sv.string("value")?,
                measurand: sv.opt_string("measurand")?,
                unit: sv.opt_string("unit")?,
                multiplier: 0,
                context: sv.opt_string("context")?,
                phase: sv.opt_string("phase")?,
            });
        }
    }
    Ok(out)
}

fn id_tag_info(status: &str) -> Value {
    json!({ "status": status })
}

/// What every handler needs: where to publish, who is calling, and when the frame arrived.
struct Cx<'a> {
    gateway: &'a Gateway,
    charger: &'a KnownCharger,
    received_at: DateTime<Utc>,
}

impl Cx<'_> {
    fn cp(&self) -> String {
        self.charger.charge_point_id.to_string()
    }

    fn charger_id(&self) -> String {
        self.charger.charger_id.to_string()
    }

    async fn publish<M: joule_proto::Message + joule_proto::EventName>(
        &self,
        kind: EventKind,
        business_key: &str,
        message: &M,
    ) -> Result<(), CallFailure> {
        self.gateway
            .events
            .publish(
                &self.charger.charge_point_id,
                kind,
                business_key,
                self.received_at,
                message,
            )
            .await?;
        Ok(())
    }

    async fn boot(&self, req: BootNotification) -> Result<Value, CallFailure> {
        let event = ChargerBooted {
            charger_id: self.charger_id(),
            charge_point_id: self.cp(),
            vendor: req.vendor,
            model: req.model,
            serial_number: req.serial_number.unwrap_or_default(),
            firmware_version: req.firmware_version.unwrap_or_default(),
            received_at: Some(to_proto(self.received_at)),
        };
        let key = format!("{}/boot/{}", self.cp(), key_time(self.received_at));
        self.publish(EventKind::Booted, &key, &event).await?;
        Ok(json!({
            "status": "Accepted",
            "currentTime": ocpp_time(self.received_at),
            "interval": self.gateway.heartbeat_interval_secs,
        }))
    }

    async fn status(&self, req: StatusNotification) -> Result<Value, CallFailure> {
        let key = format!(
            "{}/status/{}/{}/{}/{}",
            self.cp(),
            req.connector_id,
            req.status,
            req.error_code,
            key_time(self.received_at)
        );
        let event = ConnectorStatusChanged {
            charger_id: self.charger_id(),
            charge_point_id: self.cp(),
            connector_id: req.connector_id,
            status: req.status,
            error_code: req.error_code,
            charger_time: req.timestamp.map(to_proto),
            received_at: Some(to_proto(self.received_at)),
        };
        self.publish(EventKind::Status, &key, &event).await?;
        Ok(json!({}))
    }

    async fn authorize(&self, req: Authorize) -> Result<Value, CallFailure> {
        let known = registry::find_token(&self.gateway.pool, &req.id_tag).await?;
        let status = if known.is_some() {
            "Accepted"
        } else {
            "Invalid"
        };
        tracing::info!(id_tag = %req.id_tag, status, "authorize");
        Ok(json!({ "idTagInfo": id_tag_info(status) }))
    }

    async fn start(&self, req: StartTransaction) -> Result<Value, CallFailure> {
        let token = registry::find_token(&self.gateway.pool, &req.id_tag).await?;
        let key = StartKey {
            charge_point_id: &self.charger.charge_point_id,
            connector_id: req.connector_id,
            id_tag: &req.id_tag,
            meter_start_wh: req.meter_start_wh,
            charger_time: req.timestamp,
        };
        let transaction_id =
            transactions::transaction_id_for(&self.gateway.pool, &key, self.received_at).await?;
        let business_key = format!(
            "{}/{}/{}/{}/{}",
            self.cp(),
            req.connector_id,
            req.id_tag,
            req.meter_start_wh,
            key_time(req.timestamp)
        );
        let event = TransactionStarted {
            charger_id: self.charger_id(),
            charge_point_id: self.cp(),
            connector_id: req.connector_id,
            transaction_id: transaction_id.to_string(),
            id_tag: req.id_tag.clone(),
            account_id: token
                .as_ref()
                .map(|t| t.account_id.to_string())
                .unwrap_or_default(),
            meter_start_wh: req.meter_start_wh.to_string(),
            charger_time: Some(to_proto(req.timestamp)),
            received_at: Some(to_proto(self.received_at)),
        };
        self.publish(EventKind::Started, &business_key, &event)
            .await?;
        // An unknown token still gets its transaction: the charger may already be charging, and
        // refusing would lose the energy to billing. The status tells the charger to stop.
        let status = if token.is_some() {
            "Accepted"
        } else {
            "Invalid"
        };
        tracing::info!(transaction_id, id_tag = %req.id_tag, status, "transaction started");
        Ok(json!({ "transactionId": transaction_id, "idTagInfo": id_tag_info(status) }))
    }

    async fn meter_values(&self, req: MeterValues) -> Result<Value, CallFailure> {
        let samples: Vec<MeterSample> = req.samples.iter().map(meter::normalise).collect();
        let transaction_id = req.transaction_id.unwrap_or_default();
        let first_time = req
            .samples
            .first()
            .map(|s| key_time(s.timestamp))
            .unwrap_or_default();
        let key = format!(
            "{}/meter/{}/{}/{}/{}",
            self.cp(),
            transaction_id,
            req.connector_id,
            first_time,
            meter::fingerprint(&samples)
        );
        let event = MeterValuesSampled {
            charger_id: self.charger_id(),
            charge_point_id: self.cp(),
            connector_id: req.connector_id,
            transaction_id,
            samples,
            received_at: Some(to_proto(self.received_at)),
        };
        self.publish(EventKind::Meter, &key, &event).await?;
        Ok(json!({}))
    }

    async fn stop(&self, req: StopTransaction) -> Result<Value, CallFailure> {
        let transaction_data = req.transaction_data.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable transactionData; stop recorded without it");
            Vec::new()
        });
        let key = format!("{}/stop/{}", self.cp(), req.transaction_id);
        let event = TransactionStopped {
            charger_id: self.charger_id(),
            charge_point_id: self.cp(),
            transaction_id: req.transaction_id.clone(),
            meter_stop_wh: req.meter_stop_wh.to_string(),
            id_tag: req.id_tag.clone().unwrap_or_default(),
            reason: req.reason.unwrap_or_default(),
            charger_time: Some(to_proto(req.timestamp)),
            received_at: Some(to_proto(self.received_at)),
            transaction_data: transaction_data.iter().map(meter::normalise).collect(),
        };
        self.publish(EventKind::Stopped, &key, &event).await?;
        tracing::info!(transaction_id = %req.transaction_id, meter_stop_wh = %req.meter_stop_wh, "transaction stopped");
        // The stop is recorded whatever the token; the idTagInfo only updates the charger's cache.
        Ok(match req.id_tag {
            Some(_) => json!({ "idTagInfo": id_tag_info("Accepted") }),
            None => json!({}),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ErrorCode;
    use rust_decimal_macros::dec;

    #[test]
    fn start_transaction_reads_numbers_given_as_strings() {
        let req = StartTransaction::parse(&json!({
            "connectorId": "1", "idTag": "04A2B3C4", "meterStart": "1000", "timestamp": "2024-03-01T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(req.connector_id, 1);
        assert_eq!(req.meter_start_wh, dec!(1000));
        assert_eq!(
            req.timestamp,
            DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z").unwrap()
        );
    }

    #[test]
    fn start_transaction_names_the_missing_or_mistyped_field() {
        let err = StartTransaction::parse(
            &json!({"connectorId": 1, "idTag": "A", "timestamp": "2024-03-01T10:00:00Z"}),
        )
        .unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::FormationViolation, "meterStart")
        );
        let err = StartTransaction::parse(&json!({
            "connectorId": [1], "idTag": "A", "meterStart": 0, "timestamp": "2024-03-01T10:00:00Z"
        }))
        .unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::TypeConstraintViolation, "connectorId")
        );
    }

    #[test]
    fn meter_values_accept_an_object_for_the_array_and_long_transaction_ids() {
        let req = MeterValues::parse(&json!({
            "connectorId": 2,
            "transactionId": 5_000_000_000u64,
            "meterValue": {
                "timestamp": "2024-03-01T10:05:00Z",
                "sampledValue": [
                    {"value": "1.5", "unit": "kWh"},
                    {"value": 7400, "measurand": "Power.Active.Import", "unit": "W"}
                ]
            }
        }))
        .unwrap();
        assert_eq!(req.transaction_id.as_deref(), Some("5000000000"));
        let samples: Vec<_> = req.samples.iter().map(meter::normalise).collect();
        assert_eq!(samples[0].value, "1500");
        assert_eq!(samples[0].unit, "Wh");
        assert_eq!(samples[0].measurand, "Energy.Active.Import.Register");
        assert_eq!(samples[1].value, "7400");
    }

    #[test]
    fn meter_values_name_the_nested_field() {
        let err = MeterValues::parse(&json!({
            "connectorId": 1,
            "meterValue": [{"timestamp": "2024-03-01T10:05:00Z", "sampledValue": [{"unit": "Wh"}]}]
        }))
        .unwrap_err();
        assert_eq!(err.field, "meterValue[0].sampledValue[0].value");
        assert_eq!(err.code, ErrorCode::FormationViolation);
    }

    #[test]
    fn a_stop_survives_unreadable_transaction_data() {
        let req = StopTransaction::parse(&json!({
            "transactionId": -1, "meterStop": 2500, "timestamp": "2024-03-01T11:00:00Z",
            "transactionData": [{"sampledValue": []}]
        }))
        .unwrap();
        assert_eq!(req.transaction_id, "-1");
        assert_eq!(req.meter_stop_wh, dec!(2500));
        assert_eq!(
            req.transaction_data.unwrap_err().field,
            "transactionData[0].timestamp"
        );
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
