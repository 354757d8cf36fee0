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

use crate::error::PricingError;
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
    /// Billable volumes of the period in seconds: charging (TIME), parking (PARKING_TIME) and
    /// reservation time. For Joule's own sessions one of the first two is the period's length; a CDR
    /// states them.
    pub time_s: Decimal,
    pub parking_s: Decimal,
    pub reservation_s: Decimal,
    /// The period belongs to a reservation (a CDR period with RESERVATION_TIME): only elements with a
    /// `reservation` restriction price it.
    pub reservation: bool,
    /// Charging power in kW over the period as (lowest, highest); `None` when unknown.
    pub power_kw: Option<(Decimal, Decimal)>,
    /// Current over all phases in A as (lowest, highest); Joule's chargers do not report it per
    /// period, a CDR may.
    pub current_a: Option<(Decimal, Decimal)>,
}

/// Which restrictions the tariff uses, so that periods are cut only where something can change.
#[derive(Debug, Clone, Default)]
pub(crate) struct CutPlan {
    /// Local times of day at which some element switches (start/end times, and midnight when a date,
    /// a day of the week or a time window is restricted).
    pub times: BTreeSet<TimeOfDay>,
    /// Whether a DST jump can switch an element (some time-of-day restriction exists).
    pub offset_changes: bool,
    pub kwh_wh: Vec<Decimal>,
    pub durations_s: Vec<u64>,
}

impl CutPlan {
    pub fn of(tariff: &Tariff) -> CutPlan {
        let mut plan = CutPlan::default();
        for r in tariff
            .elements
            .iter()
            .filter_map(|e| e.restrictions.as_ref())
        {
            let clock = [r.start_time, r.end_time];
            plan.times.extend(clock.into_iter().flatten());
            if r.start_time.is_some() || r.end_time.is_some() {
                plan.offset_changes = true;
                plan.times.insert(TimeOfDay::MIDNIGHT);
            }
            if r.start_date.is_some() || r.end_date.is_some() || !r.day_of_week.is_empty() {
                plan.times.insert(TimeOfDay::MIDNIGHT);
            }
            plan.kwh_wh.extend(
                [r.min_kwh, r.max_kwh]
                    .into_iter()
                    .flatten()
                    // bounded: min_kwh/max_kwh <= 1e5 kWh (limits.rs).
                    .map(|kwh| kwh.saturating_mul(Decimal::ONE_THOUSAND)),
            );
            plan.durations_s
                .extend([r.min_duration, r.max_duration].into_iter().flatten());
        }
        plan
    }

    /// Every instant in `(from, to)` where a local-time or duration restriction can change, sorted.
    /// `session_start` anchors the durations.
    pub fn clock_cuts(
        &self,
        tz: Tz,
        session_start: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let mut cuts: Vec<DateTime<Utc>> = Vec::new();
        if !self.times.is_empty() {
            cuts.extend(local_boundaries(tz, from, to, &self.times));
        }
        if self.offset_changes {
            cuts.extend(offset_changes(tz, from, to));
        }
        for &seconds in &self.durations_s {
            if let Some(t) = i64::try_from(seconds)
                .ok()
                .and_then(TimeDelta::try_seconds)
                .and_then(|d| session_start.checked_add_signed(d))
                .filter(|t| *t > from && *t < to)
            {
                cuts.push(t);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }
}

/// The periods of `usage` for `tariff`, in time order, covering `[start, end]` without gaps.
/// `usage` must have `start <= end` and non-negative energy. Refuses energy that, over the session's
/// length, is too large to share out ([`EnergyCurve::check`]).
pub(crate) fn split(
    tariff: &Tariff,
    usage: &SessionUsage,
) -> Result<Vec<PeriodFacts>, PricingError> {
    let tz = usage.time_zone;
    let charging_end = usage.charging_end.map(|c| c.clamp(usage.start, usage.end));
    let state_at = |t: DateTime<Utc>| match charging_end {
        Some(c) if t >= c => PeriodState::Parking,
        _ => PeriodState::Charging,
    };
    if usage.start == usage.end {
        return Ok(vec![PeriodFacts {
            start: usage.start,
            end: usage.end,
            local_start: local(tz, usage.start),
            state: state_at(usage.start),
            energy_before_wh: Decimal::ZERO,
            energy_wh: usage.energy.wh(),
            elapsed_s: Decimal::ZERO,
            time_s: Decimal::ZERO,
            parking_s: Decimal::ZERO,
            reservation_s: Decimal::ZERO,
            reservation: false,
            power_kw: None,
            current_a: None,
        }]);
    }

    EnergyCurve::check(usage)?;
    let plan = CutPlan::of(tariff);
    let mut curve = EnergyCurve::new(usage);
    curve.add_thresholds(plan.kwh_wh.iter().copied());

    let mut cuts: BTreeSet<DateTime<Utc>> = curve.vertex_times().collect();
    cuts.extend(charging_end);
    cuts.extend(plan.clock_cuts(tz, usage.start, usage.start, usage.end));
    let cuts: Vec<DateTime<Utc>> = cuts
        .into_iter()
        .filter(|t| *t >= usage.start && *t <= usage.end)
        .collect();

    Ok(cuts
        .windows(2)
        .map(|w| {
            let (start, end) = (w[0], w[1]);
            let energy_before_wh = curve.energy_at(start);
            let state = state_at(start);
            let duration = seconds_between(start, end);
            let (time_s, parking_s) = match state {
                PeriodState::Charging => (duration, Decimal::ZERO),
                PeriodState::Parking => (Decimal::ZERO, duration),
            };
            PeriodFacts {
                start,
                end,
                local_start: local(tz, start),
                state,
                energy_before_wh,
                // The curve does not decrease, and stays within [0, energy].
                energy_wh: curve.energy_at(end).saturating_sub(energy_before_wh),
                elapsed_s: seconds_between(usage.start, start),
                time_s,
                parking_s,
                reservation_s: Decimal::ZERO,
                reservation: false,
                power_kw: curve.power_at(start).map(|p| (p, p)),
                current_a: None,
            }
        })
        .collect())
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
    let (local_from, local_to) = (local(tz, from), local(tz, to));
    // A wall-clock reading more than a day away from the session's own can never fall inside it
    // (zones move by at most a few hours), so most candidates need no zone lookup.
    // At the ends of chrono's range a bound that does not exist is no bound.
    let day = TimeDelta::days(1);
    let (lo, hi) = (
        local_from
            .checked_sub_signed(day)
            .unwrap_or(NaiveDateTime::MIN),
        local_to
            .checked_add_signed(day)
            .unwrap_or(NaiveDateTime::MAX),
    );
    let last_day = hi.date();
    let mut out = Vec::new();
    for day in lo.date().iter_days().take_while(|d| *d <= last_day) {
        for time in times {
            let naive = day.and_time(time.as_naive());
            if naive < lo || naive > hi {
                continue;
            }
            out.extend(
                local_instants(tz, day, *time)
                    .into_iter()
                    .flatten()
                    .filter(|t| *t > from && *t < to),
            );
        }
    }
    out
}

fn local_instants(tz: Tz, day: NaiveDate, time: TimeOfDay) -> [Option<DateTime<Utc>>; 2] {
    match tz.from_local_datetime(&day.and_time(time.as_naive())) {
        chrono::LocalResult::Single(t) => [Some(t.with_timezone(&Utc)), None],
        chrono::LocalResult::Ambiguous(a, b) => {
            [Some(a.with_timezone(&Utc)), Some(b.with_timezone(&Utc))]
        }
        chrono::LocalResult::None => [None, None],
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
    // bounded: chrono's timestamps lie within about ±8.2e12 s, far inside an i64, and every value
    // below stays between `first` and `last`.
    let (first, last) = (from.timestamp(), to.timestamp().saturating_add(1));
    let mut out = Vec::new();
    // Zones change offset at most a few times a year: within a few weeks, the same offset at both
    // ends means no change in between.
    if last.saturating_sub(first) < 20 * 86_400 && offset_at(first) == offset_at(last) {
        return out;
    }
    let mut a = first;
    while a < last {
        let b = a.saturating_add(3600).min(last);
        if offset_at(a) != offset_at(b) {
            let (mut lo, mut hi) = (a, b);
            while hi.saturating_sub(lo) > 1 {
                let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
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
            [
                Some(Utc.with_ymd_and_hms(2024, 10, 27, 0, 30, 0).unwrap()),
                Some(Utc.with_ymd_and_hms(2024, 10, 27, 1, 30, 0).unwrap())
            ]
        );
        assert_eq!(local_instants(tz, spring, t0230), [None, None]);
    }
}
