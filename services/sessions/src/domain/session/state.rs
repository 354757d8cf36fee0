//! What a session knows besides its decisions: whether it is open, who pays, the running energy,
//! and whether an unusable 1.6 stop may still be applied to it ([`crate::matching`]).

use chrono::{DateTime, Utc};
use joule_domain::Energy;

use super::events::{Running, TokenRef, ordered};
use super::{ChargingSession, SessionRules, Status, flags, plausibility};

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

impl ChargingSession {
    pub(super) fn seen(&self, seq_no: Option<u32>) -> bool {
        seq_no.is_some_and(|s| self.seen_seq.contains(&s))
    }

    /// The running session as of its latest reading, while it is started and not stopped; the
    /// registers are repaired as at completion (a kWh value labelled Wh counts as kWh).
    pub(super) fn running(&self, rules: &SessionRules) -> Option<Running> {
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
    pub(super) fn token(&self) -> Option<TokenRef> {
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

    pub(super) fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Started and not stopped: the charger may still send readings and its stop.
    pub(super) fn is_open(&self) -> bool {
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
}
