//! Plausibility of a session's energy register series, with no I/O.
//!
//! Billing uses the start and stop registers of the same meter; the readings in between are the
//! evidence that those registers make sense. The rules, each a flag, never a rejection:
//! - a reading below the highest one before it that, read as kWh, fits between its neighbours and
//!   within the charger's power was a kWh value labelled Wh (a common firmware bug): it is scaled
//!   by 1000 (`kwh_labelled_as_wh`);
//! - any other decrease is a `meter_regression` (a meter reset or swap);
//! - a negative register is a `negative_meter_value`;
//! - energy faster than the charger's maximum power over at least a minute is `implausible_power`.

use chrono::{DateTime, Utc};
use joule_domain::Energy;
use rust_decimal::Decimal;

use crate::session::{Reading, flags};

const WH_PER_KWH: Decimal = Decimal::ONE_THOUSAND;
const SECS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);
/// Shorter intervals are too coarse for the power rule (a register's resolution alone can exceed it).
const MIN_POWER_INTERVAL_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Start,
    Reading,
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
struct Point {
    at: DateTime<Utc>,
    role: Role,
    wh: Decimal,
}

/// The repaired registers and what was found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checked {
    pub meter_start: Option<Energy>,
    pub meter_stop: Option<Energy>,
    /// Earliest and latest readings (after repair), the fallbacks for missing registers.
    pub first_reading: Option<Reading>,
    pub last_reading: Option<Reading>,
    /// (flag, detail)
    pub flags: Vec<(String, String)>,
}

impl Checked {
    fn flag(&mut self, flag: &str, detail: String) {
        if !self.flags.iter().any(|(f, _)| f == flag) {
            self.flags.push((flag.to_owned(), detail));
        }
    }
}

/// Checks a series: the start register (with the start time), the readings, the stop register.
pub fn check(
    start: Option<(Energy, DateTime<Utc>)>,
    readings: &[Reading],
    stop: Option<(Energy, DateTime<Utc>)>,
    max_power_w: Decimal,
) -> Checked {
    let mut points: Vec<Point> = start
        .map(|(e, at)| Point {
            at,
            role: Role::Start,
            wh: e.wh(),
        })
        .into_iter()
        .chain(readings.iter().map(|r| Point {
            at: r.at,
            role: Role::Reading,
            wh: r.register.wh(),
        }))
        .chain(stop.map(|(e, at)| Point {
            at,
            role: Role::Stop,
            wh: e.wh(),
        }))
        .collect();
    // Time order; the start register first and the stop register last where times tie (and a
    // total order, so that the outcome does not depend on the order events arrived in).
    points.sort_by_key(|p| (p.at, p.role, p.wh));
    points.dedup();

    let mut out = Checked::default();
    // The highest register so far, and when it was read.
    let mut high: Option<(Decimal, DateTime<Utc>)> = None;
    for i in 0..points.len() {
        let v = points[i].wh;
        if v < Decimal::ZERO {
            out.flag(
                flags::NEGATIVE_METER_VALUE,
                format!("register {v} Wh at {}", points[i].at.to_rfc3339()),
            );
        }
        if let Some((h, h_at)) = high
            && v < h
            && v >= Decimal::ZERO
            && let Some(scaled) = v.checked_mul(WH_PER_KWH)
            && scaled >= h
        {
            let next = points.get(i + 1).map(|p| p.wh);
            let fits_next = next.is_none_or(|n| {
                n >= scaled || n.checked_mul(WH_PER_KWH).is_some_and(|n| n >= scaled)
            });
            let secs = (points[i].at - h_at)
                .num_seconds()
                .max(MIN_POWER_INTERVAL_SECS);
            let within_power = scaled - h <= max_power_w * Decimal::from(secs) / SECS_PER_HOUR;
            if fits_next && within_power {
                out.flag(
                    flags::KWH_LABELLED_AS_WH,
                    format!(
                        "register {v} labelled Wh at {} read as kWh",
                        points[i].at.to_rfc3339()
                    ),
                );
                points[i].wh = scaled;
            }
        }
        if high.is_none_or(|(h, _)| points[i].wh >= h) {
            high = Some((points[i].wh, points[i].at));
        }
    }

    // Regressions that remain (the stop below the start is reported where energy is computed).
    let mut high: Option<&Point> = None;
    for p in &points {
        if let Some(h) = high
            && p.wh < h.wh
            && !(h.role == Role::Start && p.role == Role::Stop)
        {
            out.flag(
                flags::METER_REGRESSION,
                format!(
                    "register fell from {} Wh to {} Wh at {}",
                    h.wh,
                    p.wh,
                    p.at.to_rfc3339()
                ),
            );
        }
        if high.is_none_or(|h| p.wh >= h.wh) {
            high = Some(p);
        }
    }

    for pair in points.windows(2) {
        let secs = (pair[1].at - pair[0].at).num_seconds();
        let delta = pair[1].wh - pair[0].wh;
        if secs >= MIN_POWER_INTERVAL_SECS && delta > Decimal::ZERO {
            let limit_wh = max_power_w * Decimal::from(secs) / SECS_PER_HOUR;
            if delta > limit_wh {
                out.flag(
                    flags::IMPLAUSIBLE_POWER,
                    format!(
                        "{delta} Wh in {secs} s exceeds the charger maximum of {max_power_w} W"
                    ),
                );
            }
        }
    }

    let reading = |p: &Point| Reading {
        at: p.at,
        register: Energy::from_wh(p.wh),
    };
    out.meter_start = points
        .iter()
        .find(|p| p.role == Role::Start)
        .map(|p| Energy::from_wh(p.wh));
    out.meter_stop = points
        .iter()
        .find(|p| p.role == Role::Stop)
        .map(|p| Energy::from_wh(p.wh));
    out.first_reading = points.iter().find(|p| p.role == Role::Reading).map(reading);
    out.last_reading = points
        .iter()
        .rev()
        .find(|p| p.role == Role::Reading)
        .map(reading);
    out
}

/// Whether `energy` over `from..to` exceeds what the charger can deliver.
pub fn exceeds_power(
    energy: Energy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_power_w: Decimal,
) -> bool {
    let secs = (to - from).num_seconds();
    secs >= MIN_POWER_INTERVAL_SECS
        && energy.wh() > max_power_w * Decimal::from(secs) / SECS_PER_HOUR
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    const MAX_W: Decimal = dec!(350000);

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + minute * 60, 0).unwrap()
    }

    fn r(minute: i64, wh: Decimal) -> Reading {
        Reading {
            at: t(minute),
            register: Energy::from_wh(wh),
        }
    }

    fn names(c: &Checked) -> Vec<&str> {
        c.flags.iter().map(|(f, _)| f.as_str()).collect()
    }

    #[test]
    fn a_clean_series_raises_nothing() {
        let c = check(
            Some((Energy::from_wh(dec!(1000)), t(0))),
            &[r(15, dec!(4000)), r(30, dec!(7000))],
            Some((Energy::from_wh(dec!(13500)), t(60))),
            MAX_W,
        );
        assert!(c.flags.is_empty(), "{:?}", c.flags);
        assert_eq!(c.meter_start, Some(Energy::from_wh(dec!(1000))));
        assert_eq!(c.meter_stop, Some(Energy::from_wh(dec!(13500))));
    }

    #[test]
    fn kwh_labelled_as_wh_is_scaled_where_it_fits() {
        // The 1.6 registers are right (integers in Wh); one reading and the stop came in kWh.
        let c = check(
            Some((Energy::from_wh(dec!(1000)), t(0))),
            &[r(15, dec!(4.25)), r(30, dec!(7000))],
            Some((Energy::from_wh(dec!(13.5)), t(60))),
            MAX_W,
        );
        assert_eq!(names(&c), ["kwh_labelled_as_wh"]);
        assert_eq!(c.meter_stop, Some(Energy::from_wh(dec!(13500))));
        assert_eq!(
            c.first_reading.unwrap().register,
            Energy::from_wh(dec!(4250))
        );
    }

    #[test]
    fn a_meter_reset_is_a_regression_not_a_unit_error() {
        // 5 -> 6 after 9000: scaling 5 would overshoot the next reading, so it is a reset.
        let c = check(
            Some((Energy::from_wh(dec!(9000)), t(0))),
            &[r(15, dec!(5)), r(30, dec!(6))],
            None,
            MAX_W,
        );
        assert_eq!(names(&c), ["meter_regression"]);
    }

    #[test]
    fn negative_registers_and_impossible_power_are_flagged() {
        let c = check(
            Some((Energy::from_wh(dec!(-5)), t(0))),
            &[],
            Some((Energy::from_wh(dec!(1000000)), t(60))),
            MAX_W,
        );
        assert_eq!(names(&c), ["negative_meter_value", "implausible_power"]);
        assert!(exceeds_power(
            Energy::from_wh(dec!(400000)),
            t(0),
            t(60),
            MAX_W
        ));
        assert!(!exceeds_power(
            Energy::from_wh(dec!(300000)),
            t(0),
            t(60),
            MAX_W
        ));
    }

    proptest! {
        /// Whatever order readings arrive in, the outcome is the same.
        #[test]
        fn the_outcome_does_not_depend_on_reading_order(
            values in proptest::collection::vec((0i64..600, 0u32..100_000), 0..12),
            seed in any::<u64>(),
        ) {
            let readings: Vec<Reading> = values.iter().map(|(m, wh)| r(*m, Decimal::from(*wh))).collect();
            let mut shuffled = readings.clone();
            // A deterministic shuffle from the seed.
            let n = shuffled.len();
            for i in 0..n {
                let j = ((seed >> (i % 32)) as usize + i * 7) % n;
                shuffled.swap(i, j);
            }
            let start = Some((Energy::from_wh(dec!(10)), t(0)));
            let stop = Some((Energy::from_wh(dec!(200000)), t(700)));
            prop_assert_eq!(check(start, &readings, stop, MAX_W), check(start, &shuffled, stop, MAX_W));
        }
    }
}
