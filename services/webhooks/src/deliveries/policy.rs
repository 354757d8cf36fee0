//! When a failed delivery is tried again, when it is given up, and when its endpoint is disabled
//! (ADR 040): pure functions of the settings and the clock.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use joule_config::Settings;
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The wait after the first failed attempt; it doubles with each further one.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// How long after its first attempt a delivery is retried.
    pub retry_window: Duration,
    /// How long an endpoint's deliveries may all fail before it is disabled.
    pub disable_after: Duration,
    /// How long one POST may take.
    pub timeout: Duration,
}

/// What becomes of a delivery after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

impl Policy {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            base: Duration::from_millis(settings.webhooks_backoff_base_ms),
            max: Duration::from_millis(settings.webhooks_backoff_max_ms),
            retry_window: Duration::from_secs(settings.webhooks_retry_window_secs),
            disable_after: Duration::from_secs(settings.webhooks_disable_after_secs),
            timeout: Duration::from_millis(settings.webhooks_timeout_ms),
        }
    }

    /// The wait after `failed` failed attempts (1 for the first) before jitter: `base` doubled
    /// `failed - 1` times, at most `max`.
    pub fn backoff(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(40);
        self.base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max)
    }

    /// [`Policy::backoff`] less up to a quarter at random, so that the deliveries of an endpoint
    /// that failed together do not come back together.
    pub fn backoff_with_jitter(&self, failed: u32) -> Duration {
        let wait = self.backoff(failed);
        let quarter = u64::try_from(wait.as_millis() / 4).unwrap_or(u64::MAX);
        let less = rand::rng().random_range(0..=quarter);
        wait.saturating_sub(Duration::from_millis(less))
    }

    /// After the `failed`-th failed attempt at `now` of a delivery first tried at `first`: the next
    /// attempt after `wait`, unless that is beyond the retry window.
    pub fn after_failure(
        &self,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> AfterFailure {
        let next = now.checked_add_signed(delta(wait));
        let deadline = first.checked_add_signed(delta(self.retry_window));
        match (next, deadline) {
            (Some(next), Some(deadline)) if next <= deadline => AfterFailure::RetryAt(next),
            _ => AfterFailure::GiveUp,
        }
    }

    /// Whether an endpoint failing since `since` has failed for longer than the disable window.
    pub fn disables(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        since
            .checked_add_signed(delta(self.disable_after))
            .is_some_and(|limit| limit <= now)
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::from_settings(&Settings::default())
    }

    #[test]
    fn the_wait_doubles_from_30_seconds_up_to_6_hours() {
        let p = policy();
        assert_eq!(p.backoff(1), Duration::from_secs(30));
        assert_eq!(p.backoff(2), Duration::from_secs(60));
        assert_eq!(p.backoff(5), Duration::from_secs(480));
        assert_eq!(p.backoff(10), Duration::from_secs(15_360));
        assert_eq!(p.backoff(11), Duration::from_secs(6 * 3600));
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(6 * 3600));
        for failed in 1..20 {
            let jittered = p.backoff_with_jitter(failed);
            assert!(jittered <= p.backoff(failed));
            assert!(jittered >= p.backoff(failed) * 3 / 4);
        }
    }

    #[test]
    fn a_delivery_is_retried_for_three_days_after_its_first_attempt() {
        let p = policy();
        let first = Utc::now();
        let hour = Duration::from_secs(3600);
        let day = TimeDelta::days(1);
        assert_eq!(
            p.after_failure(first, first, hour),
            AfterFailure::RetryAt(first + TimeDelta::hours(1))
        );
        let late = first + day * 3 - TimeDelta::minutes(30);
        assert_eq!(p.after_failure(first, late, hour), AfterFailure::GiveUp);
        assert_eq!(
            p.after_failure(first, late, Duration::from_secs(60)),
            AfterFailure::RetryAt(late + TimeDelta::minutes(1))
        );
    }

    #[test]
    fn an_endpoint_failing_longer_than_the_window_is_disabled() {
        let p = policy();
        let now = Utc::now();
        assert!(!p.disables(now - TimeDelta::days(2), now));
        assert!(p.disables(now - TimeDelta::days(3), now));
    }
}
