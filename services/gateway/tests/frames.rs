//! Property tests over OCPP frames: whatever a charger sends, the gateway does not panic, answers
//! every CALL exactly once with its message id, and never refuses a transaction message (no lost
//! transaction): each is acknowledged with a CALLRESULT and its event is on the CHARGER stream.

mod support;

use chrono::Utc;
use joule_gateway::ocpp::{frame, v16, v201};
use joule_proto::EventName;
use joule_proto::v1::TransactionStarted;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use support::{CP, Harness, of_type};

/// A field value as chargers send them: right, as a string, of the wrong type, or null.
fn field(valid: Value) -> impl Strategy<Value = Option<Value>> {
    let as_string = Value::String(match &valid {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    prop_oneof![
        4 => Just(Some(valid)),
        2 => Just(Some(as_string)),
        1 => any::<i64>().prop_map(|n| Some(json!(n))),
        1 => "[ -~]{0,12}".prop_map(|s| Some(json!(s))),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(json!([]))),
        1 => Just(Some(json!({"nested": true}))),
        1 => Just(None),
    ]
}

fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    let mut map = Map::new();
    for (name, value) in fields {
        if let Some(value) = value {
            map.insert(name.into(), value);
        }
    }
    Value::Object(map)
}

fn sampled_value() -> impl Strategy<Value = Value> {
    (
        field(json!("1234.5")),
        field(json!("kWh")),
        field(json!("Transaction.End")),
        field(json!("Energy.Active.Import.Register")),
    )
        .prop_map(|(value, unit, context, measurand)| {
            object(vec![
                ("value", value),
                ("unit", unit),
                ("context", context),
                ("measurand", measurand),
            ])
        })
}

fn meter_value() -> impl Strategy<Value = Value> {
    (
        field(json!("2026-11-21T10:00:00Z")),
        proptest::collection::vec(sampled_value(), 0..3),
    )
        .prop_map(|(timestamp, values)| {
            object(vec![
                ("timestamp", timestamp),
                ("sampledValue", Some(Value::Array(values))),
            ])
        })
}

/// A 1.6 or 2.0.1 transaction CALL with each field possibly wrong or missing.
fn transaction_call() -> impl Strategy<Value = (String, Value)> {
    let start = (
        field(json!(1)),
        field(json!("04A2B3C4")),
        field(json!(1000)),
        field(json!("2026-11-21T10:00:00Z")),
    )
        .prop_map(|(c, t, m, ts)| {
            (
                "StartTransaction".to_owned(),
                object(vec![
                    ("connectorId", c),
                    ("idTag", t),
                    ("meterStart", m),
                    ("timestamp", ts),
                ]),
            )
        });
    let stop = (
        field(json!(7)),
        field(json!(13500)),
        field(json!("2026-11-21T11:00:00Z")),
        proptest::collection::vec(meter_value(), 0..2),
    )
        .prop_map(|(id, m, ts, data)| {
            (
                "StopTransaction".to_owned(),
                object(vec![
                    ("transactionId", id),
                    ("meterStop", m),
                    ("timestamp", ts),
                    ("transactionData", Some(Value::Array(data))),
                ]),
            )
        });
    let meter = (
        field(json!(1)),
        field(json!(7)),
        proptest::collection::vec(meter_value(), 0..2),
    )
        .prop_map(|(c, id, values)| {
            (
                "MeterValues".to_owned(),
                object(vec![
                    ("connectorId", c),
                    ("transactionId", id),
                    ("meterValue", Some(Value::Array(values))),
                ]),
            )
        });
    prop_oneof![start, stop, meter]
}

fn transaction_event() -> impl Strategy<Value = Value> {
    (
        field(json!("Updated")),
        field(json!("2026-11-21T10:30:00Z")),
        field(json!(3)),
        field(json!({"transactionId": "tx-1"})),
        field(json!(false)),
        proptest::collection::vec(meter_value(), 0..2),
    )
        .prop_map(|(e, ts, seq, info, offline, values)| {
            object(vec![
                ("eventType", e),
                ("timestamp", ts),
                ("triggerReason", Some(json!("MeterValuePeriodic"))),
                ("seqNo", seq),
                ("transactionInfo", info),
                ("offline", offline),
                ("meterValue", Some(Value::Array(values))),
            ])
        })
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    #[test]
    fn any_text_parses_or_is_a_frame_error_without_panicking(text in "\\PC{0,200}") {
        if let Err(e) = frame::parse(&text) {
            let answer: Value = serde_json::from_str(&e.to_call_error()).unwrap();
            prop_assert_eq!(answer[0].as_i64(), Some(4));
        }
    }

    #[test]
    fn transaction_messages_are_never_refused_for_their_fields(
        (action, payload) in transaction_call(),
        event in transaction_event(),
    ) {
        let now = Utc::now();
        match action.as_str() {
            "StartTransaction" => prop_assert!(v16::StartTransaction::parse(&payload, now).is_ok()),
            "StopTransaction" => prop_assert!(v16::StopTransaction::parse(&payload, now).is_ok()),
            _ => prop_assert!(v16::MeterValues::parse(&payload, now).is_ok()),
        }
        let parsed = v201::TransactionEvent::parse(&event, now);
        prop_assert!(parsed.is_ok());
        for sample in &parsed.unwrap().samples {
            let _ = joule_gateway::ocpp::meter::normalise(sample);
        }
    }
}

/// Over a live connection: every CALL gets one answer carrying its id; every transaction message
/// gets a CALLRESULT; every transaction id handed out is on the CHARGER stream.
#[test]
fn a_live_gateway_answers_every_frame_and_loses_no_transaction() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // One connection sends hundreds of frames back to back: over any charger's message rate.
    let h = runtime.block_on(Harness::start_with(|s| {
        s.ocpp_message_rate_per_sec = 100_000;
        s.ocpp_message_burst = 100_000;
    }));
    // TestRunner takes a `Fn`: the connection and the tally live in cells.
    let charger = std::cell::RefCell::new(runtime.block_on(h.connect(CP)));
    let given_ids = std::cell::RefCell::new(Vec::<String>::new());
    let n = std::cell::Cell::new(0u64);
    let mut runner = TestRunner::new(Config::with_cases(48));
    let frames = proptest::collection::vec(
        prop_oneof![
            4 => transaction_call().prop_map(|(a, p)| (true, json!([2, "", a, p]).to_string())),
            1 => "\\PC{0,40}".prop_map(|garbage| (false, garbage)),
            1 => Just((false, r#"[2,"x","Heartbeat",{}]"#.to_owned())),
        ],
        1..6,
    );
    runner
        .run(&frames, |frames| {
            for (is_transaction, text) in frames {
                n.set(n.get() + 1);
                let id = format!("p{}", n.get());
                // Give each CALL a unique id so that its answer can be matched.
                let text = if is_transaction {
                    let mut v: Value = serde_json::from_str(&text).unwrap();
                    v[1] = json!(id);
                    v.to_string()
                } else {
                    text
                };
                let answer = runtime.block_on(charger.borrow_mut().send_raw(&text));
                let kind = answer[0].as_i64();
                prop_assert!(kind == Some(3) || kind == Some(4), "{answer}");
                if is_transaction {
                    prop_assert_eq!(
                        kind,
                        Some(3),
                        "a transaction message was refused: {} -> {}",
                        text,
                        answer
                    );
                    prop_assert_eq!(answer[1].as_str(), Some(id.as_str()));
                    if let Some(tx) = answer[2].get("transactionId") {
                        given_ids.borrow_mut().push(tx.to_string());
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let events = runtime.block_on(h.charger_events());
    let started: Vec<String> = of_type(&events, TransactionStarted::NAME)
        .iter()
        .map(|e| e.decode::<TransactionStarted>().transaction_id)
        .collect();
    for id in given_ids.borrow().iter() {
        assert!(
            started.contains(id),
            "transaction {id} has no TransactionStarted event"
        );
    }
    runtime.block_on(charger.into_inner().close());
    runtime.block_on(h.stop());
}
