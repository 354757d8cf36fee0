//! When no element prices a dimension: the weekly windows (local time of day and day of week) in
//! which a session would get no price for, say, ENERGY although the tariff prices it at other times.
//!
//! The other restrictions (dates, kWh so far, power, current, duration) can make an element apply
//! only sometimes, and two such elements can together cover what neither does alone (up to 20 kWh
//! and from 20 kWh). So the space of those values is cut at every bound some element names, and
//! each cell is checked on its own, with the engine's own test of an element
//! ([`TariffRestrictions::hold_for`]) at every local time where some element switches. A gap found
//! only in some cells is reported with the cell's condition.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::model::{Dimension, Tariff, TariffRestrictions};
use crate::periods::{PeriodFacts, PeriodState};

const MINUTES_PER_DAY: u16 = 24 * 60;
/// Beyond this many cells of the non-clock restrictions the tariff is not analysed (no finding).
const MAX_CELLS: usize = 4096;

/// A piece of the week: (weekday from Monday = 0, start minute, end minute), local time.
type Segment = (u32, u16, u16);
/// The segments in which no element prices the dimension.
type Uncovered = BTreeSet<Segment>;
/// Minutes of a day, start inclusive, end exclusive.
type Span = (u16, u16);

/// A gap: the windows in which no element prices the dimension, and the condition (empty: always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gap {
    pub windows: String,
    pub condition: String,
}

/// One axis of the non-clock restrictions, cut at every bound: cell `i` is `[cuts[i], cuts[i+1])`.
struct Axis {
    name: &'static str,
    unit: &'static str,
    cuts: Vec<Decimal>,
}

impl Axis {
    fn new(name: &'static str, unit: &'static str, bounds: impl Iterator<Item = Decimal>) -> Axis {
        let mut cuts: Vec<Decimal> = std::iter::once(Decimal::ZERO).chain(bounds).collect();
        cuts.sort();
        cuts.dedup();
        Axis { name, unit, cuts }
    }

    fn describe(&self, i: usize) -> Option<String> {
        if self.cuts.len() < 2 {
            return None;
        }
        let from = self.cuts[i].normalize();
        // `i` indexes `cuts`: one more cannot overflow.
        Some(match self.cuts.get(i.saturating_add(1)) {
            Some(to) if i == 0 => format!("{} below {} {}", self.name, to.normalize(), self.unit),
            Some(to) => format!(
                "{} from {from} to {} {}",
                self.name,
                to.normalize(),
                self.unit
            ),
            None => format!("{} from {from} {}", self.name, self.unit),
        })
    }
}

/// Local dates, cut at every `start_date`/`end_date`: cell `i` starts at `cuts[i - 1]` (the first
/// is unbounded below) and ends before `cuts[i]` (the last is unbounded above).
struct Dates {
    cuts: Vec<NaiveDate>,
}

impl Dates {
    fn cells(&self) -> usize {
        // A Vec's length is far below usize::MAX.
        self.cuts.len().saturating_add(1)
    }

    /// Up to a week of dates of cell `i` (one per weekday at most) inside the tariff's validity.
    fn sample(&self, i: usize, valid: (Option<NaiveDate>, Option<NaiveDate>)) -> Vec<NaiveDate> {
        let lo = i.checked_sub(1).map(|j| self.cuts[j]).max(valid.0);
        // The last valid date is inclusive, the cell's end exclusive.
        let hi = match (
            self.cuts.get(i).copied(),
            valid.1.and_then(|d| d.succ_opt()),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let from = match (lo, hi) {
            (Some(lo), _) => lo,
            (None, Some(hi)) => hi.checked_sub_days(Days::new(7)).unwrap_or(hi),
            // A Monday, for a tariff with no dates at all.
            (None, None) => NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default(),
        };
        (0..7)
            .filter_map(|k| from.checked_add_days(Days::new(k)))
            .filter(|d| hi.is_none_or(|h| *d < h))
            .collect()
    }

    fn describe(&self, i: usize) -> Option<String> {
        if self.cuts.is_empty() {
            return None;
        }
        Some(
            match (i.checked_sub(1).map(|j| self.cuts[j]), self.cuts.get(i)) {
                (None, Some(to)) => format!("before {to}"),
                (Some(from), Some(to)) => format!("from {from} until before {to}"),
                (Some(from), None) => format!("from {from}"),
                (None, None) => return None,
            },
        )
    }
}

/// The gaps of `dimension` in `tariff`, or none when no element that is not for reservations
/// prices it, or the tariff has too many bounds to analyse.
pub(crate) fn gaps(tariff: &Tariff, dimension: Dimension) -> Vec<Gap> {
    let pricing: Vec<Option<&TariffRestrictions>> = tariff
        .elements
        .iter()
        .filter(|e| e.component(dimension).is_some())
        .map(|e| e.restrictions.as_ref())
        .filter(|r| r.is_none_or(|r| r.reservation.is_none()))
        .collect();
    if pricing.is_empty() {
        return Vec::new();
    }
    let restrictions = || pricing.iter().flatten();

    let mut times: BTreeSet<u16> = BTreeSet::from([0]);
    for r in restrictions() {
        times.extend(r.start_time.map(|t| t.minutes()));
        times.extend(r.end_time.map(|t| t.minutes()));
    }
    let times: Vec<u16> = times.into_iter().collect();

    let mut date_cuts: Vec<NaiveDate> = restrictions()
        .flat_map(|r| [r.start_date, r.end_date])
        .flatten()
        .collect();
    date_cuts.sort();
    date_cuts.dedup();
    let dates = Dates { cuts: date_cuts };
    let valid = (
        tariff.start_date_time.map(|t| t.date_naive()),
        tariff.end_date_time.map(|t| t.date_naive()),
    );

    let axes = [
        Axis::new(
            "energy so far",
            "kWh",
            restrictions()
                .flat_map(|r| [r.min_kwh, r.max_kwh])
                .flatten(),
        ),
        Axis::new(
            "power",
            "kW",
            restrictions()
                .flat_map(|r| [r.min_power, r.max_power])
                .flatten(),
        ),
        Axis::new(
            "current",
            "A",
            restrictions()
                .flat_map(|r| [r.min_current, r.max_current])
                .flatten(),
        ),
        Axis::new(
            "time since the start",
            "s",
            restrictions()
                .flat_map(|r| [r.min_duration, r.max_duration])
                .flatten()
                .map(Decimal::from),
        ),
    ];
    let cells = axes
        .iter()
        .map(|a| a.cuts.len())
        .try_fold(dates.cells(), usize::checked_mul);
    if cells.is_none_or(|n| n > MAX_CELLS) {
        return Vec::new();
    }

    // For each cell: the uncovered (weekday from Monday, start minute, end minute) segments.
    let mut by_cell: Vec<(String, Uncovered)> = Vec::new();
    let mut index = [0usize; 4];
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    for d in 0..dates.cells() {
        let sample = dates.sample(d, valid);
        if sample.is_empty() {
            continue;
        }
        loop {
            let value = |a: usize| axes[a].cuts[index[a]];
            let mut uncovered = BTreeSet::new();
            for date in &sample {
                for (k, &from) in times.iter().enumerate() {
                    // `k` indexes `times`: one more cannot overflow.
                    let to = times
                        .get(k.saturating_add(1))
                        .copied()
                        .unwrap_or(MINUTES_PER_DAY);
                    let Some(local) =
                        date.and_hms_opt(u32::from(from / 60), u32::from(from % 60), 0)
                    else {
                        continue;
                    };
                    let facts = PeriodFacts {
                        start: epoch,
                        end: epoch,
                        local_start: local,
                        state: PeriodState::Charging,
                        // bounded: the kWh axis holds min_kwh/max_kwh ≤ 1e5 kWh (limits.rs).
                        energy_before_wh: value(0).saturating_mul(Decimal::ONE_THOUSAND),
                        energy_wh: Decimal::ZERO,
                        elapsed_s: value(3),
                        time_s: Decimal::ZERO,
                        parking_s: Decimal::ZERO,
                        reservation_s: Decimal::ZERO,
                        reservation: false,
                        power_kw: Some((value(1), value(1))),
                        current_a: Some((value(2), value(2))),
                    };
                    let covered = pricing
                        .iter()
                        .any(|r| r.is_none_or(|r| r.hold_for(&facts, false)));
                    if !covered {
                        uncovered.insert((date.weekday().num_days_from_monday(), from, to));
                    }
                }
            }
            let condition: Vec<String> = std::iter::once(dates.describe(d))
                .chain(
                    axes.iter()
                        .enumerate()
                        .map(|(a, axis)| axis.describe(index[a])),
                )
                .flatten()
                .collect();
            by_cell.push((condition.join(", "), uncovered));
            // The next cell of the value axes, like an odometer.
            let mut a = 0;
            while a < axes.len() {
                // Indexes into cuts, and a < axes.len() (4): neither can overflow.
                index[a] = index[a].saturating_add(1);
                if index[a] < axes[a].cuts.len() {
                    break;
                }
                index[a] = 0;
                a = a.saturating_add(1);
            }
            if a == axes.len() {
                break;
            }
        }
    }

    // Cells with the same gap are reported together; a gap of every cell needs no condition.
    let mut groups: Vec<(Uncovered, Vec<String>)> = Vec::new();
    for (condition, uncovered) in &by_cell {
        if uncovered.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(u, _)| u == uncovered) {
            Some((_, conditions)) => conditions.push(condition.clone()),
            None => groups.push((uncovered.clone(), vec![condition.clone()])),
        }
    }
    groups
        .into_iter()
        .map(|(uncovered, conditions)| {
            let condition = if conditions.len() == by_cell.len() {
                String::new()
            } else {
                const SHOWN: usize = 3;
                let mut c = conditions
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; or ");
                if conditions.len() > SHOWN {
                    let more = conditions.len().saturating_sub(SHOWN);
                    let _ = write!(c, "; and {more} more");
                }
                c
            };
            Gap {
                windows: windows(&uncovered),
                condition,
            }
        })
        .collect()
}

/// `Mon-Fri 00:00-06:00, Sat-Sun all day` from the uncovered segments.
fn windows(uncovered: &Uncovered) -> String {
    // Per weekday, the segments joined where they touch.
    let mut days: Vec<Vec<Span>> = vec![Vec::new(); 7];
    for &(day, from, to) in uncovered {
        let spans = &mut days[day as usize];
        match spans.last_mut() {
            Some(last) if last.1 == from => last.1 = to,
            _ => spans.push((from, to)),
        }
    }
    if days.iter().all(|s| s == &[(0, MINUTES_PER_DAY)]) {
        return "at any time".into();
    }
    // Weekdays with the same spans, in order of their first day.
    let mut groups: Vec<(Vec<Span>, Vec<u32>)> = Vec::new();
    for (day, spans) in days.into_iter().enumerate() {
        if spans.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(s, _)| *s == spans) {
            Some((_, d)) => d.push(day as u32),
            None => groups.push((spans, vec![day as u32])),
        }
    }
    groups
        .iter()
        .map(|(spans, days)| {
            let when = spans
                .iter()
                .map(|&(from, to)| {
                    if (from, to) == (0, MINUTES_PER_DAY) {
                        "all day".to_owned()
                    } else {
                        format!("{}-{}", clock(from), clock(to))
                    }
                })
                .collect::<Vec<_>>()
                .join(" and ");
            format!("{} {when}", day_list(days))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `every day`, `Mon-Fri`, `Mon, Wed`.
fn day_list(days: &[u32]) -> String {
    const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    if days.len() == 7 {
        return "every day".into();
    }
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &d in days {
        match runs.last_mut() {
            // Weekdays are 0..=6.
            Some(run) if run.1.saturating_add(1) == d => run.1 = d,
            _ => runs.push((d, d)),
        }
    }
    runs.iter()
        // A run ends at or after its start.
        .map(|&(a, b)| match b.saturating_sub(a) {
            0 => NAMES[a as usize].to_owned(),
            1 => format!("{}, {}", NAMES[a as usize], NAMES[b as usize]),
            _ => format!("{}-{}", NAMES[a as usize], NAMES[b as usize]),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps_of(json: &str, d: Dimension) -> Vec<(String, String)> {
        gaps(&Tariff::parse(json).unwrap(), d)
            .into_iter()
            .map(|g| (g.windows, g.condition))
            .collect()
    }

    fn energy(restrictions: &str) -> String {
        format!(
            r#"{{ "price_components": [{{ "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 }}], "restrictions": {restrictions} }}"#
        )
    }

    fn tariff(elements: &[String]) -> String {
        format!(
            r#"{{ "id": "g", "currency": "EUR", "elements": [{}] }}"#,
            elements.join(",")
        )
    }

    #[test]
    fn an_energy_price_from_06_00_leaves_the_night_unpriced() {
        let t = tariff(&[energy(r#"{ "start_time": "06:00" }"#)]);
        assert_eq!(
            gaps_of(&t, Dimension::Energy),
            [("every day 00:00-06:00".into(), String::new())]
        );
        assert!(gaps_of(&t, Dimension::Time).is_empty());
    }

    #[test]
    fn windows_that_wrap_past_midnight_and_weekdays_are_followed() {
        // Night 22:00-06:00 every day, day 06:00-22:00 on weekdays only: weekend days are open.
        let t = tariff(&[
            energy(r#"{ "start_time": "22:00", "end_time": "06:00" }"#),
            energy(
                r#"{ "start_time": "06:00", "end_time": "22:00", "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"] }"#,
            ),
        ]);
        assert_eq!(
            gaps_of(&t, Dimension::Energy),
            [("Sat, Sun 06:00-22:00".into(), String::new())]
        );
        // The same night and an unrestricted day element cover the whole week.
        let t = tariff(&[
            energy(r#"{ "start_time": "22:00", "end_time": "06:00" }"#),
            energy("{}"),
        ]);
        assert!(gaps_of(&t, Dimension::Energy).is_empty());
    }

    #[test]
    fn elements_that_split_another_restriction_cover_together() {
        let t = tariff(&[
            energy(r#"{ "max_kwh": 20 }"#),
            energy(r#"{ "min_kwh": 20 }"#),
        ]);
        assert!(gaps_of(&t, Dimension::Energy).is_empty());
        let t = tariff(&[energy(r#"{ "max_kwh": 20 }"#)]);
        assert_eq!(
            gaps_of(&t, Dimension::Energy),
            [("at any time".into(), "energy so far from 20 kWh".into())]
        );
        // A promotion that ends, with nothing after it.
        let t = tariff(&[energy(r#"{ "end_date": "2025-01-01" }"#)]);
        assert_eq!(
            gaps_of(&t, Dimension::Energy),
            [("at any time".into(), "from 2025-01-01".into())]
        );
    }

    #[test]
    fn a_gap_only_at_some_power_names_it() {
        let t = tariff(&[
            energy(r#"{ "max_power": 22 }"#),
            energy(r#"{ "min_power": 22, "start_time": "08:00", "end_time": "20:00" }"#),
        ]);
        assert_eq!(
            gaps_of(&t, Dimension::Energy),
            [(
                "every day 00:00-08:00 and 20:00-24:00".into(),
                "power from 22 kW".into()
            )]
        );
    }
}
