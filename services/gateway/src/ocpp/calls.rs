//! The CALLs the gateway sends chargers: each `joule.v1` command in the OCPP version of the charger's
//! connection ([`to_call`]), or why it cannot be carried ([`CommandError`]).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use joule_proto::v1::ChargerCommandFailure;
use joule_proto::v1::charger_command_request::Command;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::commands::{FAILURE_INVALID, FAILURE_UNSUPPORTED};
use crate::ocpp::payload::ocpp_time;
use crate::ocpp::protocol::OcppVersion;

/// The California Pricing vendor id (OCA whitepaper "California Pricing Requirements", OCPP 1.6).
pub const COST_VENDOR_ID: &str = "org.openchargealliance.costmsg";

/// Why a command cannot become a CALL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("{0} is not supported by OCPP {1}")]
    Unsupported(&'static str, &'static str),
    #[error("{0}")]
    Invalid(String),
}

impl CommandError {
    pub fn into_failure(self) -> ChargerCommandFailure {
        let kind = match self {
            CommandError::Unsupported(..) => FAILURE_UNSUPPORTED,
            CommandError::Invalid(_) => FAILURE_INVALID,
        };
        ChargerCommandFailure {
            kind: kind.into(),
            message: self.to_string(),
        }
    }
}

fn invalid(message: impl Into<String>) -> CommandError {
    CommandError::Invalid(message.into())
}

/// A decimal as a JSON number for the OCPP wire. serde_json holds numbers as f64 here, which
/// represents any decimal of up to 15 significant digits exactly when printed back; a value that
/// would not survive that is refused rather than silently rounded.
pub(crate) fn json_number(field: &str, text: &str) -> Result<Value, CommandError> {
    let decimal = Decimal::from_str(text.trim())
        .map_err(|_| invalid(format!("{field}: {text:?} is not a decimal number")))?
        .normalize();
    let value: Value = serde_json::from_str(&decimal.to_string())
        .map_err(|_| invalid(format!("{field}: {text:?} is not a JSON number")))?;
    let printed = value.to_string();
    if printed != decimal.to_string() {
        return Err(invalid(format!(
            "{field}: {text:?} has more digits than OCPP carries exactly"
        )));
    }
    Ok(value)
}

fn json_object(field: &str, text: &str) -> Result<Value, CommandError> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(invalid(format!("{field}: must be a JSON object"))),
    }
}

/// 1.6 transaction ids are integers the CSMS gave.
fn integer_transaction_id(text: &str) -> Result<i64, CommandError> {
    text.trim().parse::<i64>().map_err(|_| {
        invalid(format!(
            "transaction_id: {text:?} is not an OCPP 1.6 transaction id"
        ))
    })
}

fn id_token_201(id_token: &str, kind: &str) -> Value {
    let kind = if kind.is_empty() { "Central" } else { kind };
    json!({ "idToken": id_token, "type": kind })
}

fn required<'a>(field: &str, text: &'a str) -> Result<&'a str, CommandError> {
    if text.trim().is_empty() {
        Err(invalid(format!("{field}: required")))
    } else {
        Ok(text)
    }
}

/// The OCPP CALL (action and payload) that carries `command` in `version`.
pub fn to_call(
    version: OcppVersion,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<(&'static str, Value), CommandError> {
    let mut payload = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        payload.insert(k.to_owned(), v);
    };
    let action = match (version, command) {
        (OcppVersion::V16, Command::RemoteStart(c)) => {
            put("idTag", json!(required("id_token", &c.id_token)?));
            if c.connector_id > 0 {
                put("connectorId", json!(c.connector_id));
            }
            if !c.charging_profile_json.is_empty() {
                put(
                    "chargingProfile",
                    json_object("charging_profile_json", &c.charging_profile_json)?,
                );
            }
            "RemoteStartTransaction"
        }
        (OcppVersion::V201, Command::RemoteStart(c)) => {
            put(
                "idToken",
                id_token_201(required("id_token", &c.id_token)?, &c.id_token_type),
            );
            // remoteStartId ties the TransactionEvent that follows to this request.
            let remote_start_id = c
                .remote_start_id
                .unwrap_or_else(|| (rand::random::<u32>() >> 1) as i32);
            put("remoteStartId", json!(remote_start_id));
            if c.connector_id > 0 {
                put("evseId", json!(c.connector_id));
            }
            if !c.charging_profile_json.is_empty() {
                put(
                    "chargingProfile",
                    json_object("charging_profile_json", &c.charging_profile_json)?,
                );
            }
            "RequestStartTransaction"
        }
        (OcppVersion::V16, Command::RemoteStop(c)) => {
            put(
                "transactionId",
                json!(integer_transaction_id(&c.transaction_id)?),
            );
            "RemoteStopTransaction"
        }
        (OcppVersion::V201, Command::RemoteStop(c)) => {
            put(
                "transactionId",
                json!(required("transaction_id", &c.transaction_id)?),
            );
            "RequestStopTransaction"
        }
        (version, Command::ReserveNow(c)) => {
            let expires = joule_proto::time::from_proto(c.expires_at.as_ref())
                .ok_or_else(|| invalid("expires_at: required"))?;
            let id_token = required("id_token", &c.id_token)?;
            if version == OcppVersion::V16 {
                put("connectorId", json!(c.connector_id));
                put("expiryDate", json!(ocpp_time(expires)));
                put("idTag", json!(id_token));
                put("reservationId", json!(c.reservation_id));
            } else {
                put("id", json!(c.reservation_id));
                put("expiryDateTime", json!(ocpp_time(expires)));
                put("idToken", id_token_201(id_token, &c.id_token_type));
                if c.connector_id > 0 {
                    put("evseId", json!(c.connector_id));
                }
            }
            "ReserveNow"
        }
        (_, Command::CancelReservation(c)) => {
            put("reservationId", json!(c.reservation_id));
            "CancelReservation"
        }
        (OcppVersion::V16, Command::ChangeAvailability(c)) => {
            put("connectorId", json!(c.connector_id));
            put(
                "type",
                json!(if c.operative {
                    "Operative"
                } else {
                    "Inoperative"
                }),
            );
            "ChangeAvailability"
        }
        (OcppVersion::V201, Command::ChangeAvailability(c)) => {
            put(
                "operationalStatus",
                json!(if c.operative {
                    "Operative"
                } else {
                    "Inoperative"
                }),
            );
            if c.connector_id > 0 {
                put("evse", json!({ "id": c.connector_id }));
            }
            "ChangeAvailability"
        }
        (version, Command::TriggerMessage(c)) => {
            put(
                "requestedMessage",
                json!(required("requested_message", &c.requested_message)?),
            );
            if c.connector_id > 0 {
                match version {
                    OcppVersion::V16 => put("connectorId", json!(c.connector_id)),
                    OcppVersion::V201 => put("evse", json!({ "id": c.connector_id })),
                }
            }
            "TriggerMessage"
        }
        (version, Command::SetChargingProfile(c)) => {
            let profile = json_object("charging_profile_json", &c.charging_profile_json)?;
            match version {
                OcppVersion::V16 => {
                    put("connectorId", json!(c.connector_id));
                    put("csChargingProfiles", profile);
                }
                OcppVersion::V201 => {
                    put("evseId", json!(c.connector_id));
                    put("chargingProfile", profile);
                }
            }
            "SetChargingProfile"
        }
        (OcppVersion::V16, Command::CostUpdate(c)) => {
            let cost = json_number("total_cost", &c.total_cost)?;
            let transaction_id = integer_transaction_id(&c.transaction_id)?;
            let (message_id, data) = if c.r#final {
                let mut data = json!({ "transactionId": transaction_id, "cost": cost });
                if !c.price_text.is_empty() {
                    data["priceText"] = json!(c.price_text);
                }
                ("FinalCost", data)
            } else {
                let mut data = json!({
                    "transactionId": transaction_id,
                    "timestamp": ocpp_time(now),
                    "cost": cost,
                    "state": "Charging",
                });
                if !c.meter_value_wh.is_empty() {
                    data["meterValue"] = json_number("meter_value_wh", &c.meter_value_wh)?;
                }
                if !c.price_text.is_empty() {
                    data["priceText"] = json!(c.price_text);
                }
                ("RunningCost", data)
            };
            put("vendorId", json!(COST_VENDOR_ID));
            put("messageId", json!(message_id));
            // DataTransfer.data is a string: the cost message is JSON inside it.
            put("data", json!(data.to_string()));
            "DataTransfer"
        }
        (OcppVersion::V201, Command::CostUpdate(c)) => {
            if c.r#final {
                // 2.0.1 shows the final cost from the TransactionEvent(Ended) answer.
                return Err(CommandError::Unsupported("a final CostUpdated", "2.0.1"));
            }
            put("totalCost", json_number("total_cost", &c.total_cost)?);
            put(
                "transactionId",
                json!(required("transaction_id", &c.transaction_id)?),
            );
            "CostUpdated"
        }
        (_, Command::DataTransfer(c)) => {
            put("vendorId", json!(required("vendor_id", &c.vendor_id)?));
            if !c.message_id.is_empty() {
                put("messageId", json!(c.message_id));
            }
            if !c.data.is_empty() {
                put("data", json!(c.data));
            }
            "DataTransfer"
        }
    };
    Ok((action, Value::Object(payload)))
}

/// The `status` of a CALLRESULT payload, which most command answers have.
pub fn answer_status(payload: &Value) -> String {
    payload
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use joule_proto::v1::{CostUpdate, RemoteStart, RemoteStop, ReserveNow};

    fn now() -> DateTime<Utc> {
        "2026-11-21T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn remote_stop_speaks_each_version() {
        let stop = Command::RemoteStop(RemoteStop {
            transaction_id: "42".into(),
        });
        assert_eq!(
            to_call(OcppVersion::V16, &stop, now()).unwrap(),
            ("RemoteStopTransaction", json!({"transactionId": 42}))
        );
        assert_eq!(
            to_call(OcppVersion::V201, &stop, now()).unwrap(),
            ("RequestStopTransaction", json!({"transactionId": "42"}))
        );
        let bad = Command::RemoteStop(RemoteStop {
            transaction_id: "f3b9".into(),
        });
        assert!(matches!(
            to_call(OcppVersion::V16, &bad, now()),
            Err(CommandError::Invalid(_))
        ));
    }

    #[test]
    fn remote_start_201_carries_a_remote_start_id() {
        let start = Command::RemoteStart(RemoteStart {
            id_token: "04A2B3C4".into(),
            connector_id: 2,
            remote_start_id: Some(77),
            ..Default::default()
        });
        let (action, payload) = to_call(OcppVersion::V201, &start, now()).unwrap();
        assert_eq!(action, "RequestStartTransaction");
        assert_eq!(
            payload,
            json!({"idToken": {"idToken": "04A2B3C4", "type": "Central"}, "remoteStartId": 77, "evseId": 2})
        );
        let (_, payload) = to_call(OcppVersion::V16, &start, now()).unwrap();
        assert_eq!(payload, json!({"idTag": "04A2B3C4", "connectorId": 2}));
    }

    #[test]
    fn cost_updates_use_california_pricing_on_16_and_cost_updated_on_201() {
        let running = Command::CostUpdate(CostUpdate {
            transaction_id: "42".into(),
            total_cost: "3.10".into(),
            meter_value_wh: "6200".into(),
            ..Default::default()
        });
        let (action, payload) = to_call(OcppVersion::V16, &running, now()).unwrap();
        assert_eq!(action, "DataTransfer");
        assert_eq!(payload["vendorId"], COST_VENDOR_ID);
        assert_eq!(payload["messageId"], "RunningCost");
        let data: Value = serde_json::from_str(payload["data"].as_str().unwrap()).unwrap();
        assert_eq!(
            data,
            json!({"transactionId": 42, "timestamp": "2026-11-21T12:00:00.000Z", "cost": 3.1,
                   "state": "Charging", "meterValue": 6200})
        );
        let final_cost = Command::CostUpdate(CostUpdate {
            transaction_id: "42".into(),
            total_cost: "7.62".into(),
            r#final: true,
            price_text: "EUR 7.62".into(),
            ..Default::default()
        });
        let (_, payload) = to_call(OcppVersion::V16, &final_cost, now()).unwrap();
        assert_eq!(payload["messageId"], "FinalCost");
        assert!(payload["data"].as_str().unwrap().contains("\"cost\":7.62"));
        let (action, payload) = to_call(OcppVersion::V201, &running, now()).unwrap();
        assert_eq!(
            (action, payload),
            (
                "CostUpdated",
                json!({"totalCost": 3.1, "transactionId": "42"})
            )
        );
        assert!(matches!(
            to_call(OcppVersion::V201, &final_cost, now()),
            Err(CommandError::Unsupported(..))
        ));
    }

    #[test]
    fn costs_that_json_cannot_carry_exactly_are_refused() {
        assert_eq!(json_number("c", "0.1").unwrap().to_string(), "0.1");
        assert_eq!(json_number("c", "12.50").unwrap().to_string(), "12.5");
        assert!(json_number("c", "1234567890.123456789").is_err());
        assert!(json_number("c", "abc").is_err());
    }

    #[test]
    fn reservations_need_an_expiry() {
        let reserve = Command::ReserveNow(ReserveNow {
            reservation_id: 5,
            connector_id: 1,
            id_token: "TAG".into(),
            ..Default::default()
        });
        assert_eq!(
            to_call(OcppVersion::V16, &reserve, now()).unwrap_err(),
            CommandError::Invalid("expires_at: required".into())
        );
    }
}
