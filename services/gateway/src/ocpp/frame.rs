//! OCPP-J framing (OCPP-J 1.6 §4, shared in shape by 2.0.1): `[2,id,action,payload]` CALL,
//! `[3,id,payload]` CALLRESULT, `[4,id,code,description,details]` CALLERROR.
//!
//! Parsing never fails silently: a frame that cannot be read becomes a [`FrameError`] that the
//! connection answers with a CALLERROR, and the connection stays open.

use serde_json::{Value, json};

/// The message id used in a CALLERROR when the offending frame's own id cannot be read (OCPP-J §4.2.3).
pub const UNKNOWN_MESSAGE_ID: &str = "-1";

const CALL: u64 = 2;
const CALL_RESULT: u64 = 3;
const CALL_ERROR: u64 = 4;

/// CALLERROR codes, with their OCPP 1.6 spelling. (2.0.1 renames `FormationViolation` to
/// `FormatViolation` and fixes `OccurenceConstraintViolation`; its module maps the names.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The action is not known to the receiver.
    NotImplemented,
    /// The action is recognised but not supported.
    NotSupported,
    /// An internal error stopped the receiver from processing the action; retrying may succeed.
    InternalError,
    /// The payload for the action is incomplete, or the frame is not an OCPP-J frame.
    ProtocolError,
    /// The payload is syntactically incorrect or not conform to the PDU structure.
    FormationViolation,
    /// A field holds an invalid value.
    PropertyConstraintViolation,
    /// A field violates occurrence constraints.
    OccurenceConstraintViolation,
    /// A field violates data type constraints (`"somestring": 12`).
    TypeConstraintViolation,
    GenericError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::NotSupported => "NotSupported",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ProtocolError => "ProtocolError",
            ErrorCode::FormationViolation => "FormationViolation",
            ErrorCode::PropertyConstraintViolation => "PropertyConstraintViolation",
            ErrorCode::OccurenceConstraintViolation => "OccurenceConstraintViolation",
            ErrorCode::TypeConstraintViolation => "TypeConstraintViolation",
            ErrorCode::GenericError => "GenericError",
        }
    }
}

/// A request from the charger.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: String,
    pub action: String,
    pub payload: Value,
}

/// A frame received from the charger.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Call(Call),
    /// An answer to a CALL the gateway sent.
    CallResult {
        id: String,
        payload: Value,
    },
    /// An error answer to a CALL the gateway sent.
    CallError {
        id: String,
        code: String,
        description: String,
    },
}

/// A frame that cannot be read; answered with a CALLERROR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {description}")]
pub struct FrameError {
    /// The frame's message id, when it could be read.
    pub id: Option<String>,
    pub code: ErrorCode,
    pub description: String,
}

impl FrameError {
    fn new(id: Option<String>, code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            id,
            code,
            description: description.into(),
        }
    }

    /// The CALLERROR that answers this frame.
    pub fn to_call_error(&self) -> String {
        call_error(
            self.id.as_deref().unwrap_or(UNKNOWN_MESSAGE_ID),
            self.code,
            &self.description,
        )
    }
}

/// Parses one WebSocket text message as an OCPP-J frame.
///
/// JSON has no `NaN` or `Infinity`, but chargers whose software writes JSON with Python's default
/// encoder send them; such a frame is read with those words as strings, so that a transaction
/// message carrying them is still acknowledged and the value flagged as out of its domain. A frame
/// that is still not JSON (or nests deeper than 128 levels) is answered with a CALLERROR bearing
/// its message id when the id can be read from its start.
pub fn parse(text: &str) -> Result<Frame, FrameError> {
    let value: Value = serde_json::from_str(text)
        .or_else(|e| {
            quote_non_finite(text)
                .and_then(|quoted| serde_json::from_str(&quoted).ok())
                .ok_or(e)
        })
        .map_err(|e| {
            FrameError::new(
                leading_id(text),
                ErrorCode::FormationViolation,
                format!("frame is not valid JSON: {e}"),
            )
        })?;
    let Value::Array(items) = value else {
        return Err(FrameError::new(
            None,
            ErrorCode::ProtocolError,
            "frame must be a JSON array",
        ));
    };
    let id = items.get(1).and_then(message_id);
    let type_id = items.first().and_then(Value::as_u64).ok_or_else(|| {
        FrameError::new(
            id.clone(),
            ErrorCode::ProtocolError,
            "frame must start with a message type id",
        )
    })?;
    let Some(id) = id else {
        return Err(FrameError::new(
            None,
            ErrorCode::ProtocolError,
            "message id must be a string",
        ));
    };
    let expect_len = |len: usize| {
        if items.len() == len {
            Ok(())
        } else {
            Err(FrameError::new(
                Some(id.clone()),
                ErrorCode::ProtocolError,
                format!(
                    "a frame of message type {type_id} has {len} elements, got {}",
                    items.len()
                ),
            ))
        }
    };
    match type_id {
        CALL => {
            expect_len(4)?;
            let action = items[2]
                .as_str()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    FrameError::new(
                        Some(id.clone()),
                        ErrorCode::ProtocolError,
                        "action must be a non-empty string",
                    )
                })?
                .to_owned();
            let payload = items[3].clone();
            if !payload.is_object() {
                return Err(FrameError::new(
                    Some(id),
                    ErrorCode::FormationViolation,
                    "payload must be a JSON object",
                ));
            }
            Ok(Frame::Call(Call {
                id,
                action,
                payload,
            }))
        }
        CALL_RESULT => {
            expect_len(3)?;
            Ok(Frame::CallResult {
                id,
                payload: items[2].clone(),
            })
        }
        CALL_ERROR => {
            // Some chargers leave out the details object; nothing depends on it.
            if !(4..=5).contains(&items.len()) {
                expect_len(5)?;
            }
            let text = |i: usize| {
                items
                    .get(i)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            Ok(Frame::CallError {
                id,
                code: text(2),
                description: text(3),
            })
        }
        other => Err(FrameError::new(
            Some(id),
            ErrorCode::ProtocolError,
            format!("unknown message type id {other}"),
        )),
    }
}

/// Message ids are strings; a charger that sends a number gets it answered as a string.
/// The text with every `NaN`, `Infinity` and `-Infinity` outside strings written as a string;
/// `None` when there is none.
fn quote_non_finite(text: &str) -> Option<String> {
    const WORDS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let mut out = String::with_capacity(text.len().saturating_add(16));
    let mut rest = text;
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    while let Some(c) = rest.chars().next() {
        if !in_string && let Some(word) = WORDS.iter().find(|w| rest.starts_with(**w)) {
            out.push('"');
            out.push_str(word);
            out.push('"');
            rest = &rest[word.len()..];
            changed = true;
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    changed.then_some(out)
}

/// The message id of a frame that is not JSON as a whole, read from its start: `[2,"id",...`.
fn leading_id(text: &str) -> Option<String> {
    let rest = text.trim_start().strip_prefix('[')?.trim_start();
    let rest = rest
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    let rest = rest.strip_prefix(',')?.trim_start();
    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
    match de.next() {
        Some(Ok(id)) if id.chars().count() <= 36 => Some(id),
        _ => None,
    }
}

fn message_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `[3,id,payload]`
pub fn call_result(id: &str, payload: Value) -> String {
    json!([CALL_RESULT, id, payload]).to_string()
}

/// `[4,id,code,description,{}]`
pub fn call_error(id: &str, code: ErrorCode, description: &str) -> String {
    call_error_named(id, code.as_str(), description)
}

/// Like [`call_error`], with the code spelled as the connection's OCPP version spells it.
pub fn call_error_named(id: &str, code: &str, description: &str) -> String {
    json!([CALL_ERROR, id, code, description, {}]).to_string()
}

/// `[2,id,action,payload]`: a CALL from the gateway to the charger.
pub fn call(id: &str, action: &str, payload: &Value) -> String {
    json!([CALL, id, action, payload]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_call() {
        let frame =
            parse(r#"[2, "19223201", "BootNotification", {"chargePointVendor": "VendorX"}]"#)
                .unwrap();
        assert_eq!(
            frame,
            Frame::Call(Call {
                id: "19223201".into(),
                action: "BootNotification".into(),
                payload: json!({"chargePointVendor": "VendorX"}),
            })
        );
    }

    #[test]
    fn reads_results_and_errors_from_the_charger() {
        assert_eq!(
            parse(r#"[3,"a",{"status":"Accepted"}]"#).unwrap(),
            Frame::CallResult {
                id: "a".into(),
                payload: json!({"status": "Accepted"})
            }
        );
        assert_eq!(
            parse(r#"[4,"b","NotSupported","nope"]"#).unwrap(),
            Frame::CallError {
                id: "b".into(),
                code: "NotSupported".into(),
                description: "nope".into()
            }
        );
    }

    #[test]
    fn non_finite_numbers_are_read_as_strings() {
        let frame = parse(
            r#"[2,"m1","MeterValues",{"a":NaN,"b":[Infinity,-Infinity],"c":"NaN in a \" string"}]"#,
        )
        .unwrap();
        let Frame::Call(call) = frame else {
            panic!("{frame:?}")
        };
        assert_eq!(
            call.payload,
            json!({"a": "NaN", "b": ["Infinity", "-Infinity"], "c": "NaN in a \" string"})
        );
    }

    #[test]
    fn a_frame_too_deep_to_read_is_answered_with_its_id() {
        let deep = format!(
            r#"[2,"deep-1","MeterValues",{{"a":{}1{}}}]"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let err = parse(&deep).unwrap_err();
        assert_eq!(
            (err.id.as_deref(), err.code),
            (Some("deep-1"), ErrorCode::FormationViolation)
        );
        // 100 levels are read.
        let nested = format!(
            r#"[2,"n","MeterValues",{{"a":{}1{}}}]"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(parse(&nested).is_ok());
    }

    #[test]
    fn invalid_json_is_a_formation_violation_without_id() {
        let err = parse(r#"{"2","1","Heartbeat","#).unwrap_err();
        assert_eq!(
            (err.id.as_deref(), err.code),
            (None, ErrorCode::FormationViolation)
        );
        let answer: Value = serde_json::from_str(&err.to_call_error()).unwrap();
        assert_eq!(answer[0], 4);
        assert_eq!(answer[1], "-1");
        assert_eq!(answer[2], "FormationViolation");
        assert_eq!(answer[4], json!({}));
    }

    #[test]
    fn wrong_shapes_are_protocol_errors_keeping_the_id_when_readable() {
        let cases = [
            (r#"{"not": "an array"}"#, None),
            (r#"[]"#, None),
            (r#"["2","x","Heartbeat",{}]"#, Some("x")),
            (r#"[2,{},"Heartbeat",{}]"#, None),
            (r#"[2,"x","Heartbeat"]"#, Some("x")),
            (r#"[2,"x",7,{}]"#, Some("x")),
            (r#"[9,"x","Heartbeat",{}]"#, Some("x")),
        ];
        for (text, id) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.code, ErrorCode::ProtocolError, "{text}");
            assert_eq!(err.id.as_deref(), id, "{text}");
        }
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_a_formation_violation() {
        let err = parse(r#"[2,"x","Heartbeat",[]]"#).unwrap_err();
        assert_eq!(
            (err.id.as_deref(), err.code),
            (Some("x"), ErrorCode::FormationViolation)
        );
    }

    #[test]
    fn numeric_message_ids_are_answered_as_strings() {
        let Frame::Call(call) = parse(r#"[2,17,"Heartbeat",{}]"#).unwrap() else {
            panic!("not a call")
        };
        assert_eq!(call.id, "17");
    }

    #[test]
    fn answers_are_ocpp_j_frames() {
        assert_eq!(call_result("7", json!({})), r#"[3,"7",{}]"#);
        assert_eq!(
            call_error("7", ErrorCode::NotImplemented, "unknown action Foo"),
            r#"[4,"7","NotImplemented","unknown action Foo",{}]"#
        );
    }
}
