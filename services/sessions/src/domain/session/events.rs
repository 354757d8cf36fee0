//! What a session stores: the `SessionEvent`s and the values they carry.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::Energy;
use serde::{Deserialize, Serialize};

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
    #[serde(default)]
    pub seq_no: Option<u32>,
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
    #[serde(default)]
    pub seq_no: Option<u32>,
    /// A token presented at the stop, used when the start named none.
    #[serde(default)]
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
        #[serde(default)]
        seq_no: Option<u32>,
        #[serde(default)]
        token: Option<TokenRef>,
        /// Set when the readings arrived while the session was running (started, not stopped):
        /// what `SessionMetered` publishes besides the readings, so the outbox needs no other event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        running: Option<Running>,
        /// When the message that carried them arrived (absent in events recorded before the
        /// inactivity limit existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
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
        #[serde(default)]
        meter_stop: Option<Energy>,
        /// Who pays: the start's token, else one presented later.
        #[serde(default)]
        token: Option<TokenRef>,
        /// Every reading of the session, oldest first.
        #[serde(default)]
        samples: Vec<Reading>,
        /// When the car stopped drawing energy, if readings show it did before the stop
        /// (`joule_domain::energy::charging_ended_at`).
        #[serde(default)]
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

    // Fields added since 1.0 are optional with serde defaults: 1.0 payloads read unchanged.
    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
