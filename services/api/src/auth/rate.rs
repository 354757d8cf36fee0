//! Rate limits per credential and per tenant (ADR 034): token buckets in this replica's memory, kept
//! as the generic cell rate algorithm (one "theoretical arrival time" in integer nanoseconds per
//! bucket, no timer, no float).
//!
//! A request takes one token from its credential's bucket and one from its tenant's, or from
//! neither: a request refused by the tenant's bucket does not spend the credential's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use joule_domain::TenantId;

use crate::access::Role;

/// `rate` requests per second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub rate: u32,
    pub burst: u32,
}

impl Limit {
    fn parse(raw: &str) -> Result<Self, String> {
        let (rate, burst) = raw
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{raw:?} is not rate/burst"))?;
        let rate: u32 = rate.trim().parse().map_err(|e| format!("{raw:?}: {e}"))?;
        let burst: u32 = burst.trim().parse().map_err(|e| format!("{raw:?}: {e}"))?;
        if rate == 0 || burst == 0 {
            return Err(format!("{raw:?}: rate and burst must be positive"));
        }
        Ok(Self { rate, burst })
    }

    /// Nanoseconds between two tokens.
    fn interval(self) -> u64 {
        1_000_000_000 / u64::from(self.rate.max(1))
    }

    fn capacity(self) -> u64 {
        self.interval().saturating_mul(u64::from(self.burst))
    }

    /// Seconds a full bucket takes to refill (the policy's window).
    pub fn window_secs(self) -> u64 {
        self.capacity().div_ceil(1_000_000_000).max(1)
    }
}

/// The configured limits: per role, a default for roles not listed, and per tenant.
#[derive(Debug, Clone)]
pub struct RateLimits {
    per_role: HashMap<Role, Limit>,
    default: Limit,
    tenant: Limit,
}

impl RateLimits {
    /// `roles` as `role=rate/burst,...` (`default=` for roles not listed), `tenant` as `rate/burst`.
    pub fn parse(roles: &str, tenant: &str) -> Result<Self, String> {
        let mut per_role = HashMap::new();
        let mut default = None;
        for entry in roles.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, limit) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not role=rate/burst"))?;
            let limit = Limit::parse(limit)?;
            match name.trim() {
                "default" => default = Some(limit),
                role => {
                    per_role.insert(role.parse::<Role>()?, limit);
                }
            }
        }
        Ok(Self {
            per_role,
            default: default.ok_or("a default=rate/burst entry is required")?,
            tenant: Limit::parse(tenant)?,
        })
    }

    /// The most generous limit of `roles`.
    pub fn for_roles(&self, roles: &[Role]) -> Limit {
        roles
            .iter()
            .map(|r| self.per_role.get(r).copied().unwrap_or(self.default))
            .max_by_key(|l| l.rate)
            .unwrap_or(self.default)
    }

    pub fn tenant(&self) -> Limit {
        self.tenant
    }
}

/// The state of one bucket after a request, for the `RateLimit` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: Limit,
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        key: Quota,
        tenant: Quota,
    },
    /// Refused; try again after this many seconds (at least 1).
    Limited {
        retry_after_secs: u64,
        key: Quota,
        tenant: Quota,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Bucket {
    Credential(String),
    Tenant(TenantId),
}

/// The buckets of this replica.
#[derive(Debug)]
pub struct Limiter {
    limits: RateLimits,
    epoch: Instant,
    buckets: Mutex<HashMap<Bucket, u64>>,
}

/// Beyond this many buckets, full ones are forgotten (a full bucket is the same as none).
const MAX_BUCKETS: usize = 100_000;

impl Limiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            epoch: Instant::now(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Takes a token for `credential` (limited as `roles`) and for `tenant`, or neither.
    pub fn check(&self, credential: &str, roles: &[Role], tenant: &TenantId) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.check_at(now, credential, roles, tenant)
    }

    fn check_at(&self, now: u64, credential: &str, roles: &[Role], tenant: &TenantId) -> Decision {
        let key_limit = self.limits.for_roles(roles);
        let tenant_limit = self.limits.tenant;
        let key_bucket = Bucket::Credential(credential.to_owned());
        let tenant_bucket = Bucket::Tenant(tenant.clone());
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > MAX_BUCKETS {
            buckets.retain(|_, tat| *tat > now);
        }
        let key_tat = buckets.get(&key_bucket).copied().unwrap_or(0);
        let tenant_tat = buckets.get(&tenant_bucket).copied().unwrap_or(0);
        let key = take(key_limit, key_tat, now);
        let tenant = take(tenant_limit, tenant_tat, now);
        match (key, tenant) {
            (Ok((key_next, key_quota)), Ok((tenant_next, tenant_quota))) => {
                buckets.insert(key_bucket, key_next);
                buckets.insert(tenant_bucket, tenant_next);
                Decision::Allowed {
                    key: key_quota,
                    tenant: tenant_quota,
                }
            }
            (key, tenant) => {
                let wait = |r: &Result<(u64, Quota), u64>| *r.as_ref().err().unwrap_or(&0);
                let quota = |r: Result<(u64, Quota), u64>, limit: Limit, tat: u64| match r {
                    Ok((_, q)) => q,
                    Err(_) => Quota {
                        limit,
                        remaining: 0,
                        reset_secs: secs(tat.saturating_sub(now)),
                    },
                };
                Decision::Limited {
                    retry_after_secs: secs(wait(&key).max(wait(&tenant))).max(1),
                    key: quota(key, key_limit, key_tat),
                    tenant: quota(tenant, tenant_limit, tenant_tat),
                }
            }
        }
    }
}

/// GCRA: the bucket's next arrival time and quota if a token is left, else nanoseconds to wait.
fn take(limit: Limit, tat: u64, now: u64) -> Result<(u64, Quota), u64> {
    let next = tat.max(now).saturating_add(limit.interval());
    let used = next - now;
    if used > limit.capacity() {
        return Err(used - limit.capacity());
    }
    let quota = Quota {
        limit,
        remaining: (limit.capacity() - used) / limit.interval(),
        reset_secs: secs(used),
    };
    Ok((next, quota))
}

fn secs(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(roles: &str, tenant: &str) -> Limiter {
        Limiter::new(RateLimits::parse(roles, tenant).unwrap())
    }

    fn allowed(d: Decision) -> bool {
        matches!(d, Decision::Allowed { .. })
    }

    #[test]
    fn a_burst_passes_then_the_rate_applies() {
        let l = limiter("default=10/5", "1000/1000");
        let t = TenantId::default_tenant();
        for i in 0..5 {
            assert!(
                allowed(l.check_at(0, "k", &[Role::Admin], &t)),
                "request {i}"
            );
        }
        let Decision::Limited {
            retry_after_secs, ..
        } = l.check_at(0, "k", &[Role::Admin], &t)
        else {
            panic!("the sixth request of a burst of five passed");
        };
        assert_eq!(retry_after_secs, 1);
        // One token comes back every 100 ms.
        assert!(allowed(l.check_at(100_000_000, "k", &[Role::Admin], &t)));
        assert!(!allowed(l.check_at(100_000_000, "k", &[Role::Admin], &t)));
        // Another credential has its own bucket.
        assert!(allowed(l.check_at(0, "other", &[Role::Admin], &t)));
    }

    #[test]
    fn the_tenant_bucket_limits_all_its_credentials_and_spends_nothing_when_it_refuses() {
        let l = limiter("default=100/100", "10/2");
        let t = TenantId::default_tenant();
        assert!(allowed(l.check_at(0, "a", &[], &t)));
        assert!(allowed(l.check_at(0, "b", &[], &t)));
        assert!(!allowed(l.check_at(0, "c", &[], &t)));
        let Decision::Allowed { key, .. } = l.check_at(1_000_000_000, "c", &[], &t) else {
            panic!("refused after the tenant's bucket refilled");
        };
        assert_eq!(key.remaining, 99, "the refused request spent c's token");
        let other: TenantId = "other".parse().unwrap();
        assert!(allowed(l.check_at(0, "d", &[], &other)));
    }

    #[test]
    fn limits_follow_the_most_generous_role_and_refuse_bad_settings() {
        let limits = RateLimits::parse("default=5/10, finance=50/100", "1/1").unwrap();
        assert_eq!(limits.for_roles(&[Role::Driver]).rate, 5);
        assert_eq!(limits.for_roles(&[Role::Driver, Role::Finance]).rate, 50);
        for bad in [
            "finance=50/100",
            "default=0/1",
            "default=5",
            "boss=1/1,default=1/1",
        ] {
            assert!(RateLimits::parse(bad, "1/1").is_err(), "{bad}");
        }
        assert!(RateLimits::parse("default=1/1", "x").is_err());
    }
}
