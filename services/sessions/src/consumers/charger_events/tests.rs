//! Every transaction message a charger can send (1.6 start, meter values, stop; 2.0.1
//! Started, Updated, Ended) with extreme numbers, times and strings, through the intake and
//! the aggregate: no panic, every value outside its domain flagged, energy billed within
//! 0..=10^12 Wh.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "tests build their inputs with plain arithmetic"
)]

use super::*;
use crate::domain::session::{ChargingSession, SessionEvent, SessionRules};
use chrono::TimeZone;
use cqrs_es::Aggregate;
use joule_proto::time::to_proto;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// A value as a charger might send it, and whether it lies inside the domain.
#[derive(Debug, Clone)]
struct Value {
    text: String,
    in_range: bool,
}

fn received() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

fn extreme_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-79228162514264337593543950335".to_owned()),
        Just("79228162514264337593543950335".to_owned()),
        Just("1e300".to_owned()),
        Just("-1e300".to_owned()),
        Just("1e-300".to_owned()),
        Just("NaN".to_owned()),
        Just("Infinity".to_owned()),
        Just("-Infinity".to_owned()),
        Just("1000000000000000000000000000000".to_owned()),
        Just("1000000000000.001".to_owned()),
        Just("-1".to_owned()),
        Just("9".repeat(10_000)),
        Just("garbage".to_owned()),
        // At least 10^13 (a leading zero would make "0000000000000", which is 0 and in range).
        "[-+]?[1-9][0-9]{13,39}(\\.[0-9]{0,12})?",
        // Below zero (not "-0", which is zero).
        "-[1-9][0-9]{0,19}(\\.[0-9]{1,10})?",
        "[a-zA-Z ]{1,30}",
    ]
}

/// Energy register values: in range by construction, or out of it by construction.
fn register() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (0u64..=1_000_000_000_000).prop_map(|wh| Value { text: wh.to_string(), in_range: true }),
        1 => Just(Value { text: "-0".into(), in_range: true }),
        1 => (0u64..=1_000_000_000, 1u32..6).prop_map(|(n, scale)| Value {
            text: Decimal::new(i64::try_from(n).unwrap(), scale).to_string(),
            in_range: true,
        }),
        3 => extreme_text().prop_map(|text| Value { text, in_range: false }),
    ]
}

/// Charger times: inside 2000..received + 24 h by construction, or outside.
fn time() -> impl Strategy<Value = (DateTime<Utc>, bool)> {
    let start = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let end = received().timestamp() + 24 * 3600;
    prop_oneof![
        3 => (start..=end).prop_map(|s| (DateTime::from_timestamp(s, 0).unwrap(), true)),
        1 => (DateTime::<Utc>::MIN_UTC.timestamp()..start)
            .prop_map(|s| (DateTime::from_timestamp(s, 0).unwrap(), false)),
        1 => (end + 1..=DateTime::<Utc>::MAX_UTC.timestamp())
            .prop_map(|s| (DateTime::from_timestamp(s, 0).unwrap(), false)),
    ]
}

/// Other measurands, with values inside or outside their domains.
fn other_sample() -> impl Strategy<Value = (String, String, String, bool)> {
    prop_oneof![
        (0u32..=100).prop_map(|v| ("SoC".into(), "Percent".into(), v.to_string(), true)),
        (101u32..100_000).prop_map(|v| ("SoC".into(), "Percent".into(), v.to_string(), false)),
        (0u64..=10_000_000).prop_map(|v| (
            "Power.Active.Import".into(),
            "W".into(),
            v.to_string(),
            true
        )),
        (1u64..1_000_000).prop_map(|v| (
            "Power.Active.Import".into(),
            "W".into(),
            format!("-{v}"),
            false
        )),
        Just(("Voltage".into(), "V".into(), "1000000000".into(), false)),
        Just(("Current.Import".into(), "A".into(), "1e300".into(), false)),
        Just(("Frequency".into(), "Hz".into(), "NaN".into(), false)),
        Just(("Temperature".into(), "Celsius".into(), "-300".into(), false)),
        extreme_text().prop_map(|v| ("Voltage".into(), "V".into(), v, false)),
    ]
}

fn sample(at: DateTime<Utc>, measurand: &str, unit: &str, value: &str) -> v1::MeterSample {
    v1::MeterSample {
        charger_time: Some(to_proto(at)),
        measurand: measurand.into(),
        value: value.into(),
        unit: unit.into(),
        context: "Sample.Periodic".into(),
        ..Default::default()
    }
}

#[derive(Debug, Clone)]
struct Reading {
    register: Value,
    at: (DateTime<Utc>, bool),
    other: (String, String, String, bool),
}

fn reading() -> impl Strategy<Value = Reading> {
    (register(), time(), other_sample()).prop_map(|(register, at, other)| Reading {
        register,
        at,
        other,
    })
}

#[derive(Debug, Clone)]
struct Transaction {
    v201: bool,
    id: String,
    start: Value,
    started: (DateTime<Utc>, bool),
    readings: Vec<Vec<Reading>>,
    stop: Value,
    stopped: (DateTime<Utc>, bool),
    seq_end: u32,
    order: Vec<usize>,
}

fn transaction() -> impl Strategy<Value = Transaction> {
    (
        any::<bool>(),
        prop_oneof!["[0-9]{1,12}", "[A-Za-z0-9-]{1,64}"],
        register(),
        time(),
        proptest::collection::vec(proptest::collection::vec(reading(), 0..6), 0..4),
        register(),
        time(),
        prop_oneof![Just(u32::MAX), 0u32..10],
        Just(()).prop_perturb(|_, mut rng| {
            let mut order: Vec<usize> = (0..6).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            order
        }),
    )
        .prop_map(
            |(v201, id, start, started, readings, stop, stopped, seq_end, order)| Transaction {
                v201,
                id,
                start,
                started,
                readings,
                stop,
                stopped,
                seq_end,
                order,
            },
        )
}

/// The commands of a transaction in the order the charger's messages arrive, each with the
/// texts of the values outside their domains that it carried.
fn commands(tx: &Transaction) -> Vec<(SessionCommand, Vec<String>)> {
    let bad_value = |v: &Value| (!v.in_range).then(|| v.text.clone());
    let bad_time = |t: &(DateTime<Utc>, bool)| (!t.1).then(|| t.0.to_rfc3339());
    let received = Some(to_proto(received()));
    let base_start = v1::TransactionStarted {
        charger_id: "charger".into(),
        charge_point_id: "CP-HOSTILE".into(),
        connector_id: 1,
        transaction_id: tx.id.clone(),
        id_tag: "TAG".into(),
        account_id: "acc".into(),
        charger_time: Some(to_proto(tx.started.0)),
        received_at: received,
        seq_no: tx.v201.then_some(0),
        ..Default::default()
    };
    // 1.6 carries the register in meterStart, 2.0.1 in a Transaction.Begin sample.
    let begin = if tx.v201 {
        let mut s = sample(tx.started.0, ENERGY_REGISTER, "Wh", &tx.start.text);
        s.context = "Transaction.Begin".into();
        v1::TransactionStarted {
            samples: vec![s],
            ..base_start
        }
    } else {
        v1::TransactionStarted {
            meter_start_wh: tx.start.text.clone(),
            ..base_start
        }
    };
    let mut messages = vec![(
        super::start("t", begin).unwrap().1,
        [bad_value(&tx.start), bad_time(&tx.started)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    )];
    for (i, batch) in tx.readings.iter().enumerate() {
        let samples = batch
            .iter()
            .flat_map(|r| {
                [
                    sample(r.at.0, ENERGY_REGISTER, "Wh", &r.register.text),
                    sample(r.at.0, &r.other.0, &r.other.1, &r.other.2),
                ]
            })
            .collect();
        let m = v1::MeterValuesSampled {
            charger_id: "charger".into(),
            charge_point_id: "CP-HOSTILE".into(),
            transaction_id: tx.id.clone(),
            samples,
            received_at: received,
            seq_no: tx.v201.then(|| u32::try_from(i + 1).unwrap()),
            ..Default::default()
        };
        let bad = batch
            .iter()
            .flat_map(|r| {
                // A time is read only for an energy register inside its domain.
                let time = if r.register.in_range {
                    bad_time(&r.at)
                } else {
                    None
                };
                [
                    bad_value(&r.register),
                    time,
                    (!r.other.3).then(|| r.other.2.clone()),
                ]
            })
            .flatten()
            .collect();
        messages.push((readings("t", m).unwrap().1, bad));
    }
    let mut end = sample(tx.stopped.0, ENERGY_REGISTER, "Wh", &tx.stop.text);
    end.context = "Transaction.End".into();
    let m = v1::TransactionStopped {
        charger_id: "charger".into(),
        charge_point_id: "CP-HOSTILE".into(),
        transaction_id: tx.id.clone(),
        meter_stop_wh: if tx.v201 {
            String::new()
        } else {
            tx.stop.text.clone()
        },
        charger_time: Some(to_proto(tx.stopped.0)),
        received_at: received,
        transaction_data: if tx.v201 { vec![end] } else { vec![] },
        seq_no: tx.v201.then_some(tx.seq_end),
        ..Default::default()
    };
    let end_time = if tx.v201 && !tx.stop.in_range {
        None
    } else {
        bad_time(&tx.stopped)
    };
    messages.push((
        stop("t", m).unwrap().1,
        [bad_value(&tx.stop), bad_time(&tx.stopped), end_time]
            .into_iter()
            .flatten()
            .collect(),
    ));
    // The charger's order: a permutation of the messages, then the sweeper.
    let mut ordered: Vec<_> = tx
        .order
        .iter()
        .filter_map(|&i| messages.get(i).cloned())
        .collect();
    ordered.push((SessionCommand::CompleteOverdue, vec![]));
    ordered
}

fn flags_of(command: &SessionCommand) -> &[String] {
    match command {
        SessionCommand::Start(_, extras)
        | SessionCommand::Stop(_, extras)
        | SessionCommand::RecordReadings { extras, .. } => &extras.flags,
        SessionCommand::CompleteOverdue | SessionCommand::CloseInactive { .. } => &[],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn hostile_transactions_never_panic_and_flag_every_value_out_of_range(tx in transaction()) {
        let mut session = ChargingSession::default();
        let mut events = Vec::new();
        for (command, bad) in commands(&tx) {
            // Every value outside its domain is named in a flag of its message.
            for text in &bad {
                let raw = format!("{:?}", bounds::cut(text, bounds::RAW_TEXT_KEPT));
                prop_assert!(
                    flags_of(&command).iter().any(|f| f.starts_with("value_out_of_range:") && f.contains(&raw)),
                    "{raw} not flagged in {:?}", flags_of(&command)
                );
            }
            for event in session.decide(command, &SessionRules::default()) {
                session.apply(event.clone());
                events.push(event);
            }
        }
        let max = bounds::ENERGY_REGISTER_MAX_WH;
        for event in &events {
            match event {
                SessionEvent::SessionCompleted { energy, meter_start, meter_stop, samples, started_at, stop, .. } => {
                    prop_assert!(started_at <= &stop.stopped_at, "pricing takes no session that ends before it starts");
                    prop_assert!(energy.wh() >= Decimal::ZERO && energy.wh() <= max);
                    prop_assert!(meter_start.wh() >= Decimal::ZERO && meter_start.wh() <= max);
                    prop_assert!(meter_stop.is_none_or(|m| m.wh() >= Decimal::ZERO && m.wh() <= max));
                    for r in samples {
                        prop_assert!(r.register.wh() >= Decimal::ZERO && r.register.wh() <= max);
                        prop_assert!(r.at >= bounds::earliest_timestamp());
                        prop_assert!(r.at <= received() + bounds::max_clock_ahead());
                    }
                }
                SessionEvent::ReadingsRecorded { readings, running, .. } => {
                    for r in readings {
                        prop_assert!(r.register.wh() >= Decimal::ZERO && r.register.wh() <= max);
                    }
                    if let Some(running) = running {
                        prop_assert!(running.energy.wh() >= Decimal::ZERO && running.energy.wh() <= max);
                    }
                }
                _ => {}
            }
        }
    }
}

#[test]
fn the_reproducer_of_issue_11_is_flagged_and_bills_nothing_from_it() {
    let at = received() - chrono::Duration::minutes(30);
    let (_, begin) = super::start(
        "t",
        v1::TransactionStarted {
            charge_point_id: "CP".into(),
            transaction_id: "1".into(),
            meter_start_wh: "1000".into(),
            charger_time: Some(to_proto(at)),
            received_at: Some(to_proto(received())),
            ..Default::default()
        },
    )
    .unwrap();
    let (_, meter) = readings(
        "t",
        v1::MeterValuesSampled {
            charge_point_id: "CP".into(),
            transaction_id: "1".into(),
            samples: vec![
                sample(at, ENERGY_REGISTER, "Wh", "-79228162514264337593543950335"),
                sample(at, ENERGY_REGISTER, "Wh", "79228162514264337593543950335"),
            ],
            received_at: Some(to_proto(received())),
            ..Default::default()
        },
    )
    .unwrap();
    let SessionCommand::RecordReadings { extras, .. } = &meter else {
        panic!("{meter:?}");
    };
    assert!(extras.readings.is_empty());
    assert_eq!(extras.flags.len(), 2, "{:?}", extras.flags);
    assert!(extras.flags[0].starts_with(
        "value_out_of_range:Energy.Active.Import.Register \"-79228162514264337593543950335\": below 0 Wh"
    ));
    let mut session = ChargingSession::default();
    for command in [begin, meter] {
        for event in session.decide(command, &SessionRules::default()) {
            session.apply(event);
        }
    }
}
