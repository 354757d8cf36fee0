//! A rate limit shared by every charger task of a process, without a lock: each caller takes the
//! next time slot with one atomic add and sleeps until it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

pub struct Pacer {
    origin: Instant,
    /// Nanoseconds between two permits; 0 means no limit.
    interval_ns: u64,
    /// Nanoseconds after `origin` of the next free slot.
    next_ns: AtomicU64,
    /// How many permits an idle limiter may hand out at once after a pause.
    burst: u64,
}

impl Pacer {
    /// `per_second` permits a second; 0 means unlimited.
    pub fn new(per_second: u64) -> Self {
        Self {
            origin: Instant::now(),
            interval_ns: 1_000_000_000u64.checked_div(per_second).unwrap_or(0),
            next_ns: AtomicU64::new(0),
            burst: (per_second / 100).max(1),
        }
    }

    pub fn is_limited(&self) -> bool {
        self.interval_ns > 0
    }

    /// The delay before the caller's permit, from `now_ns` after the origin, and takes the slot.
    fn take(&self, now_ns: u64) -> Duration {
        if self.interval_ns == 0 {
            return Duration::ZERO;
        }
        // An idle limiter does not bank more than `burst` permits.
        let floor = now_ns.saturating_sub(self.burst * self.interval_ns);
        self.next_ns.fetch_max(floor, Relaxed);
        let slot = self.next_ns.fetch_add(self.interval_ns, Relaxed);
        Duration::from_nanos(slot.saturating_sub(now_ns))
    }

    /// Waits for a permit.
    pub async fn acquire(&self) {
        let now_ns = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let wait = self.take(now_ns);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_spaced_by_the_interval() {
        let p = Pacer::new(1000); // 1 ms apart, burst 10
        // Ten permits right away (the burst), then one every millisecond.
        let waits: Vec<u64> = (0..13)
            .map(|_| p.take(100_000_000).as_micros() as u64)
            .collect();
        assert_eq!(&waits[..10], &[0; 10]);
        assert_eq!(&waits[10..], &[0, 1000, 2000]);
    }

    #[test]
    fn an_idle_limiter_does_not_bank_permits() {
        let p = Pacer::new(1000);
        assert_eq!(p.take(0), Duration::ZERO);
        // After 10 s of nothing, only the burst passes without waiting.
        let waits: Vec<u64> = (0..12)
            .map(|_| p.take(10_000_000_000).as_micros() as u64)
            .collect();
        assert_eq!(waits.iter().filter(|w| **w == 0).count(), 11);
        assert_eq!(waits[11], 1000);
    }

    #[test]
    fn zero_means_unlimited() {
        let p = Pacer::new(0);
        assert!(!p.is_limited());
        assert!((0..1000).all(|_| p.take(5).is_zero()));
    }
}
