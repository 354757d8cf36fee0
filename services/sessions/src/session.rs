//! The `ChargingSession` aggregate: one per charger transaction.
//!
//! It accepts what chargers really send: a stop without a start, a start or stop delivered twice,
//! meter values before the start, a stop register below the start register, OCPP 2.0.1 events out of
//! order or with gaps. None of these is an error; each is recorded, and anomalies become flags for
//! review. Energy billed is stop register − start register of the same meter, never negative.
//!
//! Completion: a stop without a sequence number (1.6) completes the session at once. A 2.0.1
//! session completes once its Ended event and every event from Started to it (by `seqNo`) are in,
//! so the same events give the same session whatever order they arrived in; if some never arrive,
//! [`SessionCommand::CompleteOverdue`] (sent by the sweeper after a wait) completes it without them,
//! flagged `sequence_gap`. Each event's `seqNo` is recorded; a repeat changes nothing.
//!
//! An open session without a message for the inactivity limit is closed at its last reading by
//! [`SessionCommand::CloseInactive`] (sent by the sweeper), flagged `closed_for_inactivity`; a stop
//! that still comes is flagged `stop_after_inactivity_close` and bills nothing more (ADR 027).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::{Energy, bounds};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::plausibility;

/// Review flags. They never block billing; they tell an operator where to look.
pub mod flags {
    pub const STOP_WITHOUT_START: &str = "stop_without_start";
    pub const START_AFTER_STOP: &str = "start_after_stop";
    pub const METER_REGRESSION: &str = "meter_regression";
    pub const UNKNOWN_TOKEN: &str = "unknown_token";
    pub const NO_METER_START: &str = "no_meter_start";
    pub const NO_METER_STOP: &str = "no_meter_stop";
    pub const KWH_LABELLED_AS_WH: &str = "kwh_labelled_as_wh";
    pub const NEGATIVE_METER_VALUE: &str = "negative_meter_value";
    pub const IMPLAUSIBLE_POWER: &str = "implausible_power";
    pub const SEQUENCE_GAP: &str = "sequence_gap";
    pub const EVENT_AFTER_END: &str = "event_after_end";
    pub const DUPLICATE_END: &str = "duplicate_end";
    /// No message for the session within the inactivity limit: closed from its last reading.
    pub const CLOSED_FOR_INACTIVITY: &str = "closed_for_inactivity";
    /// A stop for a session already closed for inactivity; recorded, not billed again.
    pub const STOP_AFTER_INACTIVITY_CLOSE: &str = "stop_after_inactivity_close";
    /// A 1.6 stop with an unusable transaction id (-1, never issued) that was matched to the
    /// charger's open transaction (set by the intake, [`crate::matching`]).
    pub const STOP_MATCHED_TO_OPEN_TRANSACTION: &str = "stop_matched_to_open_transaction";
    /// A value outside its domain (`joule_domain::bounds`): kept in the flag's detail, left out
    /// of every computation.
    pub const VALUE_OUT_OF_RANGE: &str = joule_domain::bounds::VALUE_OUT_OF_RANGE;
}

/// How many `value_out_of_range` details a session keeps.
pub const VALUES_OUT_OF_RANGE_KEPT: usize = 20;

/// How many missing seqNos a `sequence_gap` flag lists.
const MISSING_SEQ_LISTED: usize = 20;

/// How many seqNos `from..=to` holds (`from <= to`).
fn span(from: u32, to: u32) -> u64 {
    u64::from(to.saturating_sub(from)).saturating_add(1)
}

/// What the aggregate needs from configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionRules {
    /// The most power a charger delivers, in W.
    pub max_power_w: Decimal,
}

impl Default for SessionRules {
    fn default() -> Self {
        Self {
            max_power_w: Decimal::from(350_000),
        }
    }
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

/// When the car stopped drawing energy (the shared rule, `joule_domain::energy::charging_ended_at`).
fn charging_ended_at(
    readings: &[Reading],
    final_register: Energy,
    stopped_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    joule_domain::energy::charging_ended_at(
        readings.iter().map(|r| (r.at, r.register)),
        final_register,
        stopped_at,
    )
}

/// A session an unusable 1.6 stop may belong to ([`ChargingSession::stop_candidate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StopCandidate {
    pub transaction_id: String,
    pub connector_id: u32,
    /// The token the session started with.
    pub id_tag: String,
    pub started_at: DateTime<Utc>,
    /// The latest register: the last reading's, else the start's.
    pub last_register: Option<Energy>,
    /// Closed for inactivity and waiting for its late stop (which is then flagged, not billed).
    pub closed_for_inactivity: bool,
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
    fn key(&self) -> String {
        format!("{}\u{1f}{}", self.context, self.signed_meter_data)
    }
}

/// What a charger message adds to a session besides its main content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    pub readings: Vec<Reading>,
    pub signed: Vec<SignedValue>,
    /// Flags raised by the gateway, as `flag` or `flag:detail`.
    pub flags: Vec<String>,
    /// When the message arrived: the session's latest sign of life (see
    /// [`SessionCommand::CloseInactive`]).
    pub received_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionCommand {
    Start(StartDetails, Extras),
    RecordReadings {
        seq_no: Option<u32>,
        token: Option<TokenRef>,
        extras: Extras,
    },
    Stop(StopDetails, Extras),
    /// Complete a stopped session whose missing events did not arrive in time.
    CompleteOverdue,
    /// Close a started session that received no message for `limit` before `now`: it stops at its
    /// last reading (or its start, without readings), flagged `closed_for_inactivity`, and completes
    /// as any other. A session that is not open, or not idle long enough, is left alone.
    CloseInactive {
        now: DateTime<Utc>,
        limit: chrono::Duration,
    },
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
        /// ([`charging_ended_at`]).
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

/// The session never rejects charger input; this error type exists for the framework.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SessionError {}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Nothing but meter readings seen yet.
    #[default]
    Unknown,
    Active,
    Completed,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChargingSession {
    status: Status,
    start: Option<StartDetails>,
    stop: Option<StopDetails>,
    readings: Vec<Reading>,
    seen_seq: BTreeSet<u32>,
    /// The token presented during the transaction with the lowest seqNo.
    late_token: Option<(u32, TokenRef)>,
    signed: BTreeSet<String>,
    flags: Vec<String>,
    /// When the latest message of the started, unstopped session arrived.
    #[serde(default)]
    last_activity: Option<DateTime<Utc>>,
    /// The details of the `value_out_of_range` flags raised (at most [`VALUES_OUT_OF_RANGE_KEPT`]).
    #[serde(default)]
    out_of_range: Vec<String>,
}

/// `flag` or `flag:detail` as the gateway sends them.
fn split_flag(raw: &str) -> (String, String) {
    match raw.split_once(':') {
        Some((flag, detail)) => (flag.to_owned(), detail.to_owned()),
        None => (raw.to_owned(), String::new()),
    }
}

impl ChargingSession {
    fn flag_once(&self, flag: &str, detail: String, events: &mut Vec<SessionEvent>) {
        if flag == flags::VALUE_OUT_OF_RANGE {
            return self.flag_out_of_range(detail, events);
        }
        let raised_now = events
            .iter()
            .any(|e| matches!(e, SessionEvent::SessionFlagged { flag: f, .. } if f == flag));
        if !raised_now && !self.flags.iter().any(|f| f == flag) {
            events.push(SessionEvent::SessionFlagged {
                flag: flag.to_owned(),
                detail,
            });
        }
    }

    /// Each value outside its domain is kept for audit (its quantity and raw text are the flag's
    /// detail), once, and up to [`VALUES_OUT_OF_RANGE_KEPT`] per session; the gateway's frame audit
    /// trail has the rest.
    fn flag_out_of_range(&self, detail: String, events: &mut Vec<SessionEvent>) {
        let raised_now: Vec<&String> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::SessionFlagged { flag, detail }
                    if flag == flags::VALUE_OUT_OF_RANGE =>
                {
                    Some(detail)
                }
                _ => None,
            })
            .collect();
        let kept = self.out_of_range.len().saturating_add(raised_now.len());
        if kept < VALUES_OUT_OF_RANGE_KEPT
            && !raised_now.contains(&&detail)
            && !self.out_of_range.contains(&detail)
        {
            events.push(SessionEvent::SessionFlagged {
                flag: flags::VALUE_OUT_OF_RANGE.to_owned(),
                detail,
            });
        }
    }

    /// The readings a message adds, at most up to [`bounds::READINGS_PER_SESSION_MAX`] in the
    /// session (flagged beyond), so that `SessionCompleted`, which carries them all, stays a
    /// message NATS takes.
    fn admit(&self, mut readings: Vec<Reading>, events: &mut Vec<SessionEvent>) -> Vec<Reading> {
        let room = bounds::READINGS_PER_SESSION_MAX.saturating_sub(self.readings.len());
        if readings.len() > room {
            self.flag_out_of_range(
                format!(
                    "readings per session: more than {}; the rest left out",
                    bounds::READINGS_PER_SESSION_MAX
                ),
                events,
            );
            readings.truncate(room);
        }
        readings
    }

    fn seen(&self, seq_no: Option<u32>) -> bool {
        seq_no.is_some_and(|s| self.seen_seq.contains(&s))
    }

    /// Events for what a message brings besides its main content.
    fn extras(&self, extras: Extras, events: &mut Vec<SessionEvent>) {
        let readings = self.admit(extras.readings, events);
        if !readings.is_empty() {
            events.push(SessionEvent::ReadingsRecorded {
                readings,
                seq_no: None,
                token: None,
                running: None,
                received_at: extras.received_at,
            });
        }
        let mut keys = BTreeSet::new();
        let new: Vec<SignedValue> = extras
            .signed
            .into_iter()
            .filter(|v| !self.signed.contains(&v.key()) && keys.insert(v.key()))
            .collect();
        if !new.is_empty() {
            events.push(SessionEvent::SignedValuesRecorded { values: new });
        }
        for raw in extras.flags {
            let (flag, detail) = split_flag(&raw);
            self.flag_once(&flag, detail, events);
        }
    }

    /// Whether everything needed to complete is in.
    fn ready(&self) -> bool {
        let Some(stop) = &self.stop else {
            return false;
        };
        match (stop.seq_no, &self.start) {
            (None, _) => true,
            (Some(_), None) => false,
            // Every seqNo from the start's to the end's is in: as many seen as the range is long.
            // Counted, not walked, so that a seqNo of 4294967295 costs no more than one of 3.
            (Some(end), Some(start)) => {
                let from = start.seq_no.unwrap_or(0);
                from <= end
                    && u64::try_from(self.seen_seq.range(from..=end).count())
                        .is_ok_and(|seen| seen == span(from, end))
            }
        }
    }

    /// The seqNos missing between the start and the end: at most [`MISSING_SEQ_LISTED`] of them,
    /// and how many there are in all.
    fn missing_seq(&self) -> (Vec<u32>, u64) {
        match &self.stop {
            Some(StopDetails {
                seq_no: Some(end), ..
            }) => {
                let from = self.start.as_ref().and_then(|s| s.seq_no).unwrap_or(0);
                if from > *end {
                    return (vec![], 0);
                }
                let seen = u64::try_from(self.seen_seq.range(from..=*end).count()).unwrap_or(0);
                let listed = (from..=*end)
                    .filter(|s| !self.seen_seq.contains(s))
                    .take(MISSING_SEQ_LISTED)
                    .collect();
                (listed, span(from, *end).saturating_sub(seen))
            }
            _ => (vec![], 0),
        }
    }

    fn completion(&self, rules: &SessionRules, overdue: bool) -> Vec<SessionEvent> {
        let Some(stop) = self.stop.clone() else {
            return vec![];
        };
        let mut events = Vec::new();
        let mut flags = self.flags.clone();
        let mut raise = |flag: &str, detail: String, events: &mut Vec<SessionEvent>| {
            if !flags.iter().any(|f| f == flag) {
                flags.push(flag.to_owned());
                events.push(SessionEvent::SessionFlagged {
                    flag: flag.to_owned(),
                    detail,
                });
            }
        };
        if overdue {
            let (missing, count) = self.missing_seq();
            if count > 0 || self.start.is_none() {
                let list: Vec<String> = missing.iter().map(u32::to_string).collect();
                let more = u64::try_from(missing.len())
                    .ok()
                    .and_then(|listed| count.checked_sub(listed))
                    .filter(|more| *more > 0)
                    .map(|more| format!(" and {more} more"))
                    .unwrap_or_default();
                raise(
                    flags::SEQUENCE_GAP,
                    format!("completed without seqNo {}{more}", list.join(", ")),
                    &mut events,
                );
            }
        }
        let start_register = self
            .start
            .as_ref()
            .and_then(|s| s.meter_start.map(|m| (m, s.started_at)));
        let stop_register = stop.meter_stop.map(|m| (m, stop.stopped_at));
        let checked = plausibility::check(
            start_register,
            &self.readings,
            stop_register,
            rules.max_power_w,
        );
        for (flag, detail) in &checked.flags {
            raise(flag, detail.clone(), &mut events);
        }
        let (meter_start, started_at) =
            match (&self.start, checked.meter_start, &checked.first_reading) {
                (Some(start), Some(register), _) => (register, start.started_at),
                (Some(start), None, Some(reading)) => {
                    raise(
                        flags::NO_METER_START,
                        "start register taken from the first meter reading".into(),
                        &mut events,
                    );
                    (reading.register, start.started_at)
                }
                (None, _, Some(reading)) => {
                    raise(
                        flags::STOP_WITHOUT_START,
                        "start register taken from the first meter reading".into(),
                        &mut events,
                    );
                    (reading.register, reading.at)
                }
                (start, _, None) => {
                    if start.is_none() {
                        raise(
                            flags::STOP_WITHOUT_START,
                            "no start and no meter reading: no billable energy".into(),
                            &mut events,
                        );
                    }
                    raise(flags::NO_METER_START, String::new(), &mut events);
                    let at = start.as_ref().map_or(stop.stopped_at, |s| s.started_at);
                    (checked.meter_stop.unwrap_or(Energy::ZERO), at)
                }
            };
        // A start whose clock was outside its domain carries the time it was received, which can
        // come after a stop stamped by a sound clock: the session then began no later than its stop.
        let started_at = started_at.min(stop.stopped_at);
        let meter_stop = match (checked.meter_stop, &checked.last_reading) {
            (Some(register), _) => register,
            (None, Some(reading)) => {
                raise(
                    flags::NO_METER_STOP,
                    "stop register taken from the last meter reading".into(),
                    &mut events,
                );
                reading.register
            }
            (None, None) => {
                raise(
                    flags::NO_METER_STOP,
                    "no stop register and no meter reading: no billable energy".into(),
                    &mut events,
                );
                meter_start
            }
        };
        // Registers are inside `joule_domain::bounds` (0 to 10^12 Wh), so the difference exists;
        // were it ever beyond a decimal, nothing would be billed and the session flagged.
        let raw = meter_stop.checked_sub(meter_start).unwrap_or_else(|| {
            raise(
                flags::VALUE_OUT_OF_RANGE,
                format!(
                    "meter stop {} Wh minus meter start {} Wh is beyond a decimal",
                    meter_stop.wh(),
                    meter_start.wh()
                ),
                &mut events,
            );
            Energy::ZERO
        });
        if raw.wh() < Decimal::ZERO {
            raise(
                flags::METER_REGRESSION,
                format!(
                    "meter stop {} Wh is below meter start {} Wh",
                    meter_stop.wh(),
                    meter_start.wh()
                ),
                &mut events,
            );
        }
        let energy = raw.clamp_non_negative();
        if plausibility::exceeds_power(energy, started_at, stop.stopped_at, rules.max_power_w) {
            raise(
                flags::IMPLAUSIBLE_POWER,
                format!(
                    "{} Wh between {} and {} exceeds the charger maximum of {} W",
                    energy.wh(),
                    started_at.to_rfc3339(),
                    stop.stopped_at.to_rfc3339(),
                    rules.max_power_w
                ),
                &mut events,
            );
        }
        let token = self.token();
        if token.as_ref().is_none_or(|t| t.account_id.is_empty()) {
            raise(flags::UNKNOWN_TOKEN, String::new(), &mut events);
        }
        let samples = ordered(&self.readings);
        let charging_ended_at = charging_ended_at(&samples, meter_stop, stop.stopped_at);
        events.push(SessionEvent::SessionCompleted {
            start: self.start.clone(),
            stop,
            started_at,
            meter_start,
            energy,
            flags,
            meter_stop: Some(meter_stop),
            token,
            samples,
            charging_ended_at,
        });
        events
    }

    /// The running session as of its latest reading, while it is started and not stopped; the
    /// registers are repaired as at completion (a kWh value labelled Wh counts as kWh).
    fn running(&self, rules: &SessionRules) -> Option<Running> {
        let start = self.start.as_ref()?;
        if self.stop.is_some() || self.status == Status::Completed {
            return None;
        }
        let checked = plausibility::check(
            start.meter_start.map(|m| (m, start.started_at)),
            &self.readings,
            None,
            rules.max_power_w,
        );
        let last = checked.last_reading?;
        let meter_start = checked
            .meter_start
            .or(checked.first_reading.map(|r| r.register))?;
        Some(Running {
            start: start.clone(),
            token: self.token(),
            meter_start,
            energy: last
                .register
                .checked_sub(meter_start)
                .unwrap_or(Energy::ZERO)
                .clamp_non_negative(),
            as_of: last.at,
        })
    }

    /// Who pays: the start's token if it is known, else one presented later, else the stop's.
    fn token(&self) -> Option<TokenRef> {
        let from_start = self.start.as_ref().map(|s| TokenRef {
            token_uid: s.token_uid.clone(),
            account_id: s.account_id.clone(),
        });
        let late = self.late_token.as_ref().map(|(_, t)| t.clone());
        let at_stop = self.stop.as_ref().and_then(|s| s.token.clone());
        [from_start.clone(), late, at_stop]
            .into_iter()
            .flatten()
            .find(|t| !t.account_id.is_empty())
            .or(from_start)
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Started and not stopped: the charger may still send readings and its stop.
    fn is_open(&self) -> bool {
        self.status == Status::Active && self.stop.is_none()
    }

    /// Nothing recorded yet under this id.
    pub fn is_blank(&self) -> bool {
        self.start.is_none()
            && self.stop.is_none()
            && self.readings.is_empty()
            && self.seen_seq.is_empty()
    }

    /// What matching an unusable 1.6 stop needs to know of this session, if a stop may still be
    /// applied to it: it is open, or it was closed for inactivity and no stop came since.
    pub fn stop_candidate(&self) -> Option<StopCandidate> {
        let start = self.start.as_ref()?;
        let closed_for_inactivity = self.status == Status::Completed
            && self.has_flag(flags::CLOSED_FOR_INACTIVITY)
            && !self.has_flag(flags::STOP_AFTER_INACTIVITY_CLOSE);
        if !self.is_open() && !closed_for_inactivity {
            return None;
        }
        let last_register = ordered(&self.readings)
            .last()
            .map(|r| r.register)
            .or(start.meter_start);
        Some(StopCandidate {
            transaction_id: start.transaction_id.clone(),
            connector_id: start.connector_id,
            id_tag: start.token_uid.clone(),
            started_at: start.started_at,
            last_register,
            closed_for_inactivity,
        })
    }

    /// A stop for a completed session: a repeat of its own stop changes nothing; one after an
    /// inactivity close, or a different 1.6 stop, is flagged and not billed. Whether it was one of
    /// those.
    fn late_stop(&self, stop: &StopDetails, events: &mut Vec<SessionEvent>) -> bool {
        let what = format!(
            "transactionId {}, meterStop {}, at {}",
            stop.transaction_id,
            stop.meter_stop
                .map_or_else(|| "none".to_owned(), |m| format!("{} Wh", m.wh())),
            stop.stopped_at.to_rfc3339()
        );
        if self.has_flag(flags::CLOSED_FOR_INACTIVITY) {
            self.flag_once(flags::STOP_AFTER_INACTIVITY_CLOSE, what, events);
            true
        } else if stop.seq_no.is_none()
            && self.stop.as_ref().is_some_and(|own| {
                (own.meter_stop, own.stopped_at) != (stop.meter_stop, stop.stopped_at)
            })
        {
            self.flag_once(
                flags::DUPLICATE_END,
                format!("a second stop ({what}) was ignored"),
                events,
            );
            true
        } else {
            false
        }
    }

    /// [`SessionCommand::CloseInactive`].
    fn close_inactive(
        &self,
        now: DateTime<Utc>,
        limit: chrono::Duration,
        rules: &SessionRules,
    ) -> Vec<SessionEvent> {
        let (Some(start), Some(last)) = (&self.start, self.last_activity) else {
            return vec![];
        };
        if !self.is_open() || now.signed_duration_since(last) < limit {
            return vec![];
        }
        // The last reading as completion will count it (repaired, implausible ones left out).
        let stopped_at = self
            .running(rules)
            .map_or(start.started_at, |running| running.as_of);
        let stop = StopDetails {
            charger_id: start.charger_id.clone(),
            charge_point_id: start.charge_point_id.clone(),
            transaction_id: start.transaction_id.clone(),
            meter_stop: None,
            stopped_at,
            received_at: now,
            reason: "Other".into(),
            seq_no: None,
            token: None,
        };
        let events = vec![
            SessionEvent::SessionFlagged {
                flag: flags::CLOSED_FOR_INACTIVITY.to_owned(),
                detail: format!(
                    "no message since {} (limit {} s); stopped at {}",
                    last.to_rfc3339(),
                    limit.num_seconds(),
                    stopped_at.to_rfc3339()
                ),
            },
            SessionEvent::StopReceived(stop),
        ];
        let mut next = self.clone();
        for event in &events {
            next.apply(event.clone());
        }
        let mut all = events;
        all.extend(next.completion(rules, false));
        all
    }

    pub(crate) fn decide(
        &self,
        command: SessionCommand,
        rules: &SessionRules,
    ) -> Vec<SessionEvent> {
        let mut events = Vec::new();
        let completed = self.status == Status::Completed;
        match command {
            SessionCommand::Start(start, extras) => {
                if completed {
                    if self.start.is_none() {
                        self.flag_once(flags::START_AFTER_STOP, String::new(), &mut events);
                    }
                    return events;
                }
                // A repeated start (retry, duplicate delivery) changes nothing.
                if self.start.is_some() || self.seen(start.seq_no) {
                    return events;
                }
                events.push(SessionEvent::SessionStarted(start));
                self.extras(extras, &mut events);
            }
            SessionCommand::RecordReadings {
                seq_no,
                token,
                extras,
            } => {
                if completed {
                    if seq_no.is_some() && !self.seen(seq_no) {
                        self.flag_once(
                            flags::EVENT_AFTER_END,
                            format!("seqNo {} arrived after completion", seq_no.unwrap_or(0)),
                            &mut events,
                        );
                    }
                    return events;
                }
                if self.seen(seq_no) {
                    return events;
                }
                let Extras {
                    readings,
                    signed,
                    flags: raised,
                    received_at,
                } = extras;
                let readings = self.admit(readings, &mut events);
                if !readings.is_empty() || seq_no.is_some() || token.is_some() {
                    events.push(SessionEvent::ReadingsRecorded {
                        readings,
                        seq_no,
                        token,
                        running: None,
                        received_at,
                    });
                }
                self.extras(
                    Extras {
                        readings: vec![],
                        signed,
                        flags: raised,
                        received_at,
                    },
                    &mut events,
                );
            }
            SessionCommand::Stop(stop, extras) => {
                if self.seen(stop.seq_no) {
                    return events;
                }
                if completed {
                    if self.late_stop(&stop, &mut events) {
                        // What the gateway (or the matching) said about that stop, for review.
                        for raw in extras.flags {
                            let (flag, detail) = split_flag(&raw);
                            self.flag_once(&flag, detail, &mut events);
                        }
                    }
                    return events;
                }
                if self.stop.is_some() {
                    self.flag_once(
                        flags::DUPLICATE_END,
                        format!("a second stop (seqNo {:?}) was ignored", stop.seq_no),
                        &mut events,
                    );
                    return events;
                }
                self.extras(extras, &mut events);
                events.push(SessionEvent::StopReceived(stop));
            }
            SessionCommand::CompleteOverdue => {
                if !completed && self.stop.is_some() {
                    return self.completion(rules, true);
                }
                return events;
            }
            SessionCommand::CloseInactive { now, limit } => {
                return self.close_inactive(now, limit, rules);
            }
        }
        let mut next = self.clone();
        for event in &events {
            next.apply(event.clone());
        }
        if let Some(running) = next.running(rules) {
            for event in &mut events {
                if let SessionEvent::ReadingsRecorded {
                    readings,
                    running: slot,
                    ..
                } = event
                    && !readings.is_empty()
                {
                    *slot = Some(running.clone());
                }
            }
        }
        if next.status != Status::Completed && next.ready() {
            events.extend(next.completion(rules, false));
        }
        events
    }
}

impl Aggregate for ChargingSession {
    const TYPE: &'static str = "ChargingSession";
    type Command = SessionCommand;
    type Event = SessionEvent;
    type Error = SessionError;
    type Services = SessionRules;

    async fn handle(
        &mut self,
        command: Self::Command,
        rules: &SessionRules,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command, rules) {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SessionEvent::SessionStarted(start) => {
                if self.status == Status::Unknown {
                    self.status = Status::Active;
                }
                self.last_activity = self.last_activity.max(Some(start.received_at));
                if let Some(seq) = start.seq_no {
                    self.seen_seq.insert(seq);
                }
                self.start = Some(start);
            }
            SessionEvent::ReadingsRecorded {
                readings,
                seq_no,
                token,
                received_at,
                ..
            } => {
                // Only what arrives while the session is open keeps it alive; the read model's
                // `last_activity_at` follows the same rule, so the sweeper and the aggregate agree.
                if self.is_open() {
                    let at = received_at.or_else(|| readings.iter().map(|r| r.at).max());
                    self.last_activity = self.last_activity.max(at);
                }
                self.readings.extend(readings);
                if let Some(seq) = seq_no {
                    self.seen_seq.insert(seq);
                    if let Some(token) = token
                        && self.late_token.as_ref().is_none_or(|(s, _)| seq < *s)
                    {
                        self.late_token = Some((seq, token));
                    }
                }
            }
            SessionEvent::StopReceived(stop) => {
                if let Some(seq) = stop.seq_no {
                    self.seen_seq.insert(seq);
                }
                self.stop = Some(stop);
            }
            SessionEvent::SessionCompleted { stop, .. } => {
                self.status = Status::Completed;
                if self.stop.is_none() {
                    self.stop = Some(stop);
                }
            }
            SessionEvent::SessionFlagged { flag, detail } => {
                if flag == flags::VALUE_OUT_OF_RANGE {
                    self.out_of_range.push(detail);
                }
                if !self.flags.contains(&flag) {
                    self.flags.push(flag);
                }
            }
            SessionEvent::SignedValuesRecorded { values } => {
                self.signed.extend(values.iter().map(SignedValue::key));
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests build their inputs with plain arithmetic"
)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;
    use rust_decimal_macros::dec;

    type Given = TestFramework<ChargingSession>;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn rules() -> SessionRules {
        SessionRules::default()
    }

    fn start(meter_wh: Decimal) -> StartDetails {
        StartDetails {
            charger_id: "c".into(),
            charge_point_id: "CP1".into(),
            connector_id: 1,
            transaction_id: "7".into(),
            token_uid: "TAG".into(),
            account_id: "acc".into(),
            meter_start: Some(Energy::from_wh(meter_wh)),
            started_at: t("2026-11-21T10:00:00Z"),
            received_at: t("2026-11-21T10:00:01Z"),
            seq_no: None,
        }
    }

    fn stop(meter_wh: Decimal) -> StopDetails {
        StopDetails {
            charger_id: "c".into(),
            charge_point_id: "CP1".into(),
            transaction_id: "7".into(),
            meter_stop: Some(Energy::from_wh(meter_wh)),
            stopped_at: t("2026-11-21T11:00:00Z"),
            received_at: t("2026-11-21T11:00:01Z"),
            reason: "Local".into(),
            seq_no: None,
            token: None,
        }
    }

    fn token() -> Option<TokenRef> {
        Some(TokenRef {
            token_uid: "TAG".into(),
            account_id: "acc".into(),
        })
    }

    fn completed(
        start: Option<StartDetails>,
        stop: StopDetails,
        meter_start: Decimal,
        energy: Decimal,
        flags: &[&str],
    ) -> SessionEvent {
        let stop_register = stop.meter_stop;
        SessionEvent::SessionCompleted {
            started_at: start
                .as_ref()
                .map_or(t("2026-11-21T10:10:00Z"), |s| s.started_at),
            token: start.as_ref().map(|s| TokenRef {
                token_uid: s.token_uid.clone(),
                account_id: s.account_id.clone(),
            }),
            start,
            stop,
            meter_start: Energy::from_wh(meter_start),
            energy: Energy::from_wh(energy),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            meter_stop: stop_register,
            samples: vec![],
            charging_ended_at: None,
        }
    }

    fn flagged(flag: &str, detail: &str) -> SessionEvent {
        SessionEvent::SessionFlagged {
            flag: flag.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn a_stop_completes_with_the_register_difference() {
        Given::with(rules())
            .given(vec![SessionEvent::SessionStarted(start(dec!(1000)))])
            .when(SessionCommand::Stop(stop(dec!(13500)), Extras::default()))
            .then_expect_events(vec![
                SessionEvent::StopReceived(stop(dec!(13500))),
                completed(
                    Some(start(dec!(1000))),
                    stop(dec!(13500)),
                    dec!(1000),
                    dec!(12500),
                    &[],
                ),
            ]);
    }

    #[test]
    fn a_repeated_start_or_stop_changes_nothing() {
        Given::with(rules())
            .given(vec![SessionEvent::SessionStarted(start(dec!(1000)))])
            .when(SessionCommand::Start(start(dec!(1000)), Extras::default()))
            .then_expect_events(vec![]);
        Given::with(rules())
            .given(vec![
                SessionEvent::SessionStarted(start(dec!(1000))),
                completed(
                    Some(start(dec!(1000))),
                    stop(dec!(1500)),
                    dec!(1000),
                    dec!(500),
                    &[],
                ),
            ])
            .when(SessionCommand::Stop(stop(dec!(1500)), Extras::default()))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_meter_regression_bills_nothing_and_is_flagged() {
        Given::with(rules())
            .given(vec![SessionEvent::SessionStarted(start(dec!(5000)))])
            .when(SessionCommand::Stop(stop(dec!(4000)), Extras::default()))
            .then_expect_events(vec![
                SessionEvent::StopReceived(stop(dec!(4000))),
                flagged(
                    flags::METER_REGRESSION,
                    "meter stop 4000 Wh is below meter start 5000 Wh",
                ),
                completed(
                    Some(start(dec!(5000))),
                    stop(dec!(4000)),
                    dec!(5000),
                    dec!(0),
                    &[flags::METER_REGRESSION],
                ),
            ]);
    }

    #[test]
    fn a_stop_without_start_uses_the_first_reading() {
        let readings = vec![
            Reading {
                at: t("2026-11-21T10:30:00Z"),
                register: Energy::from_wh(dec!(2500)),
            },
            Reading {
                at: t("2026-11-21T10:10:00Z"),
                register: Energy::from_wh(dec!(2000)),
            },
        ];
        let mut expected = completed(
            None,
            stop(dec!(3000)),
            dec!(2000),
            dec!(1000),
            &[flags::STOP_WITHOUT_START, flags::UNKNOWN_TOKEN],
        );
        if let SessionEvent::SessionCompleted { token, samples, .. } = &mut expected {
            *token = None;
            *samples = ordered(&readings);
        }
        Given::with(rules())
            .given(vec![SessionEvent::ReadingsRecorded {
                readings,
                seq_no: None,
                token: None,
                running: None,
                received_at: None,
            }])
            .when(SessionCommand::Stop(stop(dec!(3000)), Extras::default()))
            .then_expect_events(vec![
                SessionEvent::StopReceived(stop(dec!(3000))),
                flagged(
                    flags::STOP_WITHOUT_START,
                    "start register taken from the first meter reading",
                ),
                flagged(flags::UNKNOWN_TOKEN, ""),
                expected,
            ]);
    }

    fn completion_of(events: &[SessionEvent]) -> (Energy, Vec<String>, Option<TokenRef>) {
        match events.last() {
            Some(SessionEvent::SessionCompleted {
                energy,
                flags,
                token,
                ..
            }) => {
                let mut flags = flags.clone();
                flags.sort();
                (*energy, flags, token.clone())
            }
            other => panic!("expected a completion, got {other:?}"),
        }
    }

    #[test]
    fn a_stop_with_nothing_before_bills_no_energy() {
        let events = Given::with(rules())
            .given_no_previous_events()
            .when(SessionCommand::Stop(stop(dec!(3000)), Extras::default()))
            .inspect_result()
            .unwrap();
        let (energy, f, _) = completion_of(&events);
        assert_eq!(energy, Energy::ZERO);
        assert!(f.contains(&flags::STOP_WITHOUT_START.to_string()));
    }

    #[test]
    fn an_unknown_token_is_flagged_at_completion() {
        let mut unknown = start(dec!(0));
        unknown.account_id = String::new();
        let events = Given::with(rules())
            .given(vec![SessionEvent::SessionStarted(unknown)])
            .when(SessionCommand::Stop(stop(dec!(1000)), Extras::default()))
            .inspect_result()
            .unwrap();
        let (energy, f, _) = completion_of(&events);
        assert_eq!(energy, Energy::from_wh(dec!(1000)));
        assert_eq!(f, [flags::UNKNOWN_TOKEN]);
    }

    #[test]
    fn a_late_start_after_a_stop_is_flagged_once() {
        let given = vec![completed(None, stop(dec!(3000)), dec!(3000), dec!(0), &[])];
        Given::with(rules())
            .given(given)
            .when(SessionCommand::Start(start(dec!(1000)), Extras::default()))
            .then_expect_events(vec![flagged(flags::START_AFTER_STOP, "")]);
    }

    #[test]
    fn gateway_flags_and_signed_values_are_kept_once() {
        let signed = SignedValue {
            context: "Transaction.End".into(),
            measurand: "Energy.Active.Import.Register".into(),
            charger_time: Some(t("2026-11-21T11:00:00Z")),
            format: String::new(),
            signed_meter_data: "OCMF|{}|{}".into(),
            signing_method: String::new(),
            encoding_method: "OCMF".into(),
            public_key: "KEY".into(),
        };
        let extras = Extras {
            readings: vec![],
            signed: vec![signed.clone(), signed.clone()],
            flags: vec!["clock_drift:charger clock 600s ahead".into()],
            received_at: None,
        };
        Given::with(rules())
            .given(vec![SessionEvent::SessionStarted(start(dec!(0)))])
            .when(SessionCommand::RecordReadings {
                seq_no: None,
                token: None,
                extras: extras.clone(),
            })
            .then_expect_events(vec![
                SessionEvent::SignedValuesRecorded {
                    values: vec![signed.clone()],
                },
                flagged("clock_drift", "charger clock 600s ahead"),
            ]);
        Given::with(rules())
            .given(vec![
                SessionEvent::SessionStarted(start(dec!(0))),
                SessionEvent::SignedValuesRecorded {
                    values: vec![signed],
                },
                flagged("clock_drift", "charger clock 600s ahead"),
            ])
            .when(SessionCommand::RecordReadings {
                seq_no: None,
                token: None,
                extras,
            })
            .then_expect_events(vec![]);
    }

    /// A 2.0.1 transaction: Started (seq 0, Begin 1000 Wh, no token), Updated (seq 1, the token, a
    /// reading), Updated (seq 2, a reading), Ended (seq 3, End 13500 Wh).
    fn transaction_201() -> Vec<SessionCommand> {
        let mut s = start(dec!(1000));
        s.seq_no = Some(0);
        s.token_uid = String::new();
        s.account_id = String::new();
        let reading = |at: &str, wh: Decimal| Extras {
            readings: vec![Reading {
                at: t(at),
                register: Energy::from_wh(wh),
            }],
            ..Default::default()
        };
        let mut e = stop(dec!(13500));
        e.seq_no = Some(3);
        vec![
            SessionCommand::Start(s, Extras::default()),
            SessionCommand::RecordReadings {
                seq_no: Some(1),
                token: token(),
                extras: reading("2026-11-21T10:20:00Z", dec!(5000)),
            },
            SessionCommand::RecordReadings {
                seq_no: Some(2),
                token: None,
                extras: reading("2026-11-21T10:40:00Z", dec!(9000)),
            },
            SessionCommand::Stop(e, Extras::default()),
        ]
    }

    fn run(commands: impl IntoIterator<Item = SessionCommand>) -> Vec<SessionEvent> {
        let mut session = ChargingSession::default();
        let mut all = Vec::new();
        for command in commands {
            for event in session.decide(command, &rules()) {
                session.apply(event.clone());
                all.push(event);
            }
        }
        all
    }

    #[test]
    fn a_201_transaction_converges_whatever_the_order_of_its_events() {
        let in_order = run(transaction_201());
        let (energy, f, token) = completion_of(&in_order);
        assert_eq!(energy, Energy::from_wh(dec!(12500)));
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(token.unwrap().account_id, "acc");
        // Every permutation of the four events, with each delivered twice.
        let commands = transaction_201();
        let mut orders = vec![];
        permutations(&mut (0..commands.len()).collect(), 0, &mut orders);
        for order in orders {
            let sequence = order
                .iter()
                .chain(order.iter())
                .map(|&i| commands[i].clone());
            let events = run(sequence);
            let completions = events
                .iter()
                .filter(|e| matches!(e, SessionEvent::SessionCompleted { .. }))
                .count();
            assert_eq!(completions, 1, "{order:?}");
            let at = events
                .iter()
                .position(|e| matches!(e, SessionEvent::SessionCompleted { .. }))
                .unwrap();
            assert_eq!(
                completion_of(&events[..=at]),
                completion_of(&in_order),
                "{order:?}"
            );
        }
    }

    fn permutations(items: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
        if k == items.len() {
            out.push(items.clone());
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permutations(items, k + 1, out);
            items.swap(k, i);
        }
    }

    #[test]
    fn ended_first_waits_and_a_gap_completes_when_overdue() {
        let commands = transaction_201();
        // Ended first: nothing completes.
        let events = run([commands[3].clone()]);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, SessionEvent::SessionCompleted { .. }))
        );
        // Started and Ended, seq 1 and 2 lost: the sweeper completes it, flagged.
        let events = run([
            commands[3].clone(),
            commands[0].clone(),
            SessionCommand::CompleteOverdue,
        ]);
        let (energy, f, _) = completion_of(&events);
        assert_eq!(energy, Energy::from_wh(dec!(12500)));
        assert!(f.contains(&flags::SEQUENCE_GAP.to_string()), "{f:?}");
        let gap = events
            .iter()
            .find_map(|e| match e {
                SessionEvent::SessionFlagged { flag, detail } if flag == flags::SEQUENCE_GAP => {
                    Some(detail.clone())
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(gap, "completed without seqNo 1, 2");
        // A late event after completion is flagged, not applied.
        let late = run([
            commands[3].clone(),
            commands[0].clone(),
            SessionCommand::CompleteOverdue,
            commands[1].clone(),
        ]);
        assert!(matches!(
            late.last(),
            Some(SessionEvent::SessionFlagged { flag, .. }) if flag == flags::EVENT_AFTER_END
        ));
    }

    #[test]
    fn missing_begin_and_end_registers_fall_back_to_readings() {
        let mut commands = transaction_201();
        if let SessionCommand::Start(s, _) = &mut commands[0] {
            s.meter_start = None;
        }
        if let SessionCommand::Stop(s, _) = &mut commands[3] {
            s.meter_stop = None;
        }
        let events = run(commands);
        let (energy, f, _) = completion_of(&events);
        assert_eq!(energy, Energy::from_wh(dec!(4000)), "9000 - 5000");
        assert_eq!(f, [flags::NO_METER_START, flags::NO_METER_STOP]);
    }

    #[test]
    fn a_kwh_stop_labelled_wh_is_read_as_kwh() {
        let events = Given::with(rules())
            .given(vec![SessionEvent::SessionStarted(start(dec!(1000)))])
            .when(SessionCommand::Stop(stop(dec!(13.5)), Extras::default()))
            .inspect_result()
            .unwrap();
        let (energy, f, _) = completion_of(&events);
        assert_eq!(energy, Energy::from_wh(dec!(12500)));
        assert_eq!(f, [flags::KWH_LABELLED_AS_WH]);
    }

    #[test]
    fn a_second_ended_event_is_flagged_not_applied() {
        let commands = transaction_201();
        let mut second = commands[3].clone();
        if let SessionCommand::Stop(s, _) = &mut second {
            s.seq_no = Some(9);
        }
        let events = run([commands[0].clone(), commands[3].clone(), second]);
        assert!(matches!(
            events.last(),
            Some(SessionEvent::SessionFlagged { flag, .. }) if flag == flags::DUPLICATE_END
        ));
    }

    fn reading(at: &str, wh: Decimal) -> Reading {
        Reading {
            at: t(at),
            register: Energy::from_wh(wh),
        }
    }

    fn with_readings(readings: Vec<Reading>) -> Extras {
        Extras {
            readings,
            ..Default::default()
        }
    }

    fn charging_end_of(events: &[SessionEvent]) -> (Option<DateTime<Utc>>, Vec<Reading>) {
        match events.last() {
            Some(SessionEvent::SessionCompleted {
                charging_ended_at,
                samples,
                ..
            }) => (*charging_ended_at, samples.clone()),
            other => panic!("expected a completion, got {other:?}"),
        }
    }

    #[test]
    fn readings_that_stop_rising_before_the_stop_end_charging_at_the_first_final_reading() {
        // Given a session whose register reaches its final value at 10:20 and stays there,
        let given = vec![
            SessionEvent::SessionStarted(start(dec!(1000))),
            SessionEvent::ReadingsRecorded {
                readings: vec![
                    reading("2026-11-21T10:40:00Z", dec!(13500)),
                    reading("2026-11-21T10:10:00Z", dec!(7000)),
                    reading("2026-11-21T10:20:00Z", dec!(13500)),
                ],
                seq_no: None,
                token: None,
                running: None,
                received_at: None,
            },
        ];
        // when it stops at 11:00 on that register,
        let events = Given::with(rules())
            .given(given)
            .when(SessionCommand::Stop(stop(dec!(13500)), Extras::default()))
            .inspect_result()
            .unwrap();
        // then charging ended at 10:20, and every reading is carried oldest first.
        let (ended, samples) = charging_end_of(&events);
        assert_eq!(ended, Some(t("2026-11-21T10:20:00Z")));
        let times: Vec<_> = samples.iter().map(|r| r.at).collect();
        assert_eq!(
            times,
            [
                t("2026-11-21T10:10:00Z"),
                t("2026-11-21T10:20:00Z"),
                t("2026-11-21T10:40:00Z")
            ]
        );
    }

    #[test]
    fn energy_rising_until_the_last_reading_means_no_idle_time() {
        // Given readings that rise until the last one, which is at the stop register,
        let given = vec![
            SessionEvent::SessionStarted(start(dec!(1000))),
            SessionEvent::ReadingsRecorded {
                readings: vec![
                    reading("2026-11-21T10:20:00Z", dec!(5000)),
                    reading("2026-11-21T10:50:00Z", dec!(13500)),
                ],
                seq_no: None,
                token: None,
                running: None,
                received_at: None,
            },
        ];
        // when the session stops,
        let events = Given::with(rules())
            .given(given)
            .when(SessionCommand::Stop(stop(dec!(13500)), Extras::default()))
            .inspect_result()
            .unwrap();
        // then it charged until the stop.
        assert_eq!(charging_end_of(&events).0, None);
        // Nor does a session without readings, or one whose last reading is below the stop.
        let events = run([
            SessionCommand::Start(start(dec!(1000)), Extras::default()),
            SessionCommand::RecordReadings {
                seq_no: None,
                token: None,
                extras: with_readings(vec![
                    reading("2026-11-21T10:20:00Z", dec!(9000)),
                    reading("2026-11-21T10:30:00Z", dec!(9000)),
                ]),
            },
            SessionCommand::Stop(stop(dec!(13500)), Extras::default()),
        ]);
        assert_eq!(charging_end_of(&events).0, None);
    }

    #[test]
    fn readings_after_the_stop_do_not_count_for_the_end_of_charging() {
        let readings = vec![
            reading("2026-11-21T10:20:00Z", dec!(13500)),
            reading("2026-11-21T11:30:00Z", dec!(13500)),
        ];
        assert_eq!(
            charging_ended_at(
                &readings,
                Energy::from_wh(dec!(13500)),
                t("2026-11-21T11:00:00Z")
            ),
            None
        );
    }

    #[test]
    fn readings_of_a_running_session_carry_what_session_metered_publishes() {
        // Given a started session,
        let given = vec![SessionEvent::SessionStarted(start(dec!(1000)))];
        // when readings arrive,
        let events = Given::with(rules())
            .given(given)
            .when(SessionCommand::RecordReadings {
                seq_no: None,
                token: None,
                extras: with_readings(vec![
                    reading("2026-11-21T10:30:00Z", dec!(6000)),
                    reading("2026-11-21T10:15:00Z", dec!(3000)),
                ]),
            })
            .inspect_result()
            .unwrap();
        // then they carry the start, the payer and the energy up to the latest reading.
        let [
            SessionEvent::ReadingsRecorded {
                running: Some(running),
                ..
            },
        ] = &events[..]
        else {
            panic!("{events:?}");
        };
        assert_eq!(running.energy, Energy::from_wh(dec!(5000)));
        assert_eq!(running.as_of, t("2026-11-21T10:30:00Z"));
        assert_eq!(running.meter_start, Energy::from_wh(dec!(1000)));
        assert_eq!(running.token.as_ref().unwrap().account_id, "acc");
        // Readings before the start, or after the stop, are not a running session's.
        let events = run([SessionCommand::RecordReadings {
            seq_no: None,
            token: None,
            extras: with_readings(vec![reading("2026-11-21T10:15:00Z", dec!(3000))]),
        }]);
        assert!(matches!(
            &events[..],
            [SessionEvent::ReadingsRecorded { running: None, .. }]
        ));
        let mut ended = transaction_201();
        ended.swap(1, 3);
        let events = run(ended[..3].iter().cloned());
        assert!(
            events.iter().all(|e| !matches!(
                e,
                SessionEvent::ReadingsRecorded {
                    running: Some(_),
                    ..
                }
            )),
            "{events:?}"
        );
    }

    fn hours(h: i64) -> chrono::Duration {
        chrono::Duration::hours(h)
    }

    /// A started session whose last message (readings up to 6000 Wh) arrived at 10:30:05.
    fn idle_session() -> Vec<SessionEvent> {
        vec![
            SessionEvent::SessionStarted(start(dec!(1000))),
            SessionEvent::ReadingsRecorded {
                readings: vec![
                    reading("2026-11-21T10:15:00Z", dec!(3000)),
                    reading("2026-11-21T10:30:00Z", dec!(6000)),
                ],
                seq_no: None,
                token: None,
                running: None,
                received_at: Some(t("2026-11-21T10:30:05Z")),
            },
        ]
    }

    fn close_at(now: &str) -> SessionCommand {
        SessionCommand::CloseInactive {
            now: t(now),
            limit: hours(24),
        }
    }

    fn inactivity_close(given: Vec<SessionEvent>, now: &str) -> Vec<SessionEvent> {
        Given::with(rules())
            .given(given)
            .when(close_at(now))
            .inspect_result()
            .unwrap()
    }

    #[test]
    fn an_open_session_is_left_alone_until_the_inactivity_limit() {
        // Given a session whose last message came at 10:30:05,
        // when the sweeper asks a second before 24 h have passed, then nothing happens.
        Given::with(rules())
            .given(idle_session())
            .when(close_at("2026-11-22T10:30:04Z"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_idle_session_is_closed_from_its_last_reading_flagged() {
        // Given a session whose last message came at 10:30:05,
        // when 24 h have passed,
        let events = inactivity_close(idle_session(), "2026-11-22T10:30:05Z");
        // then it is flagged and completes with the energy up to its last reading, stopped then.
        assert!(matches!(
            &events[0],
            SessionEvent::SessionFlagged { flag, .. } if flag == flags::CLOSED_FOR_INACTIVITY
        ));
        let (energy, f, token) = completion_of(&events);
        assert_eq!(energy, Energy::from_wh(dec!(5000)));
        assert_eq!(f, [flags::CLOSED_FOR_INACTIVITY, flags::NO_METER_STOP]);
        assert_eq!(token.unwrap().account_id, "acc");
        let Some(SessionEvent::SessionCompleted {
            stop, meter_stop, ..
        }) = events.last()
        else {
            unreachable!()
        };
        assert_eq!(stop.stopped_at, t("2026-11-21T10:30:00Z"));
        assert_eq!(stop.received_at, t("2026-11-22T10:30:05Z"));
        assert_eq!(stop.transaction_id, "7");
        assert_eq!(*meter_stop, Some(Energy::from_wh(dec!(6000))));
    }

    #[test]
    fn an_idle_session_without_readings_closes_at_its_start_with_no_energy() {
        // Given a session started (received 10:00:01) that never sent a reading,
        let events = inactivity_close(
            vec![SessionEvent::SessionStarted(start(dec!(1000)))],
            "2026-11-22T10:00:01Z",
        );
        // then it closes at its start, billing nothing it cannot show.
        let (energy, f, _) = completion_of(&events);
        assert_eq!(energy, Energy::ZERO);
        assert!(
            f.contains(&flags::CLOSED_FOR_INACTIVITY.to_owned()),
            "{f:?}"
        );
        let Some(SessionEvent::SessionCompleted { stop, .. }) = events.last() else {
            unreachable!()
        };
        assert_eq!(stop.stopped_at, t("2026-11-21T10:00:00Z"));
    }

    #[test]
    fn only_open_sessions_are_closed_for_inactivity() {
        // A completed session, a stopped 2.0.1 session waiting for its gap, and readings without
        // a start are not closed, however old.
        let completed_session = run([
            SessionCommand::Start(start(dec!(1000)), Extras::default()),
            SessionCommand::Stop(stop(dec!(2000)), Extras::default()),
        ]);
        let commands = transaction_201();
        let waiting = run([commands[0].clone(), commands[3].clone()]);
        let no_start = run([SessionCommand::RecordReadings {
            seq_no: None,
            token: None,
            extras: Extras {
                received_at: Some(t("2026-11-21T10:00:00Z")),
                ..with_readings(vec![reading("2026-11-21T10:00:00Z", dec!(10))])
            },
        }]);
        for given in [completed_session, waiting, no_start] {
            Given::with(rules())
                .given(given)
                .when(close_at("2027-01-01T00:00:00Z"))
                .then_expect_events(vec![]);
        }
    }

    #[test]
    fn a_late_reading_keeps_the_session_open_and_readings_before_the_start_do_not() {
        // Given the idle session, a reading received a day later resets the clock.
        let mut given = idle_session();
        given.push(SessionEvent::ReadingsRecorded {
            readings: vec![reading("2026-11-22T09:00:00Z", dec!(7000))],
            seq_no: None,
            token: None,
            running: None,
            received_at: Some(t("2026-11-22T09:00:01Z")),
        });
        Given::with(rules())
            .given(given)
            .when(close_at("2026-11-22T10:30:05Z"))
            .then_expect_events(vec![]);
        // Readings before the start do not count: the start's arrival does.
        let before = vec![
            SessionEvent::ReadingsRecorded {
                readings: vec![reading("2026-11-21T09:00:00Z", dec!(900))],
                seq_no: None,
                token: None,
                running: None,
                received_at: Some(t("2026-11-23T00:00:00Z")),
            },
            SessionEvent::SessionStarted(start(dec!(1000))),
        ];
        let events = inactivity_close(before, "2026-11-22T10:00:01Z");
        assert!(matches!(
            events.last(),
            Some(SessionEvent::SessionCompleted { .. })
        ));
    }

    fn closed_for_inactivity() -> Vec<SessionEvent> {
        let mut events = idle_session();
        events.extend(inactivity_close(idle_session(), "2026-11-22T10:30:05Z"));
        events
    }

    #[test]
    fn a_stop_after_an_inactivity_close_is_flagged_once_and_bills_nothing() {
        // Given a session closed for inactivity,
        // when its stop arrives late (matched from a -1 stop, with the gateway's flag),
        let extras = Extras {
            flags: vec![
                "invalid_transaction_id".into(),
                "stop_matched_to_open_transaction:transactionId \"-1\" matched".into(),
            ],
            ..Default::default()
        };
        // then it is flagged, with what the stop said, and nothing completes again.
        Given::with(rules())
            .given(closed_for_inactivity())
            .when(SessionCommand::Stop(stop(dec!(9000)), extras.clone()))
            .then_expect_events(vec![
                flagged(
                    flags::STOP_AFTER_INACTIVITY_CLOSE,
                    "transactionId 7, meterStop 9000 Wh, at 2026-11-21T11:00:00+00:00",
                ),
                flagged("invalid_transaction_id", ""),
                flagged(
                    flags::STOP_MATCHED_TO_OPEN_TRANSACTION,
                    "transactionId \"-1\" matched",
                ),
            ]);
        // The same stop again changes nothing.
        let mut given = closed_for_inactivity();
        given.push(flagged(flags::STOP_AFTER_INACTIVITY_CLOSE, ""));
        Given::with(rules())
            .given(given)
            .when(SessionCommand::Stop(stop(dec!(9000)), Extras::default()))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_different_second_16_stop_is_flagged_and_a_repeat_is_not() {
        let session = [
            SessionCommand::Start(start(dec!(1000)), Extras::default()),
            SessionCommand::Stop(stop(dec!(2000)), Extras::default()),
        ];
        // Given a completed session, the same stop again changes nothing,
        Given::with(rules())
            .given(run(session.clone()))
            .when(SessionCommand::Stop(stop(dec!(2000)), Extras::default()))
            .then_expect_events(vec![]);
        // and another stop is flagged, not applied.
        let events = Given::with(rules())
            .given(run(session))
            .when(SessionCommand::Stop(stop(dec!(2500)), Extras::default()))
            .inspect_result()
            .unwrap();
        assert!(matches!(
            &events[..],
            [SessionEvent::SessionFlagged { flag, .. }] if flag == flags::DUPLICATE_END
        ));
    }

    fn state(events: Vec<SessionEvent>) -> ChargingSession {
        let mut session = ChargingSession::default();
        for event in events {
            session.apply(event);
        }
        session
    }

    #[test]
    fn a_session_takes_an_unusable_stop_while_open_or_closed_for_inactivity() {
        // An open session is a candidate with its last register,
        let open = state(idle_session()).stop_candidate().unwrap();
        assert_eq!(open.last_register, Some(Energy::from_wh(dec!(6000))));
        assert_eq!((open.connector_id, open.id_tag.as_str()), (1, "TAG"));
        assert!(!open.closed_for_inactivity);
        // so is one closed for inactivity until its late stop came,
        let idle = state(closed_for_inactivity()).stop_candidate().unwrap();
        assert!(idle.closed_for_inactivity);
        let mut late = closed_for_inactivity();
        late.push(flagged(flags::STOP_AFTER_INACTIVITY_CLOSE, ""));
        assert_eq!(state(late).stop_candidate(), None);
        // and a session that stopped, or never started, is not.
        let stopped = run([
            SessionCommand::Start(start(dec!(1000)), Extras::default()),
            SessionCommand::Stop(stop(dec!(2000)), Extras::default()),
        ]);
        assert_eq!(state(stopped).stop_candidate(), None);
        assert_eq!(ChargingSession::default().stop_candidate(), None);
        assert!(ChargingSession::default().is_blank());
        assert!(!state(idle_session()).is_blank());
    }

    #[test]
    fn a_matched_stop_completes_the_open_session_with_its_flags() {
        // Given an open session, when the intake sends it a -1 stop it matched (carrying the
        // session's transaction id), then the session completes and the audit shows the match.
        let extras = Extras {
            flags: vec![
                "invalid_transaction_id".into(),
                "stop_matched_to_open_transaction:transactionId \"-1\" matched to transaction 7"
                    .into(),
            ],
            ..Default::default()
        };
        let events = Given::with(rules())
            .given(idle_session())
            .when(SessionCommand::Stop(stop(dec!(8000)), extras))
            .inspect_result()
            .unwrap();
        let (energy, f, _) = completion_of(&events);
        assert_eq!(energy, Energy::from_wh(dec!(7000)));
        assert_eq!(
            f,
            [
                "invalid_transaction_id",
                flags::STOP_MATCHED_TO_OPEN_TRANSACTION
            ]
        );
    }
}
