//! The completion of a stopped session: the registers billed (with their fallbacks and repairs),
//! the energy, the flags, and the end of charging. The same events give the same completion in
//! any order of arrival.

use chrono::{DateTime, Utc};
use joule_domain::Energy;
use rust_decimal::Decimal;

use super::events::{Reading, SessionEvent, StopDetails, ordered};
use super::{ChargingSession, SessionRules, flags, plausibility};

/// How many missing seqNos a `sequence_gap` flag lists.
const MISSING_SEQ_LISTED: usize = 20;

/// How many seqNos `from..=to` holds (`from <= to`).
fn span(from: u32, to: u32) -> u64 {
    u64::from(to.saturating_sub(from)).saturating_add(1)
}

/// When the car stopped drawing energy (the shared rule, `joule_domain::energy::charging_ended_at`).
pub(super) fn charging_ended_at(
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

impl ChargingSession {
    /// Whether everything needed to complete is in.
    pub(super) fn ready(&self) -> bool {
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

    pub(super) fn completion(&self, rules: &SessionRules, overdue: bool) -> Vec<SessionEvent> {
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
}
