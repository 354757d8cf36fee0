//! Every OCPP transaction message (1.6 StartTransaction, MeterValues, StopTransaction; 2.0.1
//! TransactionEvent Started / Updated / Ended, MeterValues) with extreme numbers and strings, as
//! frames: each is read (never refused), every value it passes on lies inside its domain
//! (`joule_domain::bounds`), and each value outside is flagged.

use chrono::{DateTime, Utc};
use joule_domain::bounds;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::ocpp::frame::{self, Frame};
use crate::ocpp::meter;
use crate::ocpp::{v16, v201};

fn received() -> DateTime<Utc> {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

/// A JSON value a hostile charger puts where a number belongs, and whether it is a register
/// inside 0..=10^12 Wh.
fn register() -> impl Strategy<Value = (Value, bool)> {
    prop_oneof![
        3 => (0u64..=1_000_000_000_000).prop_map(|wh| (json!(wh), true)),
        1 => (0u64..=1_000_000_000_000).prop_map(|wh| (json!(wh.to_string()), true)),
        1 => Just((json!("-79228162514264337593543950335"), false)),
        1 => Just((json!("79228162514264337593543950335"), false)),
        1 => Just((json!(1e300), false)),
        1 => Just((json!(-1e300), false)),
        1 => Just((json!("NaN"), false)),
        1 => Just((json!("Infinity"), false)),
        1 => Just((json!("-Infinity"), false)),
        1 => Just((json!("1e1000000"), false)),
        1 => Just((json!("1000000000000000000000000000000"), false)),
        1 => Just((json!(-1), false)),
        1 => Just((json!("9".repeat(5001)), false)),
        1 => (1_000_000_000_001u64..).prop_map(|wh| (json!(wh), false)),
    ]
}

/// A string of any length, often too long (100,000 characters are tried in the tests below).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9.]{0,20}",
        (0usize..3).prop_map(|n| "x".repeat([100, 300, 5001][n])),
        ".{0,40}",
    ]
}

fn time() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2026-11-21T11:00:00Z".to_owned()),
        Just("9999-12-31T23:59:59Z".to_owned()),
        Just("0001-01-01T00:00:00Z".to_owned()),
        Just("1970-01-01T00:00:00Z".to_owned()),
        Just("+262143-01-01T00:00:00Z".to_owned()),
        text(),
    ]
}

fn sampled_value(v201: bool) -> impl Strategy<Value = Value> {
    (
        register(),
        prop_oneof![
            Just("Energy.Active.Import.Register".to_owned()),
            Just("Power.Active.Import".to_owned()),
            Just("SoC".to_owned()),
            Just("Voltage".to_owned()),
            text(),
        ],
        prop_oneof![Just("Wh".to_owned()), Just("kWh".to_owned()), text()],
        prop_oneof![
            Just("Transaction.Begin".to_owned()),
            Just("Transaction.End".to_owned()),
            text()
        ],
        prop_oneof![
            Just(0i64),
            Just(3),
            Just(-3),
            Just(i64::from(i32::MAX)),
            Just(1 << 40)
        ],
    )
        .prop_map(move |((value, _), measurand, unit, context, multiplier)| {
            if v201 {
                json!({"value": value, "measurand": measurand, "context": context,
                       "unitOfMeasure": {"unit": unit, "multiplier": multiplier}})
            } else {
                let value = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                json!({"value": value, "measurand": measurand, "unit": unit, "context": context})
            }
        })
}

fn meter_values(v201: bool) -> impl Strategy<Value = Value> {
    let one = move || {
        (time(), proptest::collection::vec(sampled_value(v201), 0..4)).prop_map(
            |(timestamp, sampled)| json!({"timestamp": timestamp, "sampledValue": sampled}),
        )
    };
    // 100,000 samples are tried once each below, not in every case: they take seconds.
    proptest::collection::vec(one(), 0..4).prop_map(Value::Array)
}

/// 100,000 small samples: as many meter values, or as many sampled values in one meter value.
fn huge(v201: bool, meter_values: bool) -> Value {
    let sample = if v201 {
        json!({"value": 1, "unitOfMeasure": {"unit": "Wh"}})
    } else {
        json!({"value": "1", "unit": "Wh"})
    };
    let at = "2026-11-21T11:00:00Z";
    if meter_values {
        Value::Array(vec![
            json!({"timestamp": at, "sampledValue": [sample]});
            100_000
        ])
    } else {
        json!([{"timestamp": at, "sampledValue": vec![sample; 100_000]}])
    }
}

/// How many sampled values a payload's meter values hold.
fn sampled_count(meter_values: &Value) -> usize {
    meter_values
        .as_array()
        .map(|mvs| {
            mvs.iter()
                .map(|mv| mv["sampledValue"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

/// The frame as a charger's JSON encoder writes it; non-finite numbers as bare words.
fn frame_text(action: &str, payload: &Value, non_finite: bool) -> String {
    let text = json!([2, "hostile-1", action, payload]).to_string();
    if non_finite {
        text.replace("\"NaN\"", "NaN")
            .replace("\"Infinity\"", "Infinity")
    } else {
        text
    }
}

fn read(action: &str, payload: &Value, non_finite: bool) -> Value {
    match frame::parse(&frame_text(action, payload, non_finite)) {
        Ok(Frame::Call(call)) => call.payload,
        other => panic!("{action} not read as a call: {other:?}"),
    }
}

fn in_domain(wh: Option<Decimal>) -> bool {
    wh.is_none_or(|wh| wh >= Decimal::ZERO && wh <= bounds::ENERGY_REGISTER_MAX_WH)
}

fn flagged(flags: &[String], field: &str) -> bool {
    flags.iter().any(|f| {
        f.starts_with(&format!("value_out_of_range:{field} "))
            || *f == format!("unreadable_field:{field}")
    })
}

fn check_samples(samples: &[meter::RawSample], flags: &[String], sent: usize) {
    assert!(samples.len() <= bounds::SAMPLED_VALUES_PER_MESSAGE_MAX);
    if sent > bounds::SAMPLED_VALUES_PER_MESSAGE_MAX {
        assert!(
            flags.iter().any(|f| f.starts_with("value_out_of_range:")),
            "{flags:?}"
        );
    }
    assert!(flags.len() <= crate::ocpp::payload::PROBLEMS_MAX + 1);
    let normalised: Vec<_> = samples.iter().map(meter::normalise).collect();
    for s in &normalised {
        assert!(s.value.chars().count() <= bounds::VALUE_TEXT_MAX_LEN);
        assert!(s.measurand.chars().count() <= bounds::TEXT_MAX_LEN);
        assert!(s.unit.chars().count() <= bounds::TEXT_MAX_LEN);
    }
    for context in [v201::TRANSACTION_BEGIN, v201::TRANSACTION_END] {
        assert!(in_domain(meter::register_in_context(&normalised, context)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn start_transaction_16(meter_start in register(), id_tag in text(), ts in time(), non_finite in any::<bool>()) {
        let payload = json!({"connectorId": 1, "idTag": id_tag, "meterStart": meter_start.0, "timestamp": ts});
        let req = v16::StartTransaction::parse(&read("StartTransaction", &payload, non_finite), received()).unwrap();
        prop_assert!(in_domain(req.meter_start_wh));
        prop_assert_eq!(req.meter_start_wh.is_some(), meter_start.1);
        if !meter_start.1 {
            prop_assert!(flagged(req.problems.flags(), "meterStart"), "{:?}", req.problems);
        }
        prop_assert!(req.id_tag.chars().count() <= bounds::IDENTIFIER_MAX_LEN);
    }

    #[test]
    fn meter_values_16(mv in meter_values(false), non_finite in any::<bool>()) {
        let payload = json!({"connectorId": 1, "transactionId": 7, "meterValue": mv});
        let req = v16::MeterValues::parse(&read("MeterValues", &payload, non_finite), received()).unwrap();
        check_samples(&req.samples, req.problems.flags(), sampled_count(&mv));
    }

    #[test]
    fn stop_transaction_16(meter_stop in register(), reason in text(), ts in time(), data in meter_values(false)) {
        let payload = json!({"transactionId": 7, "meterStop": meter_stop.0, "timestamp": ts,
                             "reason": reason, "transactionData": data});
        let req = v16::StopTransaction::parse(&read("StopTransaction", &payload, true), received()).unwrap();
        prop_assert!(in_domain(req.meter_stop_wh));
        prop_assert_eq!(req.meter_stop_wh.is_some(), meter_stop.1);
        if !meter_stop.1 {
            prop_assert!(flagged(req.problems.flags(), "meterStop"), "{:?}", req.problems);
        }
        prop_assert!(req.reason.is_none_or(|r| r.chars().count() <= bounds::TEXT_MAX_LEN));
        check_samples(&req.transaction_data, req.problems.flags(), sampled_count(&data));
    }

    #[test]
    fn transaction_event_201(
        event_type in prop_oneof![Just("Started"), Just("Updated"), Just("Ended"), Just("Paused")],
        tx in text(),
        token in text(),
        seq in prop_oneof![Just(json!(u32::MAX)), Just(json!(-1)), Just(json!(1e300)), Just(json!(3))],
        ts in time(),
        mv in meter_values(true),
        non_finite in any::<bool>(),
    ) {
        let payload = json!({"eventType": event_type, "timestamp": ts, "triggerReason": tx.clone(),
                             "seqNo": seq, "transactionInfo": {"transactionId": tx, "stoppedReason": token.clone()},
                             "idToken": {"idToken": token, "type": "ISO14443"},
                             "evse": {"id": 1, "connectorId": 1}, "meterValue": mv});
        let req = v201::TransactionEvent::parse(&read("TransactionEvent", &payload, non_finite), received()).unwrap();
        prop_assert!(req.transaction_id.is_none_or(|t| t.chars().count() <= bounds::IDENTIFIER_MAX_LEN));
        prop_assert!(req.id_token.is_none_or(|t| t.id_token.chars().count() <= bounds::IDENTIFIER_MAX_LEN));
        prop_assert!(req.trigger_reason.chars().count() <= bounds::TEXT_MAX_LEN);
        check_samples(&req.samples, req.problems.flags(), sampled_count(&mv));
    }

    #[test]
    fn meter_values_201(mv in meter_values(true)) {
        let payload = json!({"evseId": 1, "meterValue": mv});
        let req = v201::MeterValues::parse(&read("MeterValues", &payload, true), received()).unwrap();
        check_samples(&req.samples, req.problems.flags(), sampled_count(&mv));
    }
}

#[test]
fn a_hundred_thousand_samples_are_cut_to_the_bounds() {
    for meter_values in [true, false] {
        let mv = huge(false, meter_values);
        let payload = json!({"connectorId": 1, "transactionId": 7, "meterValue": mv});
        let req =
            v16::MeterValues::parse(&read("MeterValues", &payload, false), received()).unwrap();
        check_samples(&req.samples, req.problems.flags(), 100_000);
        let mv = huge(true, meter_values);
        let payload = json!({"eventType": "Updated", "timestamp": "2026-11-21T11:00:00Z",
                             "triggerReason": "MeterValuePeriodic", "seqNo": 1,
                             "transactionInfo": {"transactionId": "T"}, "meterValue": mv});
        let req =
            v201::TransactionEvent::parse(&read("TransactionEvent", &payload, false), received())
                .unwrap();
        check_samples(&req.samples, req.problems.flags(), 100_000);
        assert!(!req.samples.is_empty());
    }
}

#[test]
fn non_transaction_messages_with_values_out_of_range_get_call_errors() {
    use crate::ocpp::frame::ErrorCode;
    let long = "x".repeat(300);
    let err = v16::Authorize::parse(&json!({"idTag": long})).unwrap_err();
    assert_eq!(err.code, ErrorCode::PropertyConstraintViolation);
    let err =
        v16::BootNotification::parse(&json!({"chargePointVendor": long, "chargePointModel": "M"}))
            .unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::PropertyConstraintViolation, "chargePointVendor")
    );
    let err = v201::IdToken::parse_in(&json!({"idToken": {"idToken": long}})).unwrap_err();
    assert_eq!(err.code, ErrorCode::PropertyConstraintViolation);
    let err = v16::StatusNotification::parse(
        &json!({"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": long}),
    )
    .unwrap_err();
    assert_eq!(err.field, "info");
}

#[test]
fn strings_of_a_hundred_thousand_characters_are_cut() {
    let long = "x".repeat(100_000);
    let payload = json!({"connectorId": 1, "idTag": long, "meterStart": long, "timestamp": long});
    let req = v16::StartTransaction::parse(&read("StartTransaction", &payload, false), received())
        .unwrap();
    assert!(req.id_tag.chars().count() <= bounds::IDENTIFIER_MAX_LEN);
    assert_eq!(req.meter_start_wh, None);
    assert!(flagged(req.problems.flags(), "meterStart"));
    assert!(
        req.problems.flags().iter().all(|f| f.len() < 400),
        "{:?}",
        req.problems
    );
    let mv = json!([{"timestamp": "2026-11-21T11:00:00Z", "sampledValue": [
        {"value": long, "measurand": long, "unit": long, "context": long, "phase": long}]}]);
    let payload = json!({"connectorId": 1, "transactionId": 7, "meterValue": mv});
    let req = v16::MeterValues::parse(&read("MeterValues", &payload, false), received()).unwrap();
    check_samples(&req.samples, req.problems.flags(), 1);
}

#[test]
fn a_long_transaction_id_keeps_its_events_together() {
    let long = "T".repeat(10_000);
    let event = |seq: u32| {
        v201::TransactionEvent::parse(
            &json!({"eventType": "Updated", "timestamp": "2026-11-21T11:00:00Z", "triggerReason": "MeterValuePeriodic",
                    "seqNo": seq, "transactionInfo": {"transactionId": long}}),
            received(),
        )
        .unwrap()
    };
    let (a, b) = (event(1), event(2));
    assert_eq!(a.transaction_id, b.transaction_id);
    assert!(a.transaction_id.unwrap().chars().count() <= bounds::IDENTIFIER_MAX_LEN);
    assert!(a.problems.flags()[0].starts_with("value_out_of_range:transactionId"));
}
