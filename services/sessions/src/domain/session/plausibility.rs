//! Plausibility of a session's energy register series, with no I/O.
//!
//! Billing uses the start and stop registers of the same meter; the readings in between are the
//! evidence that those registers make sense. The rules, each a flag, never a rejection:
//! - a reading below the highest one before it that, read as kWh, fits between its neighbours and
//!   within the charger's power was a kWh value labelled Wh (a common firmware bug): it is scaled
//!   by 1000 (`kwh_labelled_as_wh`);
//! - any other decrease is a `meter_regression` (a meter reset or swap);
//! - a register outside its domain (`joule_domain::bounds`: 0 to 10^12 Wh) is a
//!   `value_out_of_range` (a negative one also a `negative_meter_value`) and is left out: sessions
//!   stored before the bounds existed may hold such readings;
//! - energy faster than the charger's maximum power over at least a minute is `implausible_power`.
//!
//! Every computation is checked: a result beyond a decimal raises no flag and repairs nothing.

use chrono::{DateTime, Utc};
use joule_domain::{Energy, bounds};
use rust_decimal::Decimal;

use super::{Reading, flags};

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
    let mut out = Checked::default();
    points.retain(
        |p| match bounds::energy_register_wh(role_name(p.role), p.wh) {
            Ok(_) => true,
            Err(e) => {
                if p.wh < Decimal::ZERO {
                    out.flag(
                        flags::NEGATIVE_METER_VALUE,
                        format!("register {} Wh at {}", p.wh, p.at.to_rfc3339()),
                    );
                }
                out.flag(flags::VALUE_OUT_OF_RANGE, e.to_string());
                false
            }
        },
    );
    // Time order; the start register first and the stop register last where times tie (and a
    // total order, so that the outcome does not depend on the order events arrived in).
    points.sort_by_key(|p| (p.at, p.role, p.wh));
    points.dedup();

    // The highest register so far, and when it was read.
    let mut high: Option<(Decimal, DateTime<Utc>)> = None;
    for i in 0..points.len() {
        let v = points[i].wh;
        if let Some((h, h_at)) = high
            && v < h
            && v >= Decimal::ZERO
            && let Some(scaled) = v.checked_mul(WH_PER_KWH)
            && scaled >= h
        {
            let next = points.get(i.saturating_add(1)).map(|p| p.wh);
            let fits_next = next.is_none_or(|n| {
                n >= scaled || n.checked_mul(WH_PER_KWH).is_some_and(|n| n >= scaled)
            });
            let secs = seconds_between(h_at, points[i].at).max(MIN_POWER_INTERVAL_SECS);
            let within_power = scaled
                .checked_sub(h)
                .zip(power_limit_wh(max_power_w, secs))
                .is_some_and(|(rise, limit)| rise <= limit);
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
        let secs = seconds_between(pair[0].at, pair[1].at);
        let Some(delta) = pair[1].wh.checked_sub(pair[0].wh) else {
            continue;
        };
        if secs >= MIN_POWER_INTERVAL_SECS && delta > Decimal::ZERO {
            let Some(limit_wh) = power_limit_wh(max_power_w, secs) else {
                continue;
            };
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
    let secs = seconds_between(from, to);
    secs >= MIN_POWER_INTERVAL_SECS
        && power_limit_wh(max_power_w, secs).is_some_and(|limit| energy.wh() > limit)
}

/// The most energy `max_power_w` delivers in `secs`; `None` beyond a decimal (no limit then).
fn power_limit_wh(max_power_w: Decimal, secs: i64) -> Option<Decimal> {
    max_power_w
        .checked_mul(Decimal::from(secs))?
        .checked_div(SECS_PER_HOUR)
}

/// Whole seconds from `from` to `to` (negative when `to` is earlier); chrono's range of times
/// keeps this far inside an i64.
fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    to.signed_duration_since(from).num_seconds()
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Start => "meter start",
        Role::Reading => "Energy.Active.Import.Register",
        Role::Stop => "meter stop",
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests build their inputs with plain arithmetic"
)]
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
        assert_eq!(
            names(&c),
            ["negative_meter_value", "value_out_of_range"],
            "a negative start takes no part"
        );
        assert_eq!(c.meter_start, None);
        let c = check(
            Some((Energy::from_wh(dec!(5)), t(0))),
            &[],
            Some((Energy::from_wh(dec!(1000000)), t(60))),
            MAX_W,
        );
        assert_eq!(names(&c), ["implausible_power"]);
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

    #[test]
    fn registers_at_the_ends_of_a_decimal_do_not_panic() {
        // The reproducer of issue 11: two samples at the same time, at the two ends of a decimal.
        let c = check(
            Some((Energy::from_wh(dec!(1000)), t(0))),
            &[
                r(5, dec!(-79228162514264337593543950335)),
                r(5, dec!(79228162514264337593543950335)),
            ],
            None,
            MAX_W,
        );
        assert!(names(&c).contains(&"value_out_of_range"), "{:?}", c.flags);
        assert_eq!(c.first_reading, None, "neither reading enters arithmetic");
        assert_eq!(c.meter_start, Some(Energy::from_wh(dec!(1000))));
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
