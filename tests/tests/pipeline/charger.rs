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

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

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
    fn honest(&self) -> bool {
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

// ---------------------------------------------------------------------------------------------
// Rendering

fn ocpp_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A register's decimal text in kWh: `12345` Wh is `12.345`.
fn kwh(wh: u64) -> String {
    let (whole, thousandths) = (wh / 1000, wh % 1000);
    format!("{whole}.{thousandths:03}")
}

/// What a frame's fields are rendered with: when it is received, and whether for the twin.
struct Frame {
    received_at: DateTime<Utc>,
    twin: bool,
    v201: bool,
}

impl Frame {
    /// A timestamp field; in the twin, the receive time for one outside its domain.
    fn time(&self, clock: &Clock) -> Value {
        match clock {
            Clock::Behind(secs) => json!(ocpp_time(self.received_at - Duration::seconds(*secs))),
            Clock::OutOfDomain(_) if self.twin => json!(ocpp_time(self.received_at)),
            Clock::OutOfDomain(t) => json!(t),
            Clock::Unreadable(v) => v.clone(),
        }
    }

    /// A register without a unit (1.6 meterStart, meterStop); `None`: left out (the twin of a
    /// hostile one).
    fn plain_register(&self, r: &Register) -> Option<Value> {
        if self.twin && !r.honest() {
            return None;
        }
        Some(match &r.slot {
            Slot::Honest(Form::Number) => json!(r.wh),
            Slot::Honest(_) => json!(r.wh.to_string()),
            Slot::Hostile(v) => v.clone(),
            Slot::NonFinite(word) => json!(word),
            // Sample-only slots; not generated for a register without a unit.
            Slot::Unit(_) | Slot::Overflow(_) => json!(-1),
        })
    }

    /// An energy register as a sampled value in `context`; `None`: left out.
    fn sample(&self, r: &Register, context: &str) -> Option<Value> {
        if self.twin && !r.honest() {
            return None;
        }
        let measurand = "Energy.Active.Import.Register";
        let (value, unit, multiplier) = match &r.slot {
            Slot::Honest(Form::Number) => (json!(r.wh), "Wh", 0),
            Slot::Honest(Form::Text) => (json!(r.wh.to_string()), "Wh", 0),
            Slot::Honest(Form::Kwh) => (json!(kwh(r.wh)), "kWh", 0),
            Slot::Honest(Form::Multiplier) if self.v201 => (json!(kwh(r.wh)), "Wh", 3),
            Slot::Honest(Form::Multiplier) => (json!(kwh(r.wh)), "kWh", 0),
            Slot::Hostile(v) => (v.clone(), "Wh", 0),
            Slot::NonFinite(word) => (json!(word), "Wh", 0),
            Slot::Unit(unit) => (json!(r.wh.to_string()), *unit, 0),
            Slot::Overflow(m) => (json!(r.wh.max(1).to_string()), "Wh", *m),
        };
        Some(if self.v201 {
            json!({"value": value, "context": context, "measurand": measurand,
                   "unitOfMeasure": {"unit": unit, "multiplier": multiplier}})
        } else {
            // 1.6 values are strings; chargers send numbers too.
            json!({"value": value, "context": context, "measurand": measurand, "unit": unit})
        })
    }

    fn others(&self, others: &[Other]) -> Vec<Value> {
        others
            .iter()
            .map(|o| json!({"value": o.value, "measurand": o.measurand}))
            .collect()
    }

    fn meter_value(&self, clock: &Clock, samples: Vec<Value>) -> Value {
        json!([{"timestamp": self.time(clock), "sampledValue": samples}])
    }
}

fn insert(o: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(v) = value {
        o.insert(name.to_owned(), v);
    }
}

/// A frame's payload, built once its receive time is known.
type Build<'a> = Box<dyn Fn(&Frame) -> Value + 'a>;

/// A transaction frame: its action, its payload, and (a 1.6 start) the transaction id it gets.
type Planned<'a> = (&'static str, Build<'a>, Option<i32>);

/// What the charger sends next.
enum Item<'a> {
    Transaction(&'a Planned<'a>),
    Noise(&'a Noise),
}

fn frames_16(k: usize, t: &Transaction) -> Vec<Planned<'_>> {
    let id = i32::try_from(k + 1).expect("a few transactions");
    let id_field = move |o: &mut Map<String, Value>| match &t.id_field {
        None => {
            o.insert("transactionId".into(), json!(id));
        }
        Some(Value::Null) => {}
        Some(v) => {
            o.insert("transactionId".into(), v.clone());
        }
    };
    let mut out: Vec<Planned<'_>> = vec![(
        "StartTransaction",
        Box::new(move |f: &Frame| {
            let mut o = Map::new();
            o.insert("connectorId".into(), t.connector.clone());
            o.insert("idTag".into(), json!(t.id_tag));
            insert(&mut o, "meterStart", f.plain_register(&t.start));
            o.insert("timestamp".into(), f.time(&t.start_clock));
            Value::Object(o)
        }),
        Some(id),
    )];
    for mv in &t.meter_values {
        out.push((
            "MeterValues",
            Box::new(move |f: &Frame| {
                let mut samples: Vec<Value> = f
                    .sample(&mv.register, "Sample.Periodic")
                    .into_iter()
                    .collect();
                samples.extend(f.others(&mv.others));
                let mut o = Map::new();
                o.insert("connectorId".into(), t.connector.clone());
                id_field(&mut o);
                o.insert("meterValue".into(), f.meter_value(&mv.clock, samples));
                Value::Object(o)
            }),
            None,
        ));
    }
    if let Some(stop) = &t.stop {
        out.push((
            "StopTransaction",
            Box::new(move |f: &Frame| {
                let mut o = Map::new();
                id_field(&mut o);
                insert(&mut o, "meterStop", f.plain_register(&stop.register));
                o.insert("timestamp".into(), f.time(&stop.clock));
                insert(&mut o, "idTag", stop.id_tag.clone().map(Value::String));
                insert(&mut o, "reason", stop.reason.clone().map(Value::String));
                if stop.data {
                    let samples = f
                        .sample(&stop.register, "Transaction.End")
                        .into_iter()
                        .collect();
                    o.insert(
                        "transactionData".into(),
                        f.meter_value(&stop.clock, samples),
                    );
                }
                Value::Object(o)
            }),
            None,
        ));
    }
    out
}

/// The fields every TransactionEvent of transaction `k` has.
fn event_201(
    f: &Frame,
    k: usize,
    t: &Transaction,
    event_type: &str,
    seq: usize,
    clock: &Clock,
) -> Map<String, Value> {
    let transaction_id = match &t.id_field {
        None => Some(json!(format!("TX-{k}"))),
        Some(Value::Null) => None,
        // A long id is cut with a digest of the whole: its events still group.
        Some(Value::String(s)) => Some(json!(format!("{}{s}{k}", "T".repeat(70)))),
        Some(v) => Some(v.clone()),
    };
    let mut o = Map::new();
    o.insert("eventType".into(), json!(event_type));
    o.insert("timestamp".into(), f.time(clock));
    o.insert("triggerReason".into(), json!("MeterValuePeriodic"));
    match &t.seq_no {
        None => {
            o.insert("seqNo".into(), json!(seq));
        }
        Some(Value::Null) => {}
        Some(v) => {
            o.insert("seqNo".into(), v.clone());
        }
    }
    o.insert("offline".into(), t.offline.clone());
    o.insert("evse".into(), json!({"id": t.connector, "connectorId": 1}));
    let mut info = Map::new();
    insert(&mut info, "transactionId", transaction_id);
    o.insert("transactionInfo".into(), Value::Object(info));
    o
}

fn frames_201(k: usize, t: &Transaction) -> Vec<Planned<'_>> {
    let last_seq = t.meter_values.len() + 1;
    let base = move |f: &Frame, event_type: &str, seq: usize, clock: &Clock| {
        event_201(f, k, t, event_type, seq, clock)
    };
    let mut out: Vec<Planned<'_>> = vec![(
        "TransactionEvent",
        Box::new(move |f: &Frame| {
            let mut o = base(f, "Started", 0, &t.start_clock);
            o.insert(
                "idToken".into(),
                json!({"idToken": t.id_tag, "type": "ISO14443"}),
            );
            let samples: Vec<Value> = f
                .sample(&t.start, "Transaction.Begin")
                .into_iter()
                .collect();
            o.insert("meterValue".into(), f.meter_value(&t.start_clock, samples));
            Value::Object(o)
        }),
        None,
    )];
    for (i, mv) in t.meter_values.iter().enumerate() {
        out.push((
            "TransactionEvent",
            Box::new(move |f: &Frame| {
                let mut o = base(f, t.updated_as, i + 1, &mv.clock);
                let mut samples: Vec<Value> = f
                    .sample(&mv.register, "Sample.Periodic")
                    .into_iter()
                    .collect();
                samples.extend(f.others(&mv.others));
                o.insert("meterValue".into(), f.meter_value(&mv.clock, samples));
                Value::Object(o)
            }),
            None,
        ));
    }
    if let Some(stop) = &t.stop {
        out.push((
            "TransactionEvent",
            Box::new(move |f: &Frame| {
                let mut o = base(f, "Ended", last_seq, &stop.clock);
                if let Some(Value::Object(info)) = o.get_mut("transactionInfo") {
                    insert(
                        info,
                        "stoppedReason",
                        stop.reason.clone().map(Value::String),
                    );
                }
                if let Some(tag) = &stop.id_tag {
                    o.insert(
                        "idToken".into(),
                        json!({"idToken": tag, "type": "ISO14443"}),
                    );
                }
                let samples: Vec<Value> = f
                    .sample(&stop.register, "Transaction.End")
                    .into_iter()
                    .collect();
                o.insert("meterValue".into(), f.meter_value(&stop.clock, samples));
                Value::Object(o)
            }),
            None,
        ));
    }
    out
}

impl Case {
    /// Whether anything in the case is outside its domain (its twin then differs).
    pub fn has_hostile_values(&self) -> bool {
        self.deliveries(false) != self.deliveries(true)
    }

    /// The frames in the order the charger sends them; `twin`: with every value outside its
    /// domain taken out (see the module header).
    pub fn deliveries(&self, twin: bool) -> Vec<Delivery> {
        let mut planned: Vec<Planned<'_>> = Vec::new();
        for (k, t) in self.transactions.iter().enumerate() {
            planned.extend(if self.v201 {
                frames_201(k, t)
            } else {
                frames_16(k, t)
            });
        }
        let before = |at: usize| at % (planned.len() + 1);
        let mut noise: Vec<&(usize, Noise)> = self.noise.iter().collect();
        noise.sort_by_key(|(at, _)| before(*at));
        let mut noise = noise.into_iter().peekable();
        let mut sequence = Vec::new();
        for (i, frame) in planned.iter().enumerate() {
            while let Some((_, n)) = noise.next_if(|(at, _)| before(*at) <= i) {
                sequence.push(Item::Noise(n));
            }
            sequence.push(Item::Transaction(frame));
        }
        sequence.extend(noise.map(|(_, n)| Item::Noise(n)));

        let mut out = Vec::new();
        for (i, item) in sequence.iter().enumerate() {
            let minutes = FRAME_INTERVAL_MINUTES * i64::try_from(i).expect("a few frames");
            let received_at = first_received() + Duration::minutes(minutes);
            let (text, start_id) = match item {
                Item::Transaction((action, build, id)) => {
                    let frame = Frame {
                        received_at,
                        twin,
                        v201: self.v201,
                    };
                    (self.text(i, action, &build(&frame)), *id)
                }
                Item::Noise(Noise::Call { action, payload }) => {
                    (self.text(i, action, payload), None)
                }
                Item::Noise(Noise::Raw(text)) => (text.clone(), None),
            };
            out.push(Delivery {
                text,
                received_at,
                start_id,
            });
        }
        if let Some(again) = self
            .redelivered
            .and_then(|i| out.get(i % out.len()).cloned())
        {
            let at = out.iter().position(|d| *d == again).unwrap_or(0);
            out.insert(at + 1, again);
        }
        out
    }

    /// The CALL frame as the charger's JSON encoder writes it.
    fn text(&self, i: usize, action: &str, payload: &Value) -> String {
        let text = json!([2, format!("m{i}"), action, payload]).to_string();
        if self.bare_non_finite {
            text.replace("\"NaN\"", "NaN")
                .replace("\"-Infinity\"", "-Infinity")
                .replace("\"Infinity\"", "Infinity")
        } else {
            text
        }
    }
}
