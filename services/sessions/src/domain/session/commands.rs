//! What a charger message (or the sweeper) asks of a session, and how the session decides: it
//! never rejects charger input; repeats change nothing, anomalies become flags.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use joule_domain::bounds;

use super::events::{Reading, SessionEvent, SignedValue, StartDetails, StopDetails, TokenRef};
use super::{ChargingSession, SessionRules, Status, VALUES_OUT_OF_RANGE_KEPT, flags};

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
