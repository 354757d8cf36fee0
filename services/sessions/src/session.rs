//! The `ChargingSession` aggregate: one per charger transaction.
//!
//! It accepts what chargers really send: a stop without a start, a start or stop delivered twice,
//! meter values before the start, a stop register below the start register. None of these is an
//! error; each is recorded, and anomalies become flags for review. Energy billed is
//! stop register − start register of the same meter, never negative.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::Energy;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Review flags. They never block billing; they tell an operator where to look.
pub mod flags {
    pub const STOP_WITHOUT_START: &str = "stop_without_start";
    pub const START_AFTER_STOP: &str = "start_after_stop";
    pub const METER_REGRESSION: &str = "meter_regression";
    pub const UNKNOWN_TOKEN: &str = "unknown_token";
    pub const NO_METER_START: &str = "no_meter_start";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartDetails {
    pub charger_id: String,
    pub charge_point_id: String,
    pub connector_id: u32,
    pub transaction_id: String,
    pub token_uid: String,
    pub account_id: String,
    pub meter_start: Energy,
    pub started_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopDetails {
    pub charger_id: String,
    pub charge_point_id: String,
    pub transaction_id: String,
    pub meter_stop: Energy,
    pub stopped_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub reason: String,
}

/// An energy register reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub register: Energy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionCommand {
    Start(StartDetails),
    RecordReadings { readings: Vec<Reading> },
    Stop(StopDetails),
}

// Events are built once and serialised; their in-memory size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionEvent {
    SessionStarted(StartDetails),
    ReadingsRecorded {
        readings: Vec<Reading>,
    },
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
    },
    SessionFlagged {
        flag: String,
        detail: String,
    },
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> String {
        match self {
            SessionEvent::SessionStarted(_) => "SessionStarted",
            SessionEvent::ReadingsRecorded { .. } => "ReadingsRecorded",
            SessionEvent::SessionCompleted { .. } => "SessionCompleted",
            SessionEvent::SessionFlagged { .. } => "SessionFlagged",
        }
        .to_owned()
    }

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

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChargingSession {
    status: Status,
    start: Option<StartDetails>,
    first_reading: Option<Reading>,
    flags: Vec<String>,
}

impl ChargingSession {
    fn flag(&self, flag: &str) -> Option<SessionEvent> {
        (!self.flags.iter().any(|f| f == flag)).then(|| SessionEvent::SessionFlagged {
            flag: flag.to_owned(),
            detail: String::new(),
        })
    }

    fn completion(&self, stop: StopDetails) -> Vec<SessionEvent> {
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
        let (meter_start, started_at) = match (&self.start, &self.first_reading) {
            (Some(start), _) => (start.meter_start, start.started_at),
            (None, Some(reading)) => {
                raise(
                    flags::STOP_WITHOUT_START,
                    "start register taken from the first meter reading".into(),
                    &mut events,
                );
                (reading.register, reading.at)
            }
            (None, None) => {
                raise(
                    flags::STOP_WITHOUT_START,
                    "no start and no meter reading: no billable energy".into(),
                    &mut events,
                );
                raise(flags::NO_METER_START, String::new(), &mut events);
                (stop.meter_stop, stop.stopped_at)
            }
        };
        let raw = stop.meter_stop - meter_start;
        if raw.wh() < Decimal::ZERO {
            raise(
                flags::METER_REGRESSION,
                format!(
                    "meter stop {} Wh is below meter start {} Wh",
                    stop.meter_stop.wh(),
                    meter_start.wh()
                ),
                &mut events,
            );
        }
        events.push(SessionEvent::SessionCompleted {
            start: self.start.clone(),
            stop,
            started_at,
            meter_start,
            energy: raw.clamp_non_negative(),
            flags,
        });
        events
    }
}

impl Aggregate for ChargingSession {
    const TYPE: &'static str = "ChargingSession";
    type Command = SessionCommand;
    type Event = SessionEvent;
    type Error = SessionError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let events = match command {
            SessionCommand::Start(start) => match self.status {
                // A repeated start (retry, duplicate delivery) changes nothing.
                Status::Active => vec![],
                Status::Completed if self.start.is_some() => vec![],
                Status::Completed => self.flag(flags::START_AFTER_STOP).into_iter().collect(),
                Status::Unknown => {
                    let mut events = Vec::new();
                    if start.account_id.is_empty() {
                        events.extend(self.flag(flags::UNKNOWN_TOKEN));
                    }
                    events.insert(0, SessionEvent::SessionStarted(start));
                    events
                }
            },
            SessionCommand::RecordReadings { readings } => {
                if self.status == Status::Completed || readings.is_empty() {
                    vec![]
                } else {
                    vec![SessionEvent::ReadingsRecorded { readings }]
                }
            }
            SessionCommand::Stop(stop) => match self.status {
                Status::Completed => vec![],
                _ => self.completion(stop),
            },
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SessionEvent::SessionStarted(start) => {
                self.status = Status::Active;
                self.start = Some(start);
            }
            SessionEvent::ReadingsRecorded { readings } => {
                if self.first_reading.is_none() {
                    self.first_reading = readings.into_iter().min_by_key(|r| r.at);
                }
            }
            SessionEvent::SessionCompleted { .. } => self.status = Status::Completed,
            SessionEvent::SessionFlagged { flag, .. } => self.flags.push(flag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;
    use rust_decimal_macros::dec;

    type Given = TestFramework<ChargingSession>;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn start(meter_wh: Decimal) -> StartDetails {
        StartDetails {
            charger_id: "c".into(),
            charge_point_id: "CP1".into(),
            connector_id: 1,
            transaction_id: "7".into(),
            token_uid: "TAG".into(),
            account_id: "acc".into(),
            meter_start: Energy::from_wh(meter_wh),
            started_at: t("2026-11-21T10:00:00Z"),
            received_at: t("2026-11-21T10:00:01Z"),
        }
    }

    fn stop(meter_wh: Decimal) -> StopDetails {
        StopDetails {
            charger_id: "c".into(),
            charge_point_id: "CP1".into(),
            transaction_id: "7".into(),
            meter_stop: Energy::from_wh(meter_wh),
            stopped_at: t("2026-11-21T11:00:00Z"),
            received_at: t("2026-11-21T11:00:01Z"),
            reason: "Local".into(),
        }
    }

    fn completed(
        start: Option<StartDetails>,
        meter_start: Decimal,
        energy: Decimal,
        stop_wh: Decimal,
        flags: &[&str],
    ) -> SessionEvent {
        SessionEvent::SessionCompleted {
            started_at: start
                .as_ref()
                .map_or(t("2026-11-21T10:10:00Z"), |s| s.started_at),
            start,
            stop: stop(stop_wh),
            meter_start: Energy::from_wh(meter_start),
            energy: Energy::from_wh(energy),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn a_stop_completes_with_the_register_difference() {
        Given::with(())
            .given(vec![SessionEvent::SessionStarted(start(dec!(1000)))])
            .when(SessionCommand::Stop(stop(dec!(13500))))
            .then_expect_events(vec![completed(
                Some(start(dec!(1000))),
                dec!(1000),
                dec!(12500),
                dec!(13500),
                &[],
            )]);
    }

    #[test]
    fn a_repeated_start_or_stop_changes_nothing() {
        Given::with(())
            .given(vec![SessionEvent::SessionStarted(start(dec!(1000)))])
            .when(SessionCommand::Start(start(dec!(1000))))
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![
                SessionEvent::SessionStarted(start(dec!(1000))),
                completed(
                    Some(start(dec!(1000))),
                    dec!(1000),
                    dec!(500),
                    dec!(1500),
                    &[],
                ),
            ])
            .when(SessionCommand::Stop(stop(dec!(1500))))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_meter_regression_bills_nothing_and_is_flagged() {
        Given::with(())
            .given(vec![SessionEvent::SessionStarted(start(dec!(5000)))])
            .when(SessionCommand::Stop(stop(dec!(4000))))
            .then_expect_events(vec![
                SessionEvent::SessionFlagged {
                    flag: flags::METER_REGRESSION.into(),
                    detail: "meter stop 4000 Wh is below meter start 5000 Wh".into(),
                },
                completed(
                    Some(start(dec!(5000))),
                    dec!(5000),
                    dec!(0),
                    dec!(4000),
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
        Given::with(())
            .given(vec![SessionEvent::ReadingsRecorded { readings }])
            .when(SessionCommand::Stop(stop(dec!(3000))))
            .then_expect_events(vec![
                SessionEvent::SessionFlagged {
                    flag: flags::STOP_WITHOUT_START.into(),
                    detail: "start register taken from the first meter reading".into(),
                },
                completed(
                    None,
                    dec!(2000),
                    dec!(1000),
                    dec!(3000),
                    &[flags::STOP_WITHOUT_START],
                ),
            ]);
    }

    #[test]
    fn a_stop_with_nothing_before_bills_no_energy() {
        let result = Given::with(())
            .given_no_previous_events()
            .when(SessionCommand::Stop(stop(dec!(3000))))
            .inspect_result()
            .unwrap();
        match result.last() {
            Some(SessionEvent::SessionCompleted {
                energy, flags: f, ..
            }) => {
                assert_eq!(*energy, Energy::ZERO);
                assert!(f.contains(&flags::STOP_WITHOUT_START.to_string()));
            }
            other => panic!("expected completion, got {other:?}"),
        }
    }

    #[test]
    fn a_start_with_an_unknown_token_is_flagged() {
        let mut unknown = start(dec!(0));
        unknown.account_id = String::new();
        Given::with(())
            .given_no_previous_events()
            .when(SessionCommand::Start(unknown.clone()))
            .then_expect_events(vec![
                SessionEvent::SessionStarted(unknown),
                SessionEvent::SessionFlagged {
                    flag: flags::UNKNOWN_TOKEN.into(),
                    detail: String::new(),
                },
            ]);
    }

    #[test]
    fn a_late_start_after_a_stop_is_flagged_once() {
        let given = vec![completed(None, dec!(3000), dec!(0), dec!(3000), &[])];
        Given::with(())
            .given(given)
            .when(SessionCommand::Start(start(dec!(1000))))
            .then_expect_events(vec![SessionEvent::SessionFlagged {
                flag: flags::START_AFTER_STOP.into(),
                detail: String::new(),
            }]);
    }
}
