//! The OCPP versions and actions the simulator speaks, and OCPP-J framing from the charger's side.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// The OCPP version of a simulated charger, chosen by WebSocket subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V16,
    V201,
}

impl Version {
    pub fn subprotocol(self) -> &'static str {
        match self {
            Version::V16 => "ocpp1.6",
            Version::V201 => "ocpp2.0.1",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V16 => "1.6",
            Version::V201 => "2.0.1",
        })
    }
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "1.6" | "16" | "v16" | "ocpp1.6" => Ok(Version::V16),
            "2.0.1" | "201" | "v201" | "ocpp2.0.1" => Ok(Version::V201),
            other => Err(format!("unknown OCPP version {other:?}; use 1.6 or 2.0.1")),
        }
    }
}

/// The CALLs a simulated charger sends. TransactionEvent is split by eventType so that each kind
/// gets its own latency figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    BootNotification,
    Heartbeat,
    StatusNotification,
    Authorize,
    StartTransaction,
    MeterValues,
    StopTransaction,
    TransactionEventStarted,
    TransactionEventUpdated,
    TransactionEventEnded,
}

impl Action {
    /// Indexed by `action as usize`.
    pub const ALL: [Action; 10] = [
        Action::BootNotification,
        Action::Heartbeat,
        Action::StatusNotification,
        Action::Authorize,
        Action::StartTransaction,
        Action::MeterValues,
        Action::StopTransaction,
        Action::TransactionEventStarted,
        Action::TransactionEventUpdated,
        Action::TransactionEventEnded,
    ];

    /// The OCPP action name on the wire.
    pub fn wire_name(self) -> &'static str {
        match self {
            Action::TransactionEventStarted
            | Action::TransactionEventUpdated
            | Action::TransactionEventEnded => "TransactionEvent",
            other => other.label(),
        }
    }

    /// The name in statistics.
    pub fn label(self) -> &'static str {
        match self {
            Action::BootNotification => "BootNotification",
            Action::Heartbeat => "Heartbeat",
            Action::StatusNotification => "StatusNotification",
            Action::Authorize => "Authorize",
            Action::StartTransaction => "StartTransaction",
            Action::MeterValues => "MeterValues",
            Action::StopTransaction => "StopTransaction",
            Action::TransactionEventStarted => "TransactionEvent(Started)",
            Action::TransactionEventUpdated => "TransactionEvent(Updated)",
            Action::TransactionEventEnded => "TransactionEvent(Ended)",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.label() == label)
    }

    /// Messages that start, update or end a transaction (the issue's "transaction messages").
    pub fn is_transaction(self) -> bool {
        matches!(
            self,
            Action::StartTransaction
                | Action::StopTransaction
                | Action::TransactionEventStarted
                | Action::TransactionEventUpdated
                | Action::TransactionEventEnded
        )
    }
}

/// A CALL frame: `[2, "<id>", "<action>", <payload>]`.
pub fn call_frame(message_id: &str, action: &str, payload: &Value) -> String {
    Value::Array(vec![
        Value::from(2),
        Value::from(message_id),
        Value::from(action),
        payload.clone(),
    ])
    .to_string()
}

/// A CALLRESULT frame answering a CALL from the gateway.
pub fn call_result_frame(message_id: &str, payload: &Value) -> String {
    Value::Array(vec![
        Value::from(3),
        Value::from(message_id),
        payload.clone(),
    ])
    .to_string()
}

/// A CALLERROR frame answering a CALL from the gateway.
pub fn call_error_frame(message_id: &str, code: &str, description: &str) -> String {
    Value::Array(vec![
        Value::from(4),
        Value::from(message_id),
        Value::from(code),
        Value::from(description),
        Value::Object(Default::default()),
    ])
    .to_string()
}

/// A frame received from the gateway.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Call {
        id: String,
        action: String,
        payload: Value,
    },
    Result {
        id: String,
        payload: Value,
    },
    Error {
        id: String,
        code: String,
        description: String,
    },
}

/// Reads a frame the gateway sent; `Err` describes what is wrong with it.
pub fn parse_incoming(text: &str) -> Result<Incoming, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(mut items) = value else {
        return Err("not a JSON array".into());
    };
    let kind = items.first().and_then(Value::as_u64);
    let id = match items.get(1) {
        Some(Value::String(id)) => id.clone(),
        _ => return Err("message id is not a string".into()),
    };
    match (kind, items.len()) {
        (Some(2), 4) => {
            let payload = items.pop().unwrap_or_default();
            let action = items[2]
                .as_str()
                .ok_or("action is not a string")?
                .to_owned();
            Ok(Incoming::Call {
                id,
                action,
                payload,
            })
        }
        (Some(3), 3) => Ok(Incoming::Result {
            id,
            payload: items.pop().unwrap_or_default(),
        }),
        (Some(4), 4 | 5) => Ok(Incoming::Error {
            id,
            code: items[2].as_str().unwrap_or_default().to_owned(),
            description: items[3].as_str().unwrap_or_default().to_owned(),
        }),
        _ => Err(format!(
            "unknown message type {:?} with {} elements",
            items.first(),
            items.len()
        )),
    }
}

/// What a simulated charger answers to a command from the gateway: it accepts the commands a
/// charge point commonly supports (as a real one would when idle) and reports the rest as
/// NotImplemented. `Err` holds the CALLERROR code.
pub fn answer_command(version: Version, action: &str) -> Result<Value, &'static str> {
    let accepted = serde_json::json!({ "status": "Accepted" });
    match (version, action) {
        (
            Version::V16,
            "RemoteStartTransaction"
            | "RemoteStopTransaction"
            | "ReserveNow"
            | "CancelReservation"
            | "ChangeAvailability"
            | "TriggerMessage"
            | "SetChargingProfile"
            | "DataTransfer"
            | "ChangeConfiguration"
            | "ClearCache"
            | "UnlockConnector"
            | "Reset",
        ) => Ok(accepted),
        (
            Version::V201,
            "RequestStartTransaction"
            | "RequestStopTransaction"
            | "ReserveNow"
            | "CancelReservation"
            | "ChangeAvailability"
            | "TriggerMessage"
            | "SetChargingProfile"
            | "DataTransfer"
            | "UnlockConnector"
            | "Reset",
        ) => Ok(accepted),
        (Version::V201, "CostUpdated") => Ok(serde_json::json!({})),
        (Version::V16, "GetConfiguration") => Ok(serde_json::json!({ "configurationKey": [] })),
        _ => Err("NotImplemented"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_call_frame_is_the_ocpp_j_array() {
        let frame = call_frame("17", "Heartbeat", &json!({}));
        assert_eq!(frame, r#"[2,"17","Heartbeat",{}]"#);
        let frame = call_frame("a\"b", "Authorize", &json!({"idTag": "04A2\u{e9}"}));
        let back: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            back,
            json!([2, "a\"b", "Authorize", {"idTag": "04A2\u{e9}"}])
        );
    }

    #[test]
    fn answers_to_the_gateway_are_framed() {
        assert_eq!(
            call_result_frame("x1", &json!({"status": "Accepted"})),
            r#"[3,"x1",{"status":"Accepted"}]"#
        );
        assert_eq!(
            call_error_frame("x2", "NotImplemented", "no"),
            r#"[4,"x2","NotImplemented","no",{}]"#
        );
    }

    #[test]
    fn incoming_frames_are_told_apart() {
        assert_eq!(
            parse_incoming(r#"[3,"5",{"currentTime":"2024-01-01T00:00:00Z"}]"#),
            Ok(Incoming::Result {
                id: "5".into(),
                payload: json!({"currentTime": "2024-01-01T00:00:00Z"})
            })
        );
        assert_eq!(
            parse_incoming(r#"[4,"6","InternalError","bus down",{}]"#),
            Ok(Incoming::Error {
                id: "6".into(),
                code: "InternalError".into(),
                description: "bus down".into()
            })
        );
        assert_eq!(
            parse_incoming(r#"[2,"g1","RemoteStopTransaction",{"transactionId":7}]"#),
            Ok(Incoming::Call {
                id: "g1".into(),
                action: "RemoteStopTransaction".into(),
                payload: json!({"transactionId": 7})
            })
        );
        assert!(parse_incoming("{}").is_err());
        assert!(parse_incoming(r#"[3,5,{}]"#).is_err());
        assert!(parse_incoming(r#"[9,"1",{}]"#).is_err());
        assert!(parse_incoming("not json").is_err());
    }

    #[test]
    fn commands_are_accepted_per_version() {
        assert!(answer_command(Version::V16, "RemoteStopTransaction").is_ok());
        assert_eq!(
            answer_command(Version::V16, "RequestStopTransaction"),
            Err("NotImplemented")
        );
        assert_eq!(answer_command(Version::V201, "CostUpdated"), Ok(json!({})));
    }

    #[test]
    fn labels_round_trip_and_index_all() {
        for (i, a) in Action::ALL.into_iter().enumerate() {
            assert_eq!(a as usize, i);
            assert_eq!(Action::from_label(a.label()), Some(a));
        }
        assert_eq!(
            Action::TransactionEventEnded.wire_name(),
            "TransactionEvent"
        );
        assert!(Action::TransactionEventUpdated.is_transaction());
        assert!(!Action::MeterValues.is_transaction());
    }
}
