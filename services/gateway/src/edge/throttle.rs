//! Failed charger authentications, throttled per charge point id and per source IP address.
//!
//! After `max_failures` failed upgrades (wrong or missing password, unknown id, a certificate of
//! another charge point) a charge point id is locked out; so is a source address after its own,
//! higher, count (chargers behind one carrier NAT share an address). The first lock-out lasts
//! `lockout`, each further one twice the last, up to `max_lockout`; a key without failures for
//! `max_lockout` starts afresh. During a lock-out the upgrade is answered 429 without looking up or
//! hashing anything. Unknown ids are counted like known ones, so the lock-out tells nothing about
//! which ids exist. A success clears its id's failures, not its address's.
//!
//! The tables are bounded: beyond [`MAX_TRACKED`] keys, expired entries are pruned, and a key that
//! still finds no room is not tracked (the other table still counts its failures).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Keys each table holds at most.
pub const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures_per_id: u32,
    pub max_failures_per_ip: u32,
    pub lockout: Duration,
    pub max_lockout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    /// Failures since the last lock-out (or since the record started).
    failures: u32,
    /// Lock-outs so far: the next one lasts `lockout * 2^lockouts`.
    lockouts: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

struct Table<K> {
    max_failures: u32,
    records: Mutex<HashMap<K, Record>>,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new(max_failures: u32) -> Self {
        Self {
            max_failures: max_failures.max(1),
            records: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Record>> {
        // Each operation leaves the map consistent, so a poisoned lock is still usable.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn locked_for(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.lock().get(key)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; returns the lock-out it started, if any.
    fn failed(&self, key: &K, now: Instant, policy: &ThrottlePolicy) -> Option<Duration> {
        let mut records = self.lock();
        if !records.contains_key(key) && records.len() >= MAX_TRACKED {
            records.retain(|_, r| !expired(r, now, policy));
            if records.len() >= MAX_TRACKED {
                return None;
            }
        }
        let record = records.entry(key.clone()).or_insert(Record {
            failures: 0,
            lockouts: 0,
            locked_until: None,
            last_failure: now,
        });
        if expired(record, now, policy) {
            *record = Record {
                failures: 0,
                lockouts: 0,
                locked_until: None,
                last_failure: now,
            };
        }
        record.last_failure = now;
        record.failures += 1;
        if record.failures < self.max_failures {
            return None;
        }
        let lockout = policy
            .lockout
            .checked_mul(1u32.checked_shl(record.lockouts).unwrap_or(u32::MAX))
            .unwrap_or(policy.max_lockout)
            .min(policy.max_lockout);
        record.failures = 0;
        record.lockouts = record.lockouts.saturating_add(1);
        record.locked_until = Some(now + lockout);
        Some(lockout)
    }

    fn clear(&self, key: &K) {
        self.lock().remove(key);
    }
}

/// Neither locked nor failed recently: the record can be forgotten.
fn expired(record: &Record, now: Instant, policy: &ThrottlePolicy) -> bool {
    record.locked_until.is_none_or(|until| until <= now)
        && now.saturating_duration_since(record.last_failure) >= policy.max_lockout
}

pub struct AuthThrottle {
    policy: ThrottlePolicy,
    ids: Table<String>,
    ips: Table<IpAddr>,
}

impl AuthThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            ids: Table::new(policy.max_failures_per_id),
            ips: Table::new(policy.max_failures_per_ip),
            policy,
        }
    }

    /// How long the address, or else the id, is still locked out.
    pub fn locked_out(&self, id: &str, ip: IpAddr, now: Instant) -> Option<Duration> {
        self.ips
            .locked_for(&ip, now)
            .or_else(|| self.ids.locked_for(&id.to_owned(), now))
    }

    /// Whether the address alone is locked out (before the id is even read).
    pub fn ip_locked_out(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        self.ips.locked_for(&ip, now)
    }

    /// Counts a failed authentication of `id` (`None`: not even a valid id) from `ip`.
    pub fn failed(&self, id: Option<&str>, ip: IpAddr, now: Instant) {
        if let Some(id) = id
            && let Some(lockout) = self.ids.failed(&id.to_owned(), now, &self.policy)
        {
            tracing::warn!(charge_point_id = %id, ?lockout, "too many failed authentications: charge point id locked out");
        }
        if let Some(lockout) = self.ips.failed(&ip, now, &self.policy) {
            tracing::warn!(%ip, ?lockout, "too many failed authentications: source address locked out");
        }
    }

    pub fn succeeded(&self, id: &str) {
        self.ids.clear(&id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn throttle() -> AuthThrottle {
        AuthThrottle::new(ThrottlePolicy {
            max_failures_per_id: 3,
            max_failures_per_ip: 5,
            lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(60),
        })
    }

    #[test]
    fn an_id_is_locked_out_after_its_failures_with_doubling_lockouts() {
        let t = throttle();
        let start = Instant::now();
        for _ in 0..2 {
            t.failed(Some("CP-1"), IP, start);
        }
        assert_eq!(t.locked_out("CP-1", OTHER_IP, start), None);
        t.failed(Some("CP-1"), IP, start);
        assert_eq!(
            t.locked_out("CP-1", OTHER_IP, start),
            Some(Duration::from_secs(10))
        );
        assert_eq!(t.locked_out("CP-2", OTHER_IP, start), None);
        // After the lock-out, three more failures lock it out twice as long.
        let later = start + Duration::from_secs(11);
        assert_eq!(t.locked_out("CP-1", OTHER_IP, later), None);
        for _ in 0..3 {
            t.failed(Some("CP-1"), OTHER_IP, later);
        }
        assert_eq!(
            t.locked_out("CP-1", OTHER_IP, later),
            Some(Duration::from_secs(20))
        );
    }

    #[test]
    fn lockouts_are_capped_and_forgotten_after_a_quiet_spell() {
        let t = throttle();
        let mut now = Instant::now();
        for _ in 0..4 {
            for _ in 0..3 {
                t.failed(Some("CP-1"), OTHER_IP, now);
            }
            let locked = t.locked_out("CP-1", IP, now).unwrap();
            assert!(locked <= Duration::from_secs(60));
            now += locked;
        }
        assert_eq!(
            t.locked_out("CP-1", IP, now - Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        // Quiet for the longest lock-out: the next failures start from the first lock-out again.
        now += Duration::from_secs(61);
        for _ in 0..3 {
            t.failed(Some("CP-1"), OTHER_IP, now);
        }
        assert_eq!(t.locked_out("CP-1", IP, now), Some(Duration::from_secs(10)));
    }

    #[test]
    fn an_address_is_locked_out_across_ids_and_a_success_clears_only_the_id() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..4 {
            t.failed(Some(&format!("CP-{i}")), IP, now);
        }
        t.failed(None, IP, now);
        assert_eq!(t.ip_locked_out(IP, now), Some(Duration::from_secs(10)));
        assert_eq!(t.locked_out("CP-9", IP, now), Some(Duration::from_secs(10)));
        assert_eq!(t.locked_out("CP-9", OTHER_IP, now), None);

        t.failed(Some("CP-7"), OTHER_IP, now);
        t.failed(Some("CP-7"), OTHER_IP, now);
        t.succeeded("CP-7");
        t.failed(Some("CP-7"), OTHER_IP, now);
        assert_eq!(t.locked_out("CP-7", OTHER_IP, now), None);
    }
}
