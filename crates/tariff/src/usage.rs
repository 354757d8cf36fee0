//! What Joule knows about one of its own sessions, and the energy curve the engine derives from it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use joule_domain::Energy;
use rust_decimal::Decimal;

use crate::error::PricingError;

/// A session measured by Joule's own chargers.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUsage {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Billable energy of the whole session. Authoritative: samples only shape when it was delivered.
    pub energy: Energy,
    /// The site's zone; time-of-day, day-of-week and date restrictions are local to it.
    pub time_zone: Tz,
    /// Meter register readings. Empty means the energy was delivered at constant power from `start`
    /// to `end`.
    pub samples: Vec<(DateTime<Utc>, Energy)>,
    /// When the car stopped charging; the rest of the session is parking. `None`: charging throughout.
    pub charging_end: Option<DateTime<Utc>>,
}

/// kW per Wh/ns: 3600 s/h / 1000 W/kW * 1e9 ns/s.
const KW_PER_WH_PER_NS: Decimal = Decimal::from_parts(3_600_000_000, 0, 0, false, 0);

/// Nanoseconds from `a` to `b`. Sessions are far shorter than the ~292 years an i64 holds.
pub(crate) fn nanos_between(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    b.signed_duration_since(a)
        .num_nanoseconds()
        .unwrap_or(i64::MAX)
}

/// Exact seconds from `a` to `b` (nanosecond precision).
pub(crate) fn seconds_between(a: DateTime<Utc>, b: DateTime<Utc>) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(nanos_between(a, b)), 9)
}

/// Cumulative energy delivered since the session start, as a non-decreasing piecewise-linear curve
/// from `(start, 0)` to `(end, energy)`.
///
/// Meter registers are turned into delivered energy against the last reading at or before the start
/// (or the first reading, when none is that early), kept non-decreasing and capped at the session
/// energy, so that inconsistent meter data can shape but never change the billed total.
///
/// Every value on the curve lies between 0 and the session energy, so no product the curve forms
/// exceeds the energy times the larger of the session's length in nanoseconds and
/// [`KW_PER_WH_PER_NS`]; [`EnergyCurve::check`] refuses a session where that does not fit a
/// `Decimal`, and the arithmetic below relies on it.
#[derive(Debug, Clone)]
pub(crate) struct EnergyCurve {
    /// (time, Wh since start); strictly increasing times, non-decreasing energy.
    points: Vec<(DateTime<Utc>, Decimal)>,
    /// Power of each segment in kW, from the meter data as given. Segments split later (at energy
    /// thresholds) keep their segment's power, so a split never changes a power restriction's outcome.
    power_kw: Vec<Decimal>,
}

impl EnergyCurve {
    /// Refuses a session whose energy curve cannot be computed within `Decimal`: see the type.
    pub(crate) fn check(usage: &SessionUsage) -> Result<(), PricingError> {
        let span = Decimal::from(nanos_between(usage.start, usage.end)).max(KW_PER_WH_PER_NS);
        match usage.energy.wh().checked_mul(span) {
            Some(_) => Ok(()),
            None => Err(PricingError::overflow(
                "the session energy over its duration",
            )),
        }
    }

    /// `usage.start < usage.end`, non-negative energy and [`EnergyCurve::check`] are checked by the
    /// caller.
    pub(crate) fn new(usage: &SessionUsage) -> Self {
        let total = usage.energy.wh();
        let mut samples = usage.samples.clone();
        samples.sort_by_key(|(t, _)| *t);
        let baseline = samples
            .iter()
            .rev()
            .find(|(t, _)| *t <= usage.start)
            .or(samples.first())
            .map(|(_, e)| e.wh())
            .unwrap_or_default();
        let mut points = vec![(usage.start, Decimal::ZERO)];
        for (t, register) in samples {
            if t <= usage.start || t >= usage.end {
                continue;
            }
            let last = points.last().map(|p| p.1).unwrap_or_default();
            // Clamped to [last, total] next: saturating at the edge gives the same value.
            let value = register.wh().saturating_sub(baseline).max(last).min(total);
            if points.last().is_some_and(|p| p.0 == t) {
                continue;
            }
            points.push((t, value));
        }
        points.push((usage.end, total));
        let power_kw = points.windows(2).map(|w| power_kw(w[0], w[1])).collect();
        EnergyCurve { points, power_kw }
    }

    /// Adds a vertex where the curve first reaches each of `thresholds_wh`, so that a period never
    /// starts below a threshold and ends above it.
    pub(crate) fn add_thresholds(&mut self, thresholds_wh: impl IntoIterator<Item = Decimal>) {
        for k in thresholds_wh {
            let Some((i, &[(ta, ea), (tb, eb)])) = self
                .points
                .windows(2)
                .enumerate()
                .find(|(_, w)| w[0].1 < k && k < w[1].1)
            else {
                continue;
            };
            let span = nanos_between(ta, tb);
            // bounded: 0 < k - ea < eb - ea <= the session energy, and the energy times the
            // session's length fits (`check`).
            let offset = k
                .saturating_sub(ea)
                .saturating_mul(Decimal::from(span))
                .checked_div(eb.saturating_sub(ea))
                .map(|o| o.ceil());
            let Some(offset) = offset.and_then(|o| i64::try_from(o).ok()) else {
                continue;
            };
            if offset <= 0 || offset >= span {
                continue;
            }
            // Before `tb`, a valid instant.
            let Some(t) = ta.checked_add_signed(chrono::TimeDelta::nanoseconds(offset)) else {
                continue;
            };
            // `i` indexes a window of `points`: `i + 1` is in it.
            let next = i.saturating_add(1);
            self.points.insert(next, (t, k));
            self.power_kw.insert(next, self.power_kw[i]);
        }
    }

    /// Wh delivered between the start and `t`.
    pub(crate) fn energy_at(&self, t: DateTime<Utc>) -> Decimal {
        let i = self.points.partition_point(|p| p.0 <= t);
        let Some(&(ta, ea)) = i.checked_sub(1).and_then(|j| self.points.get(j)) else {
            return Decimal::ZERO;
        };
        let Some(&(tb, eb)) = self.points.get(i).filter(|_| ta != t) else {
            return ea;
        };
        // bounded: 0 <= eb - ea <= the session energy, times at most the session's length in ns
        // (`check`); the result lies between ea and eb.
        let rise = eb
            .saturating_sub(ea)
            .saturating_mul(Decimal::from(nanos_between(ta, t)))
            .checked_div(Decimal::from(nanos_between(ta, tb)))
            .unwrap_or_default();
        ea.saturating_add(rise)
    }

    /// Power (kW) of the segment that contains `t` (segments are half-open, `[a, b)`).
    pub(crate) fn power_at(&self, t: DateTime<Utc>) -> Option<Decimal> {
        let i = self.points.partition_point(|p| p.0 <= t);
        if i == self.points.len() {
            None
        } else {
            i.checked_sub(1).map(|j| self.power_kw[j])
        }
    }

    pub(crate) fn vertex_times(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.points.iter().map(|p| p.0)
    }
}

fn power_kw(a: (DateTime<Utc>, Decimal), b: (DateTime<Utc>, Decimal)) -> Decimal {
    // kW = Wh * 3600 s/h / 1000 W/kW / seconds = Wh * 3.6e9 / ns. bounded: 0 <= b.1 - a.1 <= the
    // session energy, and the energy times 3.6e9 fits (`EnergyCurve::check`); times strictly
    // increase, so ns > 0.
    let ns = Decimal::from(nanos_between(a.0, b.0));
    b.1.saturating_sub(a.1)
        .saturating_mul(KW_PER_WH_PER_NS)
        .checked_div(ns)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 4, h, m, 0).unwrap()
    }

    fn usage(samples: Vec<(DateTime<Utc>, Energy)>) -> SessionUsage {
        SessionUsage {
            start: t(10, 0),
            end: t(12, 0),
            energy: Energy::from_wh(dec!(20000)),
            time_zone: chrono_tz::UTC,
            samples,
            charging_end: None,
        }
    }

    #[test]
    fn without_samples_energy_grows_at_constant_power() {
        let c = EnergyCurve::new(&usage(vec![]));
        assert_eq!(c.energy_at(t(11, 0)), dec!(10000));
        assert_eq!(c.energy_at(t(10, 30)), dec!(5000));
        assert_eq!(c.power_at(t(10, 0)), Some(dec!(10)));
        assert_eq!(c.power_at(t(12, 0)), None);
    }

    #[test]
    fn samples_shape_the_curve_against_the_register_at_start() {
        let wh = |v| Energy::from_wh(Decimal::from(v));
        let c = EnergyCurve::new(&usage(vec![
            (t(10, 0), wh(1_000_000)),
            (t(10, 30), wh(1_015_000)),
        ]));
        assert_eq!(c.energy_at(t(10, 30)), dec!(15000));
        assert_eq!(c.power_at(t(10, 10)), Some(dec!(30)));
        // The remaining 5 kWh over 90 minutes.
        let rest = c.power_at(t(11, 0)).unwrap();
        assert!(
            (rest - dec!(10) / dec!(3)).abs() < dec!(0.000000000001),
            "{rest}"
        );
        assert_eq!(c.energy_at(t(12, 0)), dec!(20000));
    }

    #[test]
    fn readings_above_the_total_or_backwards_are_clamped() {
        let wh = |v| Energy::from_wh(Decimal::from(v));
        let c = EnergyCurve::new(&usage(vec![
            (t(9, 0), wh(500)),
            (t(10, 30), wh(30_500)),
            (t(11, 0), wh(400)),
        ]));
        assert_eq!(c.energy_at(t(10, 30)), dec!(20000));
        assert_eq!(c.energy_at(t(11, 0)), dec!(20000));
    }

    #[test]
    fn thresholds_become_vertices_with_the_exact_energy() {
        let mut c = EnergyCurve::new(&usage(vec![]));
        c.add_thresholds([dec!(5000), dec!(30000)]);
        let times: Vec<_> = c.vertex_times().collect();
        assert_eq!(times, vec![t(10, 0), t(10, 30), t(12, 0)]);
        assert_eq!(c.energy_at(t(10, 30)), dec!(5000));
        assert_eq!(c.power_at(t(10, 30)), Some(dec!(10)));
    }
}
