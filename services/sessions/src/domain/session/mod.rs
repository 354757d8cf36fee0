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
//! that still comes is flagged `stop_after_inactivity_close` and bills nothing more (ADR 027).//!
//! The aggregate's parts: [`commands`] (what a charger message asks and how the session decides),
//! [`completion`] (the billing of a stopped session), [`events`] (what is stored, with the
//! upcasters of older versions), [`state`] (what the session knows, for the decisions and for the
//! matching of unusable stops), [`flags`] and [`plausibility`] (the checks of a register series).

mod commands;
mod completion;
mod events;
pub mod flags;
pub mod plausibility;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use commands::{Extras, SessionCommand};
pub use events::{
    Holder, Reading, Running, SessionEvent, SignedValue, StartDetails, StopDetails, TokenRef,
    UPCASTERS, ordered,
};
pub use state::StopCandidate;

/// How many `value_out_of_range` details a session keeps.
pub const VALUES_OUT_OF_RANGE_KEPT: usize = 20;

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
