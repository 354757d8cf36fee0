//! What a session stores: the `SessionEvent`s and the values they carry, and the [`UPCASTERS`]
//! that read the events stored in older shapes.
//!
//! Versions (`event_version`, per event type):
//! - `SessionStarted` 1.1: `seq_no` (OCPP 2.0.1); 1.2: `holder` (who held the token).
//! - `SessionCompleted` 1.2: `holder` in its start.
//! - `ReadingsRecorded` 1.1: `seq_no`, `token` (2.0.1), `running` (what `SessionMetered`
//!   publishes), `received_at` (the inactivity limit).
//! - `SessionCompleted` 1.1: `meter_stop`, `token`, `samples`, `charging_ended_at`, and `seq_no` in
//!   its start, `seq_no` and `token` in its stop.
//! - `StopReceived`, `SessionFlagged`, `SignedValuesRecorded`: 1.0, the shape they were first
//!   stored in.
//!
//! Events of these types stored at 1.0 come in every shape from the first release's to the last
//! before the versions: the upcasters add whichever of the fields is missing, with its default
//! (none, no readings), and leave those there alone.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{CostCentreId, DriverId, Energy, FleetId, VehicleId};
use joule_store::Upcaster;
use joule_store::upcast::with_field;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who held the session's token when it started (issue 13): the fleet, driver, vehicle and cost
/// centre of the token's assignment then. A later reassignment does not change a session's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub fleet_id: Option<FleetId>,
    pub driver_id: Option<DriverId>,
    pub vehicle_id: Option<VehicleId>,
    pub cost_centre_id: Option<CostCentreId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartDetails {
    pub charger_id: String,
    pub charge_point_id: String,
    pub connector_id: u32,
    pub transaction_id: String,
    pub token_uid: String,
    pub account_id: String,
    /// `None` when the charger sent no usable start register (2.0.1 without Transaction.Begin).
    pub meter_start: Option<Energy>,
    pub started_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// 2.0.1 seqNo of the Started event.
    pub seq_no: Option<u32>,
    /// Who held the token at the start (1.2); `None` when it was unassigned or unknown.
    pub holder: Option<Holder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopDetails {
    pub charger_id: String,
    pub charge_point_id: String,
    pub transaction_id: String,
    /// `None` when the charger sent no usable stop register (2.0.1 without Transaction.End).
    pub meter_stop: Option<Energy>,
    pub stopped_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub reason: String,
    /// 2.0.1 seqNo of the Ended event; `None` in 1.6.
    pub seq_no: Option<u32>,
    /// A token presented at the stop, used when the start named none.
    pub token: Option<TokenRef>,
}

/// An energy register reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub register: Energy,
}

/// A running session as of its latest reading: the start, who pays, and the energy so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub start: StartDetails,
    pub token: Option<TokenRef>,
    /// The register energy is counted from: the start's, else the first reading's.
    pub meter_start: Energy,
    /// Latest register − `meter_start`, never negative.
    pub energy: Energy,
    /// Time of the latest reading.
    pub as_of: DateTime<Utc>,
}

/// The readings in time order (ties by register, so the order never depends on arrival), repeats
/// removed.
pub fn ordered(readings: &[Reading]) -> Vec<Reading> {
    let mut out = readings.to_vec();
    out.sort_by_key(|r| (r.at, r.register.wh()));
    out.dedup();
    out
}

/// A token and the account it bills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRef {
    pub token_uid: String,
    pub account_id: String,
}

/// A signed meter value, byte-exact as the charger sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedValue {
    pub context: String,
    pub measurand: String,
    pub charger_time: Option<DateTime<Utc>>,
    pub format: String,
    pub signed_meter_data: String,
    pub signing_method: String,
    pub encoding_method: String,
    pub public_key: String,
}

impl SignedValue {
    pub(super) fn key(&self) -> String {
        format!("{}\u{1f}{}", self.context, self.signed_meter_data)
    }
}

// Events are built once and serialised; their in-memory size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionEvent {
    SessionStarted(StartDetails),
    ReadingsRecorded {
        readings: Vec<Reading>,
        /// The 2.0.1 event that carried them (its seqNo is then recorded).
        seq_no: Option<u32>,
        token: Option<TokenRef>,
        /// Set when the readings arrived while the session was running (started, not stopped):
        /// what `SessionMetered` publishes besides the readings, so the outbox needs no other event.
        running: Option<Running>,
        /// When the message that carried them arrived (`None` in events recorded before the
        /// inactivity limit existed).
        received_at: Option<DateTime<Utc>>,
    },
    /// The stop, recorded while events before it are still missing (2.0.1).
    StopReceived(StopDetails),
    /// Self-contained: carries the start too, so consumers need no other event.
    SessionCompleted {
        start: Option<StartDetails>,
        stop: StopDetails,
        /// When billing starts: the start's time, else the first reading's, else the stop's.
        started_at: DateTime<Utc>,
        /// The start register used for billing (from the start, else the first reading).
        meter_start: Energy,
        energy: Energy,
        flags: Vec<String>,
        /// The stop register used for billing (from the stop, else the last reading).
        meter_stop: Option<Energy>,
        /// Who pays: the start's token, else one presented later.
        token: Option<TokenRef>,
        /// Every reading of the session, oldest first.
        samples: Vec<Reading>,
        /// When the car stopped drawing energy, if readings show it did before the stop
        /// (`joule_domain::energy::charging_ended_at`).
        charging_ended_at: Option<DateTime<Utc>>,
    },
    SessionFlagged {
        flag: String,
        detail: String,
    },
    SignedValuesRecorded {
        values: Vec<SignedValue>,
    },
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> String {
        match self {
            SessionEvent::SessionStarted(_) => "SessionStarted",
            SessionEvent::ReadingsRecorded { .. } => "ReadingsRecorded",
            SessionEvent::StopReceived(_) => "StopReceived",
            SessionEvent::SessionCompleted { .. } => "SessionCompleted",
            SessionEvent::SessionFlagged { .. } => "SessionFlagged",
            SessionEvent::SignedValuesRecorded { .. } => "SignedValuesRecorded",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            SessionEvent::SessionStarted(_) | SessionEvent::SessionCompleted { .. } => "1.2",
            SessionEvent::ReadingsRecorded { .. } => "1.1",
            SessionEvent::StopReceived(_)
            | SessionEvent::SessionFlagged { .. }
            | SessionEvent::SignedValuesRecorded { .. } => "1.0",
        }
        .to_owned()
    }
}

/// The session's upcasters, oldest first: for its event store and its relay.
pub const UPCASTERS: &[Upcaster] = &[
    Upcaster {
        event_type: "SessionStarted",
        version: "1.1",
        upcast: started_1_1,
    },
    Upcaster {
        event_type: "ReadingsRecorded",
        version: "1.1",
        upcast: readings_recorded_1_1,
    },
    Upcaster {
        event_type: "SessionCompleted",
        version: "1.1",
        upcast: completed_1_1,
    },
    Upcaster {
        event_type: "SessionStarted",
        version: "1.2",
        upcast: started_1_2,
    },
    Upcaster {
        event_type: "SessionCompleted",
        version: "1.2",
        upcast: completed_1_2,
    },
];

/// The fields `StartDetails` gained after 1.0, with their defaults.
fn start_details_1_1() -> [(&'static str, Value); 1] {
    [("seq_no", Value::Null)]
}

/// The fields `StopDetails` gained after 1.0 (in `SessionCompleted`; `StopReceived` always had
/// them), with their defaults.
fn stop_details_1_1() -> [(&'static str, Value); 2] {
    [("seq_no", Value::Null), ("token", Value::Null)]
}

fn with_fields<const N: usize>(payload: Value, fields: [(&str, Value); N]) -> Value {
    fields.into_iter().fold(payload, |payload, (field, value)| {
        with_field(payload, field, value)
    })
}

/// Adds the missing `fields` to the object under `key` of a map (nothing when it is `null`).
fn nested_with<const N: usize>(
    inner: &mut Map<String, Value>,
    key: &str,
    fields: [(&str, Value); N],
) {
    if let Some(details) = inner.get_mut(key).and_then(Value::as_object_mut) {
        for (field, value) in fields {
            details.entry(field).or_insert(value);
        }
    }
}

fn started_1_1(payload: Value) -> Value {
    with_fields(payload, start_details_1_1())
}

/// 1.1 → 1.2: a session started before holders were recorded names none.
fn started_1_2(payload: Value) -> Value {
    with_fields(payload, [("holder", Value::Null)])
}

fn completed_1_2(mut payload: Value) -> Value {
    if let Some(inner) = payload
        .get_mut("SessionCompleted")
        .and_then(Value::as_object_mut)
    {
        nested_with(inner, "start", [("holder", Value::Null)]);
    }
    payload
}

fn readings_recorded_1_1(payload: Value) -> Value {
    with_fields(
        payload,
        [
            ("seq_no", Value::Null),
            ("token", Value::Null),
            ("running", Value::Null),
            ("received_at", Value::Null),
        ],
    )
}

fn completed_1_1(payload: Value) -> Value {
    let mut payload = with_fields(
        payload,
        [
            ("meter_stop", Value::Null),
            ("token", Value::Null),
            ("samples", Value::Array(vec![])),
            ("charging_ended_at", Value::Null),
        ],
    );
    if let Some(inner) = payload
        .get_mut("SessionCompleted")
        .and_then(Value::as_object_mut)
    {
        nested_with(inner, "start", start_details_1_1());
        nested_with(inner, "stop", stop_details_1_1());
    }
    payload
}
