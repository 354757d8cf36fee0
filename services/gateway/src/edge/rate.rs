//! The message rate limit of one connection: a token bucket of `burst` tokens refilled at
//! `per_sec`, one token per message received (CALLs, answers, pings alike).
//!
//! A message without a token is refused (a CALL is answered with a CallError and not handled), and
//! each refusal runs the bucket further into debt; a connection whose debt reaches `burst` (it kept
//! sending at least `burst` messages beyond its allowance without slowing down) is closed. A
//! charger that slows down pays its debt back at the refill rate.

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct RatePolicy {
    pub per_sec: f64,
    pub burst: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Refuse,
    Close,
}

#[derive(Debug)]
pub struct RateLimit {
    policy: RatePolicy,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(policy: RatePolicy, now: Instant) -> Self {
        Self {
            policy,
            tokens: policy.burst,
            last: now,
        }
    }

    /// The verdict on a message received at `now`.
    pub fn take(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.policy.per_sec).min(self.policy.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Verdict::Allow
        } else if self.tokens > -self.policy.burst {
            self.tokens -= 1.0;
            Verdict::Refuse
        } else {
            Verdict::Close
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const POLICY: RatePolicy = RatePolicy {
        per_sec: 2.0,
        burst: 3.0,
    };

    #[test]
    fn a_burst_passes_then_messages_are_refused_then_the_connection_is_closed() {
        let now = Instant::now();
        let mut limit = RateLimit::new(POLICY, now);
        let verdicts: Vec<_> = (0..8).map(|_| limit.take(now)).collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [Allow, Allow, Allow, Refuse, Refuse, Refuse, Close, Close]
        );
    }

    #[test]
    fn the_allowance_refills_at_the_rate_and_pays_back_debt() {
        let start = Instant::now();
        let mut limit = RateLimit::new(POLICY, start);
        for _ in 0..3 {
            assert_eq!(limit.take(start), Verdict::Allow);
        }
        assert_eq!(limit.take(start), Verdict::Refuse);
        // Two tokens per second: after 0.5 s the debt of one is paid, after 1 s one is available.
        assert_eq!(
            limit.take(start + Duration::from_millis(500)),
            Verdict::Refuse
        );
        assert_eq!(
            limit.take(start + Duration::from_millis(1500)),
            Verdict::Allow
        );
        // A steady two per second is always allowed.
        for i in 1..100u64 {
            let at = start + Duration::from_millis(1500 + i * 500);
            assert_eq!(limit.take(at), Verdict::Allow, "message {i}");
        }
        // A long pause refills no more than the burst.
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limit.take(later), Verdict::Allow);
        }
        assert_eq!(limit.take(later), Verdict::Refuse);
    }
}
