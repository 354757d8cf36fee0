//! What Joule knows about one of its own sessions, and the energy curve the engine derives from it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use joule_domain::Energy;
use rust_decimal::Decimal;

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

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Nanoseconds from `a` to `b`. Sessions are far shorter than the ~292 years an i64 holds.
pub(crate) fn nanos_between(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_nanoseconds().unwrap_or(i64::MAX)
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
#[derive(Debug, Clone)]
pub(crate) struct EnergyCurve {
    /// (time, Wh since start); strictly increasing times, non-decreasing energy.
    points: Vec<(DateTime<Utc>, Decimal)>,
    /// Power of each segment in kW, from the meter data as given. Segments split later (at energy
    /// thresholds) keep their segment's power, so a split never changes a power restriction's outcome.
    power_kw: Vec<Decimal>,
}

impl EnergyCurve {
    /// `usage.start < usage.end` and non-negative energy are checked by the caller.
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
            let value = (register.wh() - baseline).max(last).min(total);
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
            let Some(i) = self
                .points
                .windows(2)
                .position(|w| w[0].1 < k && k < w[1].1)
            else {
                continue;
            };
            let ((ta, ea), (tb, eb)) = (self.points[i], self.points[i + 1]);
            let span = nanos_between(ta, tb);
            let offset = ((k - ea) * Decimal::from(span) / (eb - ea)).ceil();
            let Ok(offset) = i64::try_from(offset) else {
                continue;
            };
            if offset <= 0 || offset >= span {
                continue;
            }
            let t = ta + chrono::TimeDelta::nanoseconds(offset);
            self.points.insert(i + 1, (t, k));
            self.power_kw.insert(i + 1, self.power_kw[i]);
        }
    }

    /// Wh delivered between the start and `t`.
    pub(crate) fn energy_at(&self, t: DateTime<Utc>) -> Decimal {
        let i = self.points.partition_point(|p| p.0 <= t);
        if i == 0 {
            return Decimal::ZERO;
        }
        let (ta, ea) = self.points[i - 1];
        if ta == t || i == self.points.len() {
            return ea;
        }
        let (tb, eb) = self.points[i];
        ea + (eb - ea) * Decimal::from(nanos_between(ta, t)) / Decimal::from(nanos_between(ta, tb))
    }

    /// Power (kW) of the segment that contains `t` (segments are half-open, `[a, b)`).
    pub(crate) fn power_at(&self, t: DateTime<Utc>) -> Option<Decimal> {
        let i = self.points.partition_point(|p| p.0 <= t);
        if i == 0 || i == self.points.len() {
            None
        } else {
            Some(self.power_kw[i - 1])
        }
    }

    pub(crate) fn vertex_times(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.points.iter().map(|p| p.0)
    }
}

fn power_kw(a: (DateTime<Utc>, Decimal), b: (DateTime<Utc>, Decimal)) -> Decimal {
    // kW = Wh * 3600 s/h / 1000 W/kW / seconds = Wh * 3.6e9 / ns.
    let ns = Decimal::from(nanos_between(a.0, b.0));
    (b.1 - a.1) * Decimal::from(36 * NANOS_PER_SECOND / 10) / ns
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
