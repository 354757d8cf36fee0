//! Rendering a generated charger ([`super::charger::Case`]) as the OCPP frames it sends, as
//! generated or as its twin (every value outside its domain left out or replaced by the receive
//! time; see [`super::charger`]).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::charger::*;

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
