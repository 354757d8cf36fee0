//! Lenient reading of OCPP payload fields, and the one way the gateway writes a dateTime
//! ([`ocpp_time`]).
//!
//! Chargers in the field send numbers as strings, ids beyond 32 bits, single objects where arrays are
//! expected and timestamps without a zone. Everything that still has one clear meaning is accepted;
//! anything else is a [`PayloadError`] that names the field (with its path, such as
//! `meterValue[0].sampledValue[1].value`) and carries the OCPP error code to answer with.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use joule_domain::bounds::{self, OutOfRange};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::ocpp::frame::ErrorCode;

/// A payload that does not fit its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PayloadError {
    pub code: ErrorCode,
    pub field: String,
    pub reason: String,
}

/// A JSON object inside a payload, with its path for error messages.
#[derive(Debug, Clone)]
pub struct Object<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Object<'a> {
    /// The payload itself, which must be an object.
    pub fn root(payload: &'a Value) -> Result<Self, PayloadError> {
        match payload {
            Value::Object(map) => Ok(Self {
                map,
                path: String::new(),
            }),
            _ => Err(PayloadError {
                code: ErrorCode::FormationViolation,
                field: "payload".into(),
                reason: "must be a JSON object".into(),
            }),
        }
    }

    fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn error(&self, code: ErrorCode, name: &str, reason: impl Into<String>) -> PayloadError {
        PayloadError {
            code,
            field: self.path_of(name),
            reason: reason.into(),
        }
    }

    fn missing(&self, name: &str) -> PayloadError {
        self.error(
            ErrorCode::FormationViolation,
            name,
            "required field is missing",
        )
    }

    /// The field's value; an explicit `null` counts as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn required<T>(
        &self,
        name: &str,
        read: impl Fn(&Self, &'a Value) -> Result<T, PayloadError>,
    ) -> Result<T, PayloadError> {
        let value = self.get(name).ok_or_else(|| self.missing(name))?;
        read(self, value)
    }

    fn optional<T>(
        &self,
        name: &str,
        read: impl Fn(&Self, &'a Value) -> Result<T, PayloadError>,
    ) -> Result<Option<T>, PayloadError> {
        self.get(name).map(|value| read(self, value)).transpose()
    }

    pub fn string(&self, name: &str) -> Result<String, PayloadError> {
        self.required(name, |o, v| o.as_string(name, v))
    }

    pub fn opt_string(&self, name: &str) -> Result<Option<String>, PayloadError> {
        self.optional(name, |o, v| o.as_string(name, v))
    }

    /// A string of at most `max` characters (non-transaction messages: longer is a
    /// PropertyConstraintViolation).
    pub fn bounded_string(&self, name: &str, max: usize) -> Result<String, PayloadError> {
        let s = self.string(name)?;
        self.within(name, s, max)
    }

    pub fn opt_bounded_string(
        &self,
        name: &str,
        max: usize,
    ) -> Result<Option<String>, PayloadError> {
        self.opt_string(name)?
            .map(|s| self.within(name, s, max))
            .transpose()
    }

    fn within(&self, name: &str, s: String, max: usize) -> Result<String, PayloadError> {
        bounds::text(name, &s, max)
            .map_err(|e| self.error(ErrorCode::PropertyConstraintViolation, name, e.reason))?;
        Ok(s)
    }

    /// An array of objects of at most `max` items (non-transaction messages: more is an
    /// OccurenceConstraintViolation).
    pub fn bounded_objects(&self, name: &str, max: usize) -> Result<Vec<Object<'a>>, PayloadError> {
        let items = self.objects(name)?;
        bounds::list_len(name, items.len(), max).map_err(|_| {
            self.error(
                ErrorCode::OccurenceConstraintViolation,
                name,
                format!("more than {max} items"),
            )
        })?;
        Ok(items)
    }

    fn as_string(&self, name: &str, value: &Value) -> Result<String, PayloadError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            // An idTag or a meter value sent as a JSON number still has exactly one text form.
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(self.error(
                ErrorCode::TypeConstraintViolation,
                name,
                "expected a string",
            )),
        }
    }

    /// A decimal number, given as a JSON number or a numeric string.
    pub fn decimal(&self, name: &str) -> Result<Decimal, PayloadError> {
        self.required(name, |o, v| o.as_decimal(name, v))
    }

    fn as_decimal(&self, name: &str, value: &Value) -> Result<Decimal, PayloadError> {
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_owned(),
            _ => {
                return Err(self.error(
                    ErrorCode::TypeConstraintViolation,
                    name,
                    "expected a number",
                ));
            }
        };
        parse_decimal(&text).ok_or_else(|| {
            self.error(
                ErrorCode::TypeConstraintViolation,
                name,
                "expected a number",
            )
        })
    }

    pub fn opt_decimal(&self, name: &str) -> Result<Option<Decimal>, PayloadError> {
        self.optional(name, |o, v| o.as_decimal(name, v))
    }

    /// A boolean; `"true"` and `"false"` as strings count too.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, PayloadError> {
        self.optional(name, |o, v| match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(o.error(
                ErrorCode::TypeConstraintViolation,
                name,
                "expected a boolean",
            )),
        })
    }

    /// A nested object.
    pub fn object(&self, name: &str) -> Result<Object<'a>, PayloadError> {
        self.required(name, |o, v| o.as_object(name, v))
    }

    pub fn opt_object(&self, name: &str) -> Result<Option<Object<'a>>, PayloadError> {
        self.optional(name, |o, v| o.as_object(name, v))
    }

    fn as_object(&self, name: &str, value: &'a Value) -> Result<Object<'a>, PayloadError> {
        match value {
            Value::Object(map) => Ok(Object {
                map,
                path: self.path_of(name),
            }),
            _ => Err(self.error(
                ErrorCode::TypeConstraintViolation,
                name,
                "expected an object",
            )),
        }
    }

    /// A whole number of any size, as its canonical decimal text (transaction ids beyond 32 bits).
    pub fn integer_text(&self, name: &str) -> Result<String, PayloadError> {
        self.required(name, |o, v| o.as_integer_text(name, v))
    }

    pub fn opt_integer_text(&self, name: &str) -> Result<Option<String>, PayloadError> {
        self.optional(name, |o, v| o.as_integer_text(name, v))
    }

    fn as_integer_text(&self, name: &str, value: &Value) -> Result<String, PayloadError> {
        let d = self.as_decimal(name, value).map_err(|_| {
            self.error(
                ErrorCode::TypeConstraintViolation,
                name,
                "expected an integer",
            )
        })?;
        if d.fract().is_zero() {
            Ok(d.trunc().normalize().to_string())
        } else {
            Err(self.error(
                ErrorCode::TypeConstraintViolation,
                name,
                "expected an integer",
            ))
        }
    }

    /// A connector id: a whole number from 0 to 2^32 - 1.
    pub fn connector_id(&self, name: &str) -> Result<u32, PayloadError> {
        let text = self.integer_text(name)?;
        text.parse::<u32>().map_err(|_| {
            self.error(
                ErrorCode::PropertyConstraintViolation,
                name,
                "must be between 0 and 4294967295",
            )
        })
    }

    pub fn opt_connector_id(&self, name: &str) -> Result<Option<u32>, PayloadError> {
        match self.get(name) {
            None => Ok(None),
            Some(_) => self.connector_id(name).map(Some),
        }
    }

    /// A signed 32-bit integer (OCPP `integer`), given as a number or a numeric string.
    pub fn opt_i32(&self, name: &str) -> Result<Option<i32>, PayloadError> {
        match self.get(name) {
            None => Ok(None),
            Some(_) => self
                .integer_text(name)?
                .parse::<i32>()
                .map(Some)
                .map_err(|_| {
                    self.error(
                        ErrorCode::PropertyConstraintViolation,
                        name,
                        "must fit a 32-bit integer",
                    )
                }),
        }
    }

    pub fn timestamp(&self, name: &str) -> Result<DateTime<Utc>, PayloadError> {
        self.required(name, |o, v| o.as_timestamp(name, v))
    }

    pub fn opt_timestamp(&self, name: &str) -> Result<Option<DateTime<Utc>>, PayloadError> {
        self.optional(name, |o, v| o.as_timestamp(name, v))
    }

    fn as_timestamp(&self, name: &str, value: &Value) -> Result<DateTime<Utc>, PayloadError> {
        value.as_str().and_then(parse_timestamp).ok_or_else(|| {
            self.error(
                ErrorCode::TypeConstraintViolation,
                name,
                "expected an RFC 3339 date-time",
            )
        })
    }

    /// An array of objects; a single object counts as an array of one.
    pub fn objects(&self, name: &str) -> Result<Vec<Object<'a>>, PayloadError> {
        self.required(name, |o, v| o.as_objects(name, v))
    }

    /// Like [`Object::objects`], empty when the field is absent.
    pub fn opt_objects(&self, name: &str) -> Result<Vec<Object<'a>>, PayloadError> {
        Ok(self
            .optional(name, |o, v| o.as_objects(name, v))?
            .unwrap_or_default())
    }

    fn as_objects(&self, name: &str, value: &'a Value) -> Result<Vec<Object<'a>>, PayloadError> {
        let not_object = |path: String| PayloadError {
            code: ErrorCode::TypeConstraintViolation,
            field: path,
            reason: "expected an object".into(),
        };
        match value {
            Value::Object(map) => Ok(vec![Object {
                map,
                path: self.path_of(name),
            }]),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let path = format!("{}[{i}]", self.path_of(name));
                    match item {
                        Value::Object(map) => Ok(Object { map, path }),
                        _ => Err(not_object(path)),
                    }
                })
                .collect(),
            _ => Err(self.error(
                ErrorCode::TypeConstraintViolation,
                name,
                "expected an array of objects",
            )),
        }
    }
}

/// What a lenient reading of a transaction message could not use. A transaction message is never
/// refused for its content (the energy would be lost to billing): each unreadable field is left out
/// and becomes a flag `unreadable_field:<path>` on the events it produces.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems(Vec<String>);

/// Flags one message may raise.
pub const PROBLEMS_MAX: usize = 64;

impl Problems {
    /// The value, or `None` with the problem noted.
    pub fn take<T>(&mut self, read: Result<T, PayloadError>) -> Option<T> {
        match read {
            Ok(value) => Some(value),
            Err(e) => {
                self.note(&e);
                None
            }
        }
    }

    /// Like [`Problems::take`] for optional fields.
    pub fn take_opt<T>(&mut self, read: Result<Option<T>, PayloadError>) -> Option<T> {
        self.take(read).flatten()
    }

    pub fn note(&mut self, error: &PayloadError) {
        let flag = format!("unreadable_field:{}", error.field);
        if !self.0.contains(&flag) {
            self.0.push(flag);
        }
    }

    pub fn push(&mut self, flag: impl Into<String>) {
        let flag = flag.into();
        if self.0.contains(&flag) {
            return;
        }
        match self.0.len() {
            n if n < PROBLEMS_MAX => self.0.push(flag),
            // One flag says the rest was left out; a message's flags stay a short list.
            PROBLEMS_MAX => self.0.push(
                OutOfRange::new(
                    "flags",
                    &PROBLEMS_MAX.to_string(),
                    format!("more than {PROBLEMS_MAX} problems in one message; the rest left out"),
                )
                .flag(),
            ),
            _ => {}
        }
    }

    /// Notes a value outside its domain (`joule_domain::bounds`).
    pub fn out_of_range(&mut self, e: &OutOfRange) {
        self.push(e.flag());
    }

    /// An energy register in Wh inside its domain, from the text as sent; `None`, flagged,
    /// otherwise.
    pub fn register(&mut self, quantity: &str, text: &str) -> Option<Decimal> {
        bounds::energy_register(quantity, text)
            .map(|e| e.wh())
            .map_err(|e| self.out_of_range(&e))
            .ok()
    }

    /// A text of at most `max` characters; a longer one is cut, flagged.
    pub fn text(&mut self, quantity: &str, text: String, max: usize) -> String {
        match bounds::text(quantity, &text, max) {
            Ok(_) => text,
            Err(e) => {
                self.out_of_range(&e);
                text.chars().take(max).collect()
            }
        }
    }

    /// An identifier (idTag, idToken, transactionId) of at most
    /// [`bounds::IDENTIFIER_MAX_LEN`] characters. A longer one is flagged and replaced by its
    /// first 32 characters and a digest of the whole: the same id gives the same replacement, so
    /// the events of one transaction stay together.
    pub fn identifier(&mut self, quantity: &str, id: String) -> String {
        match bounds::text(quantity, &id, bounds::IDENTIFIER_MAX_LEN) {
            Ok(_) => id,
            Err(e) => {
                self.out_of_range(&e);
                let digest = format!("{:x}", Sha256::digest(id.as_bytes()));
                let head: String = id.chars().take(32).collect();
                format!("{head}~{}", &digest[..16])
            }
        }
    }

    /// The first `max` items of a list, the rest flagged.
    pub fn list<T>(&mut self, quantity: &str, mut items: Vec<T>, max: usize) -> Vec<T> {
        if let Err(e) = bounds::list_len(quantity, items.len(), max) {
            self.out_of_range(&e);
            items.truncate(max);
        }
        items
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn flags(&self) -> &[String] {
        &self.0
    }

    pub fn into_flags(self) -> Vec<String> {
        self.0
    }
}

/// A decimal in plain or scientific notation (`"1234.5"`, `1.2345e3`).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str(text)
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

/// RFC 3339, or the same without a zone (taken as UTC, as such chargers mean it) or with a `+hhmm` offset.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// dateTime as OCPP writes it: UTC, milliseconds, `Z`.
pub fn ocpp_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn numbers_are_read_from_strings_and_numbers() {
        let payload = json!({"a": "1234.5", "b": 12, "c": "1e3", "d": "twelve"});
        let o = Object::root(&payload).unwrap();
        assert_eq!(o.decimal("a").unwrap(), dec!(1234.5));
        assert_eq!(o.decimal("b").unwrap(), dec!(12));
        assert_eq!(o.decimal("c").unwrap(), dec!(1000));
        let err = o.decimal("d").unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::TypeConstraintViolation, "d")
        );
    }

    #[test]
    fn integers_beyond_32_bits_keep_every_digit() {
        let payload =
            json!({"a": 5_000_000_000u64, "b": "18446744073709551615", "c": "7.0", "d": 7.5});
        let o = Object::root(&payload).unwrap();
        assert_eq!(o.integer_text("a").unwrap(), "5000000000");
        assert_eq!(o.integer_text("b").unwrap(), "18446744073709551615");
        assert_eq!(o.integer_text("c").unwrap(), "7");
        assert_eq!(
            o.integer_text("d").unwrap_err().code,
            ErrorCode::TypeConstraintViolation
        );
    }

    #[test]
    fn missing_fields_and_wrong_types_name_the_field() {
        let payload = json!({"connectorId": true, "idTag": {}, "n": null});
        let o = Object::root(&payload).unwrap();
        let err = o.string("meterStart").unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::FormationViolation, "meterStart")
        );
        assert_eq!(
            o.connector_id("connectorId").unwrap_err().code,
            ErrorCode::TypeConstraintViolation
        );
        assert_eq!(
            o.string("idTag").unwrap_err().code,
            ErrorCode::TypeConstraintViolation
        );
        assert_eq!(
            o.string("n").unwrap_err().code,
            ErrorCode::FormationViolation
        );
        assert_eq!(o.opt_string("n").unwrap(), None);
    }

    #[test]
    fn connector_ids_must_fit_32_bits() {
        let payload = json!({"a": "4294967296", "b": -1, "c": "3"});
        let o = Object::root(&payload).unwrap();
        assert_eq!(
            o.connector_id("a").unwrap_err().code,
            ErrorCode::PropertyConstraintViolation
        );
        assert_eq!(
            o.connector_id("b").unwrap_err().code,
            ErrorCode::PropertyConstraintViolation
        );
        assert_eq!(o.connector_id("c").unwrap(), 3);
    }

    #[test]
    fn a_single_object_counts_as_an_array_and_paths_are_nested() {
        let payload = json!({"meterValue": {"sampledValue": [{"value": "1"}, 3]}});
        let o = Object::root(&payload).unwrap();
        let values = o.objects("meterValue").unwrap();
        assert_eq!(values.len(), 1);
        let err = values[0].objects("sampledValue").unwrap_err();
        assert_eq!(err.field, "meterValue.sampledValue[1]");
        assert!(o.opt_objects("transactionData").unwrap().is_empty());
    }

    #[test]
    fn timestamps_with_and_without_zones() {
        let utc = |s| parse_timestamp(s).unwrap().to_rfc3339();
        assert_eq!(utc("2024-03-01T10:00:00Z"), "2024-03-01T10:00:00+00:00");
        assert_eq!(
            utc("2024-03-01T11:00:00.000+01:00"),
            "2024-03-01T10:00:00+00:00"
        );
        assert_eq!(utc("2024-03-01T11:00:00+0100"), "2024-03-01T10:00:00+00:00");
        assert_eq!(utc("2024-03-01T10:00:00"), "2024-03-01T10:00:00+00:00");
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
