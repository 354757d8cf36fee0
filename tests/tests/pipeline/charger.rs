//! Generated chargers: an OCPP 1.6 or 2.0.1 charger's frames for a few transactions, with the
//! other messages chargers send in between, extreme numbers where registers and clocks go, hostile
//! strings where text goes, and fields of the wrong type.
//!
//! A case renders twice. As generated, and as its *twin*: the same frames with every register
//! outside its domain left out (meterStart, meterStop, the sampled value) and every clock outside
//! its domain (before 2000, more than a day ahead) replaced by the receive time, which is what
//! sessions puts in its place. Nothing else differs, so a value outside its domain that took part
//! in any computation would make the two bill differently.
//!
//! Every value called hostile here is outside its domain whatever its unit and multiplier; every
//! honest one inside (at most 10^9 Wh plus increments, well below 10^12 Wh, in Wh or kWh). Clocks
//! called honest are at most a day behind or two hours ahead of the receive time.

use chrono::{DateTime, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The id tag the registry knows (see `stages::Pipeline::new`).
pub const KNOWN_TAG: &str = "04A2B3C4";

/// When the first frame arrives; each next one [`FRAME_INTERVAL_MINUTES`] later.
pub fn first_received() -> DateTime<Utc> {
    "2026-11-23T06:30:00Z".parse().expect("a time")
}

pub const FRAME_INTERVAL_MINUTES: i64 = 7;

/// One frame as the gateway receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub text: String,
    pub received_at: DateTime<Utc>,
    /// For a 1.6 StartTransaction: the transaction id the gateway's sequence gives it.
    pub start_id: Option<i32>,
}

/// How an honest register is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Wh as a JSON number.
    Number,
    /// Wh as a string.
    Text,
    /// kWh as a decimal string, unit kWh.
    Kwh,
    /// 2.0.1: kWh as a decimal string in unit Wh with multiplier 3 (1.6: as [`Form::Kwh`]).
    Multiplier,
}

/// What goes where a register belongs.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    Honest(Form),
    /// A value outside the domain of any register (negative, beyond 10^12 Wh after any
    /// scaling, beyond a decimal, not a number, not a string or number at all).
    Hostile(Value),
    /// NaN, Infinity, -Infinity: written bare in the frame when the case says so.
    NonFinite(&'static str),
    /// The honest register in a unit that is not one of energy.
    Unit(&'static str),
    /// 2.0.1: the honest register (at least 1) with a multiplier beyond a decimal.
    Overflow(i32),
}

/// A register: the honest value at its place in the transaction and what is sent there.
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    pub wh: u64,
    pub slot: Slot,
}

impl Register {
    pub fn honest(&self) -> bool {
        matches!(self.slot, Slot::Honest(_))
    }
}

/// A charger's clock for one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Clock {
    /// Charger time = receive time minus these seconds (negative: ahead).
    Behind(i64),
    /// Readable, outside its domain.
    OutOfDomain(&'static str),
    /// Not a time at all (stays in the twin: its field is unreadable in both).
    Unreadable(Value),
}

/// A sampled value that is not an energy register: never billed, sent alike in the twin.
#[derive(Debug, Clone, PartialEq)]
pub struct Other {
    pub measurand: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MeterValue {
    pub clock: Clock,
    pub register: Register,
    pub others: Vec<Other>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub clock: Clock,
    pub register: Register,
    pub id_tag: Option<String>,
    pub reason: Option<String>,
    /// 1.6 transactionData: a Transaction.End sample of the stop register.
    pub data: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub id_tag: String,
    /// 1.6 connectorId / 2.0.1 evse id.
    pub connector: Value,
    pub start_clock: Clock,
    pub start: Register,
    pub meter_values: Vec<MeterValue>,
    /// `None`: the stop never comes (sessions closes the transaction for inactivity).
    pub stop: Option<Stop>,
    /// How the transaction is named (1.6 meter values and stop, 2.0.1 every event): `None` as it
    /// should be (1.6 the id it was given, 2.0.1 `TX-<k>`); `Null` not at all; a string, in
    /// 2.0.1, by an id of more than 64 characters; else by this value.
    pub id_field: Option<Value>,
    /// 2.0.1 seqNos: `None` numbered 0, 1, 2, ...; `Null` none; else this value in every event.
    pub seq_no: Option<Value>,
    /// 2.0.1 eventType of the Updated events (`Paused` is read as Updated).
    pub updated_as: &'static str,
    /// 2.0.1 offline flag.
    pub offline: Value,
}

/// A message that is not part of a transaction, or a frame that cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Noise {
    Call { action: String, payload: Value },
    Raw(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub v201: bool,
    pub transactions: Vec<Transaction>,
    /// Inserted before the transaction frame of that index (modulo their number).
    pub noise: Vec<(usize, Noise)>,
    /// One delivery sent twice (a redelivered event: same frame, same receive time).
    pub redelivered: Option<usize>,
    /// NaN and Infinity written bare, as Python's JSON encoder writes them.
    pub bare_non_finite: bool,
}

// ---------------------------------------------------------------------------------------------
// Generators

fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(-1)),
        Just(json!("-1")),
        Just(json!(-0.5)),
        Just(json!("-79228162514264337593543950335")),
        Just(json!("79228162514264337593543950335")),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        Just(json!("1e1000000")),
        Just(json!("1000000000000000000000000000000")),
        Just(json!("9".repeat(5001))),
        Just(json!("")),
        Just(json!("12abc")),
        Just(json!([1])),
        Just(json!({ "value": 1 })),
        Just(json!(true)),
        Just(Value::Null),
        // Beyond 10^12 Wh even read as thousandths.
        (10_000_000_000_000_000u64..=u64::MAX).prop_map(|v| json!(v)),
        (10_000_000_000_000_000u64..=u64::MAX).prop_map(|v| json!(v.to_string())),
    ]
}

/// What is sent in a register's place; `sample`: a sampled value (which has a unit).
fn slot(v201: bool, sample: bool) -> BoxedStrategy<Slot> {
    let honest = prop_oneof![
        Just(Form::Number),
        Just(Form::Text),
        Just(Form::Kwh),
        Just(Form::Multiplier)
    ]
    .prop_map(Slot::Honest);
    let non_finite = prop_oneof![Just("NaN"), Just("Infinity"), Just("-Infinity")];
    let unit = prop_oneof![Just("furlongs"), Just("kW"), Just("V"), Just("Wh/h")];
    let overflow = prop_oneof![Just(i32::MAX), Just(40), Just(30)];
    match (sample, v201) {
        (true, true) => prop_oneof![
            8 => honest,
            2 => hostile_value().prop_map(Slot::Hostile),
            1 => non_finite.prop_map(Slot::NonFinite),
            1 => unit.prop_map(Slot::Unit),
            1 => overflow.prop_map(Slot::Overflow),
        ]
        .boxed(),
        (true, false) => prop_oneof![
            8 => honest,
            2 => hostile_value().prop_map(Slot::Hostile),
            1 => non_finite.prop_map(Slot::NonFinite),
            1 => unit.prop_map(Slot::Unit),
        ]
        .boxed(),
        (false, _) => prop_oneof![
            8 => honest,
            2 => hostile_value().prop_map(Slot::Hostile),
            1 => non_finite.prop_map(Slot::NonFinite),
        ]
        .boxed(),
    }
}

fn clock() -> impl Strategy<Value = Clock> {
    prop_oneof![
        8 => prop_oneof![Just(0i64), Just(45), Just(3600), Just(20 * 3600), Just(-7200)]
            .prop_map(Clock::Behind),
        2 => prop_oneof![
            Just("9999-12-31T23:59:59Z"),
            Just("0001-01-01T00:00:00Z"),
            Just("1970-01-01T00:00:00Z"),
            Just("1999-12-31T23:59:59Z"),
            Just("2100-01-01T00:00:00Z"),
        ]
        .prop_map(Clock::OutOfDomain),
        1 => prop_oneof![
            Just(json!("yesterday")),
            Just(json!("")),
            Just(json!(12345)),
            Just(json!("2026-13-45T99:99:99Z")),
            Just(json!([2026])),
        ]
        .prop_map(Clock::Unreadable),
    ]
}

/// Text as chargers send it where text goes: short, long, any Unicode, control characters.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9 .-]{0,16}",
        2 => ".{0,24}",
        1 => (0usize..4).prop_map(|n| "x".repeat([65, 256, 300, 5001][n])),
        1 => Just("\u{0}\u{1b}[31m\r\n\t\u{7f}".to_owned()),
        1 => Just("\u{202e}evil\u{200b}\u{feff}🔋🔌".to_owned()),
        1 => Just("'; DROP TABLE sessions; --".to_owned()),
    ]
}

fn id_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(KNOWN_TAG.to_owned()),
        1 => Just(KNOWN_TAG.to_lowercase()),
        1 => Just("DEADBEEF".to_owned()),
        2 => text(),
    ]
}

fn connector() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => Just(json!(1)),
        1 => Just(json!("1")),
        1 => Just(json!(-5)),
        1 => Just(json!(1e300)),
        1 => Just(json!([1])),
        1 => Just(json!(4_294_967_296u64)),
    ]
}

fn other() -> impl Strategy<Value = Other> {
    let measurand = prop_oneof![
        Just("Power.Active.Import".to_owned()),
        Just("SoC".to_owned()),
        Just("Voltage".to_owned()),
        Just("Current.Import".to_owned()),
        Just("Energy.Active.Import.Registe".to_owned()),
        Just("x".repeat(300)),
        Just("\u{1b}[31m".to_owned()),
    ];
    let value = prop_oneof![
        3 => (0u32..100_000).prop_map(|v| json!(v.to_string())),
        1 => hostile_value(),
        1 => text().prop_map(Value::String),
    ];
    (measurand, value).prop_map(|(measurand, value)| Other { measurand, value })
}

/// The energy drawn before each reading and before the stop.
fn increment() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..=2_000, 2_000u64..=30_000]
}

fn transaction(v201: bool) -> impl Strategy<Value = Transaction> {
    let meter_value = (clock(), increment(), slot(v201, true), vec(other(), 0..3));
    let stop = (
        clock(),
        increment(),
        slot(v201, v201),
        proptest::option::of(id_tag()),
        proptest::option::of(text()),
        any::<bool>(),
    );
    let id_field = prop_oneof![
        6 => Just(None),
        1 => prop_oneof![
            Just(json!(-1)),
            Just(json!(0)),
            Just(json!("abc")),
            Just(json!(5_000_000_000u64)),
            Just(json!(1.5)),
            Just(Value::Null),
        ]
        .prop_map(Some),
    ];
    let seq_no = prop_oneof![
        6 => Just(None),
        1 => prop_oneof![Just(json!(-1)), Just(json!(1e300)), Just(json!(u32::MAX)), Just(Value::Null)]
            .prop_map(Some),
    ];
    let updated_as = prop_oneof![6 => Just("Updated"), 1 => Just("Paused")];
    let offline = prop_oneof![Just(json!(false)), Just(json!(true)), Just(json!("yes"))];
    (
        (id_tag(), connector(), clock(), 0u64..=1_000_000_000),
        slot(v201, v201),
        vec(meter_value, 0..4),
        proptest::option::weighted(0.85, stop),
        (id_field, seq_no, updated_as, offline),
    )
        .prop_map(
            move |(
                (id_tag, connector, start_clock, base),
                start_slot,
                meter_values,
                stop,
                (id_field, seq_no, updated_as, offline),
            )| {
                let mut wh = base;
                let meter_values = meter_values
                    .into_iter()
                    .map(|(clock, inc, slot, others)| {
                        wh += inc;
                        MeterValue {
                            clock,
                            register: Register { wh, slot },
                            others,
                        }
                    })
                    .collect();
                let stop = stop.map(|(clock, inc, slot, id_tag, reason, data)| Stop {
                    // A stop without a usable id is identified by its clock (and register): two
                    // such stops with clocks outside the domain would be one stop in the case but
                    // two in its twin, which is the id, not a value, making the difference.
                    clock: match clock {
                        Clock::OutOfDomain(_) if id_field.is_some() => Clock::Behind(0),
                        clock => clock,
                    },
                    register: Register { wh: wh + inc, slot },
                    id_tag,
                    reason,
                    data,
                });
                Transaction {
                    id_tag,
                    connector,
                    start_clock,
                    start: Register {
                        wh: base,
                        slot: start_slot,
                    },
                    meter_values,
                    stop,
                    id_field,
                    seq_no,
                    updated_as,
                    offline,
                }
            },
        )
}

fn noise(v201: bool) -> impl Strategy<Value = Noise> {
    let call = |action: &str, payload: Value| Noise::Call {
        action: action.to_owned(),
        payload,
    };
    let boot = (text(), text()).prop_map(move |(vendor, model)| {
        if v201 {
            call(
                "BootNotification",
                json!({"reason": "PowerUp", "chargingStation": {"vendorName": vendor, "model": model}}),
            )
        } else {
            call(
                "BootNotification",
                json!({"chargePointVendor": vendor, "chargePointModel": model}),
            )
        }
    });
    let status = (connector(), text(), clock()).prop_map(move |(connector, status, clock)| {
        let at = match clock {
            Clock::OutOfDomain(t) => json!(t),
            Clock::Unreadable(v) => v,
            Clock::Behind(_) => json!("2026-11-23T06:00:00Z"),
        };
        if v201 {
            call(
                "StatusNotification",
                json!({"timestamp": at, "connectorStatus": status, "evseId": connector, "connectorId": 1}),
            )
        } else {
            call(
                "StatusNotification",
                json!({"connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": at, "info": "x".repeat(10)}),
            )
        }
    });
    let authorize = id_tag().prop_map(move |tag| {
        if v201 {
            call(
                "Authorize",
                json!({"idToken": {"idToken": tag, "type": "ISO14443"}}),
            )
        } else {
            call("Authorize", json!({"idTag": tag}))
        }
    });
    let data_transfer = (text(), text()).prop_map(move |(vendor, data)| {
        call("DataTransfer", json!({"vendorId": vendor, "data": data}))
    });
    // MeterValues outside a transaction: never billed.
    let meter_values = (vec(other(), 0..3), hostile_value()).prop_map(move |(others, value)| {
        let mut sampled: Vec<Value> = others
            .into_iter()
            .map(|o| json!({"value": o.value, "measurand": o.measurand}))
            .collect();
        sampled.push(json!({"value": value}));
        let meter_value = json!([{"timestamp": "2026-11-23T06:00:00Z", "sampledValue": sampled}]);
        if v201 {
            call(
                "MeterValues",
                json!({"evseId": 1, "meterValue": meter_value}),
            )
        } else {
            call(
                "MeterValues",
                json!({"connectorId": 1, "meterValue": meter_value}),
            )
        }
    });
    let odd = prop_oneof![
        Just(call("Heartbeat", json!({}))),
        Just(call(
            if v201 {
                "SecurityEventNotification"
            } else {
                "FirmwareStatusNotification"
            },
            json!({"status": "Idle"})
        )),
        Just(call("Heartbeat", json!([1]))),
        Just(call("StartTransaction", json!("not an object"))),
        Just(call("TransactionEvent", json!(42))),
        text().prop_map(move |action| call(&action, json!({}))),
    ];
    let raw = prop_oneof![
        Just("not json".to_owned()),
        Just("[2,\"m\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[2, 5, \"Heartbeat\", {}]".to_owned()),
        Just("[9,\"m\",\"Heartbeat\",{}]".to_owned()),
        Just("[3,\"m\",{}]".to_owned()),
        Just(format!("{}{}", "[".repeat(200), "]".repeat(200))),
        Just("[2,\"m\",\"Heartbeat\",{}] trailing".to_owned()),
    ]
    .prop_map(Noise::Raw);
    prop_oneof![
        2 => boot,
        2 => status,
        2 => authorize,
        1 => data_transfer,
        2 => meter_values,
        2 => odd,
        2 => raw,
    ]
}

/// A charger of either version with one to three transactions and up to six other messages.
pub fn case() -> impl Strategy<Value = Case> {
    any::<bool>().prop_flat_map(|v201| {
        (
            vec(transaction(v201), 1..=3),
            vec((0usize..64, noise(v201)), 0..=6),
            proptest::option::weighted(0.2, 0usize..64),
            any::<bool>(),
        )
            .prop_map(
                move |(transactions, noise, redelivered, bare_non_finite)| Case {
                    v201,
                    transactions,
                    noise,
                    redelivered,
                    bare_non_finite,
                },
            )
    })
}
