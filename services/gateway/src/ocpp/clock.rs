//! Charger clocks: the gateway keeps the charger's timestamp and its own receive time side by side
//! and flags a charger time it cannot trust. It never rejects a message for its clock.
//!
//! - `clock_unset`: before 2000 (a charger whose clock reset to 1970 after a power loss);
//! - `clock_drift`: ahead of the receive time, or behind it on a message the charger says it sends
//!   live (2.0.1 `offline = false`), by more than the configured threshold;
//! - `late_delivery`: a 1.6 message (which cannot say whether it was queued) whose timestamp is more
//!   than the threshold in the past: a queued offline transaction or a slow clock; informational.

use chrono::{DateTime, Duration, TimeZone, Utc};

pub const CLOCK_UNSET: &str = "clock_unset";
pub const CLOCK_DRIFT: &str = "clock_drift";
pub const LATE_DELIVERY: &str = "late_delivery";

/// How far a charger clock may be off before its messages are flagged.
#[derive(Debug, Clone, Copy)]
pub struct ClockPolicy {
    pub drift: Duration,
}

impl ClockPolicy {
    pub fn from_secs(secs: u64) -> Self {
        Self {
            drift: Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000)),
        }
    }

    /// Flags for a charger timestamp received at `received_at`. `offline` is the 2.0.1 flag, `None`
    /// where the protocol has none.
    pub fn assess(
        &self,
        charger_time: DateTime<Utc>,
        received_at: DateTime<Utc>,
        offline: Option<bool>,
    ) -> Option<String> {
        if charger_time < earliest_plausible() {
            return Some(format!(
                "{CLOCK_UNSET}:charger time {}",
                charger_time.to_rfc3339()
            ));
        }
        let ahead = charger_time - received_at;
        if ahead > self.drift {
            return Some(format!(
                "{CLOCK_DRIFT}:charger clock {}s ahead",
                ahead.num_seconds()
            ));
        }
        let behind = received_at - charger_time;
        if behind > self.drift {
            return match offline {
                Some(true) => None,
                Some(false) => Some(format!(
                    "{CLOCK_DRIFT}:charger clock {}s behind on a live message",
                    behind.num_seconds()
                )),
                None => Some(format!(
                    "{LATE_DELIVERY}:received {}s after its timestamp",
                    behind.num_seconds()
                )),
            };
        }
        None
    }
}

/// No charger in service has a clock legitimately before this.
fn earliest_plausible() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn drift_is_flagged_with_its_direction_and_never_for_queued_messages() {
        let policy = ClockPolicy::from_secs(300);
        let now = t("2026-11-21T12:00:00Z");
        assert_eq!(policy.assess(t("2026-11-21T11:58:00Z"), now, None), None);
        assert_eq!(
            policy.assess(t("1970-01-01T00:00:10Z"), now, Some(false)),
            Some("clock_unset:charger time 1970-01-01T00:00:10+00:00".into())
        );
        assert_eq!(
            policy.assess(t("2026-11-21T13:00:00Z"), now, None),
            Some("clock_drift:charger clock 3600s ahead".into())
        );
        assert_eq!(
            policy.assess(t("2026-11-21T09:00:00Z"), now, Some(false)),
            Some("clock_drift:charger clock 10800s behind on a live message".into())
        );
        assert_eq!(
            policy.assess(t("2026-11-21T09:00:00Z"), now, Some(true)),
            None
        );
        assert_eq!(
            policy.assess(t("2026-11-21T09:00:00Z"), now, None),
            Some("late_delivery:received 10800s after its timestamp".into())
        );
    }
}
