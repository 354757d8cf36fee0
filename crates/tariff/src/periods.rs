//! Splitting a session into periods within which no restriction of the tariff can change its answer.
//!
//! A period is cut at every instant where some restriction could flip: the local-time boundaries of
//! `start_time`/`end_time`, local midnights (dates and days of the week), the zone's UTC-offset changes
//! (a DST jump moves local time without crossing any boundary), `min_kwh`/`max_kwh` thresholds on the
//! energy curve, `min_duration`/`max_duration`, meter samples (power changes) and the end of charging.
//! Restrictions are then evaluated once, at the start of each period, which is exact.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::{Tariff, TimeOfDay};
use crate::usage::{EnergyCurve, SessionUsage, seconds_between};

/// Whether the car was charging or only parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PeriodState {
    Charging,
    Parking,
}

/// What the restrictions are evaluated against, for one period.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PeriodFacts {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Local wall-clock time at `start` in the site's zone.
    pub local_start: NaiveDateTime,
    pub state: PeriodState,
    /// Wh delivered before the period.
    pub energy_before_wh: Decimal,
    /// Wh delivered within the period.
    pub energy_wh: Decimal,
    /// Seconds since the session started, at `start`.
    pub elapsed_s: Decimal,
    pub duration_s: Decimal,
    /// Average charging power in kW; `None` when unknown (an instantaneous session).
    pub power_kw: Option<Decimal>,
    /// Current over all phases in A; Joule's chargers do not report it per period yet, so `None`.
    pub current_a: Option<Decimal>,
}

/// The periods of `usage` for `tariff`, in time order, covering `[start, end]` without gaps.
/// `usage` must have `start <= end` and non-negative energy.
pub(crate) fn split(tariff: &Tariff, usage: &SessionUsage) -> Vec<PeriodFacts> {
    let tz = usage.time_zone;
    let charging_end = usage.charging_end.map(|c| c.clamp(usage.start, usage.end));
    let state_at = |t: DateTime<Utc>| match charging_end {
        Some(c) if t >= c => PeriodState::Parking,
        _ => PeriodState::Charging,
    };
    if usage.start == usage.end {
        return vec![PeriodFacts {
            start: usage.start,
            end: usage.end,
            local_start: local(tz, usage.start),
            state: state_at(usage.start),
            energy_before_wh: Decimal::ZERO,
            energy_wh: usage.energy.wh(),
            elapsed_s: Decimal::ZERO,
            duration_s: Decimal::ZERO,
            power_kw: None,
            current_a: None,
        }];
    }

    let restrictions = || {
        tariff
            .elements
            .iter()
            .filter_map(|e| e.restrictions.as_ref())
    };
    let mut curve = EnergyCurve::new(usage);
    curve.add_thresholds(
        restrictions()
            .flat_map(|r| [r.min_kwh, r.max_kwh])
            .flatten()
            .map(|kwh| kwh * Decimal::ONE_THOUSAND),
    );

    let mut cuts: BTreeSet<DateTime<Utc>> = curve.vertex_times().collect();
    cuts.extend(charging_end);
    cuts.extend(offset_changes(tz, usage.start, usage.end));
    let mut times: BTreeSet<TimeOfDay> = restrictions()
        .flat_map(|r| [r.start_time, r.end_time])
        .flatten()
        .collect();
    times.insert(TimeOfDay::MIDNIGHT);
    cuts.extend(local_boundaries(tz, usage.start, usage.end, &times));
    for seconds in restrictions()
        .flat_map(|r| [r.min_duration, r.max_duration])
        .flatten()
    {
        if let Some(t) = i64::try_from(seconds)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .and_then(|d| usage.start.checked_add_signed(d))
        {
            cuts.insert(t);
        }
    }
    let cuts: Vec<DateTime<Utc>> = cuts
        .into_iter()
        .filter(|t| *t >= usage.start && *t <= usage.end)
        .collect();

    cuts.windows(2)
        .map(|w| {
            let (start, end) = (w[0], w[1]);
            let energy_before_wh = curve.energy_at(start);
            PeriodFacts {
                start,
                end,
                local_start: local(tz, start),
                state: state_at(start),
                energy_before_wh,
                energy_wh: curve.energy_at(end) - energy_before_wh,
                elapsed_s: seconds_between(usage.start, start),
                duration_s: seconds_between(start, end),
                power_kw: curve.power_at(start),
                current_a: None,
            }
        })
        .collect()
}

pub(crate) fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// Every instant in `(from, to)` where the local clock reads one of `times` on some day. A time that
/// occurs twice (DST fall-back) gives both instants; one that does not occur (spring-forward gap) gives
/// none, the jump itself being an offset change.
fn local_boundaries(
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    times: &BTreeSet<TimeOfDay>,
) -> Vec<DateTime<Utc>> {
    let first = local(tz, from).date() - TimeDelta::days(1);
    let last = local(tz, to).date() + TimeDelta::days(1);
    let mut out = Vec::new();
    for day in first.iter_days().take_while(|d| *d <= last) {
        for time in times {
            out.extend(
                local_instants(tz, day, *time)
                    .into_iter()
                    .filter(|t| *t > from && *t < to),
            );
        }
    }
    out
}

fn local_instants(tz: Tz, day: NaiveDate, time: TimeOfDay) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&day.and_time(time.as_naive())) {
        chrono::LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        chrono::LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        chrono::LocalResult::None => vec![],
    }
}

/// The instants in `(from, to)` where the zone's UTC offset changes. Zones change offset at whole
/// seconds and at most a few times a year, so an hourly scan with a bisection finds each one exactly.
fn offset_changes(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let offset_at = |s: i64| {
        DateTime::from_timestamp(s, 0).map(|t| {
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc()
        })
    };
    let (first, last) = (from.timestamp(), to.timestamp() + 1);
    let mut out = Vec::new();
    let mut a = first;
    while a < last {
        let b = (a + 3600).min(last);
        if offset_at(a) != offset_at(b) {
            let (mut lo, mut hi) = (a, b);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset_at(mid) == offset_at(lo) {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            out.extend(DateTime::from_timestamp(hi, 0).filter(|t| *t > from && *t < to));
        }
        a = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_dst_changes_of_amsterdam_exactly() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let from = Utc.with_ymd_and_hms(2024, 3, 30, 12, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2024, 11, 1, 0, 0, 0).unwrap();
        assert_eq!(
            offset_changes(tz, from, to),
            vec![
                Utc.with_ymd_and_hms(2024, 3, 31, 1, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2024, 10, 27, 1, 0, 0).unwrap()
            ]
        );
    }

    #[test]
    fn an_ambiguous_local_time_gives_both_instants_and_a_skipped_one_none() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let fall = NaiveDate::from_ymd_opt(2024, 10, 27).unwrap();
        let spring = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
        let t0230 = TimeOfDay::new(2, 30).unwrap();
        assert_eq!(
            local_instants(tz, fall, t0230),
            vec![
                Utc.with_ymd_and_hms(2024, 10, 27, 0, 30, 0).unwrap(),
                Utc.with_ymd_and_hms(2024, 10, 27, 1, 30, 0).unwrap()
            ]
        );
        assert!(local_instants(tz, spring, t0230).is_empty());
    }
}
