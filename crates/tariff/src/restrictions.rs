//! Whether a tariff element applies to a period, following the OCPI 2.2.1 text:
//! `start_time` inclusive / `end_time` exclusive in local time, wrapping past midnight when the end is
//! not after the start, `end_time` "00:00" meaning the end of the day; `start_date` inclusive /
//! `end_date` exclusive (local dates); `min_*` inclusive / `max_*` exclusive for energy so far,
//! current, power and duration so far; `day_of_week` the local weekday.

use chrono::{Datelike, Timelike};
use rust_decimal::Decimal;

use crate::arith::per;
use crate::model::{ReservationRestriction, TariffElement, TariffRestrictions};
use crate::periods::PeriodFacts;

impl TariffElement {
    /// Whether this element applies during `period`. `reservation_expired` says whether the
    /// session's reservation ended without charging (RESERVATION_EXPIRES elements price only those).
    pub(crate) fn applies_to(&self, period: &PeriodFacts, reservation_expired: bool) -> bool {
        match &self.restrictions {
            None => !period.reservation,
            Some(r) => r.hold_for(period, reservation_expired),
        }
    }
}

impl TariffRestrictions {
    pub(crate) fn hold_for(&self, p: &PeriodFacts, reservation_expired: bool) -> bool {
        // A reservation element prices reservations only, and only reservation elements price them
        // (mod_tariffs, TariffRestrictions.reservation). RESERVATION_EXPIRES prices a reservation
        // that ended without charging; RESERVATION prices any reservation.
        let reservation_ok = match self.reservation {
            None => !p.reservation,
            Some(ReservationRestriction::Reservation) => p.reservation,
            Some(ReservationRestriction::ReservationExpires) => {
                p.reservation && reservation_expired
            }
        };
        if !reservation_ok {
            return false;
        }
        let date = p.local_start.date();
        // bounded: chrono's hour is 0..=23 and minute 0..=59.
        let minute = p
            .local_start
            .hour()
            .saturating_mul(60)
            .saturating_add(p.local_start.minute()) as u16;
        // "00:00" as an end is the end of the day ("To stop at end of the day use: 00:00").
        let end_of = |e: crate::model::TimeOfDay| match e.minutes() {
            0 => 24 * 60,
            m => m,
        };
        let in_window = match (self.start_time, self.end_time) {
            (None, None) => true,
            (Some(s), None) => minute >= s.minutes(),
            (None, Some(e)) => minute < end_of(e),
            (Some(s), Some(e)) if s.minutes() < end_of(e) => {
                minute >= s.minutes() && minute < end_of(e)
            }
            // "If end_time < start_time then the period wraps around to the next day."
            (Some(s), Some(e)) if s.minutes() > end_of(e) => {
                minute >= s.minutes() || minute < e.minutes()
            }
            // From a time until the same time: an empty window (the text wraps only when the end
            // is before the start).
            (Some(_), Some(_)) => false,
        };
        in_window
            && self.start_date.is_none_or(|d| date >= d)
            && self.end_date.is_none_or(|d| date < d)
            && (self.day_of_week.is_empty()
                || self
                    .day_of_week
                    .iter()
                    .any(|d| d.weekday() == date.weekday()))
            && in_range(
                Some(per(p.energy_before_wh, Decimal::ONE_THOUSAND)),
                self.min_kwh,
                self.max_kwh,
            )
            && span_in_range(p.current_a, self.min_current, self.max_current)
            && span_in_range(p.power_kw, self.min_power, self.max_power)
            && in_range(
                Some(p.elapsed_s),
                self.min_duration.map(Decimal::from),
                self.max_duration.map(Decimal::from),
            )
    }

    /// A short human description for price lines: `17:00-23:00, Mon-Fri, from 20 kWh`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.start_time, self.end_time) {
            (Some(s), Some(e)) => parts.push(format!("{s}-{e}")),
            (Some(s), None) => parts.push(format!("from {s}")),
            (None, Some(e)) => parts.push(format!("until {e}")),
            (None, None) => {}
        }
        if !self.day_of_week.is_empty() {
            let days: Vec<String> = self
                .day_of_week
                .iter()
                .map(|d| d.weekday().to_string())
                .collect();
            parts.push(days.join(" "));
        }
        match (self.start_date, self.end_date) {
            (Some(s), Some(e)) => parts.push(format!("{s} to {e}")),
            (Some(s), None) => parts.push(format!("from {s}")),
            (None, Some(e)) => parts.push(format!("before {e}")),
            (None, None) => {}
        }
        let mut range =
            |name: &str, unit: &str, min: Option<Decimal>, max: Option<Decimal>| match (min, max) {
                (Some(a), Some(b)) => {
                    parts.push(format!("{name} {}-{} {unit}", a.normalize(), b.normalize()))
                }
                (Some(a), None) => parts.push(format!("{name} from {} {unit}", a.normalize())),
                (None, Some(b)) => parts.push(format!("{name} below {} {unit}", b.normalize())),
                (None, None) => {}
            };
        range("energy", "kWh", self.min_kwh, self.max_kwh);
        range("power", "kW", self.min_power, self.max_power);
        range("current", "A", self.min_current, self.max_current);
        range(
            "duration",
            "s",
            self.min_duration.map(Decimal::from),
            self.max_duration.map(Decimal::from),
        );
        parts.join(", ")
    }
}

/// `min <= value < max`; an unknown value satisfies no bound (a restriction that cannot be checked
/// does not apply).
fn in_range(value: Option<Decimal>, min: Option<Decimal>, max: Option<Decimal>) -> bool {
    if min.is_none() && max.is_none() {
        return true;
    }
    let Some(v) = value else { return false };
    min.is_none_or(|m| v >= m) && max.is_none_or(|m| v < m)
}

/// A power or current restriction over a period whose value ranged over `(lowest, highest)`: the
/// element is valid "from" `min` and "up to" `max` (mod_tariffs, TariffRestrictions), so the whole
/// period must lie in `[min, max)`: its lowest value at least `min`, its highest below `max`.
fn span_in_range(
    value: Option<(Decimal, Decimal)>,
    min: Option<Decimal>,
    max: Option<Decimal>,
) -> bool {
    if min.is_none() && max.is_none() {
        return true;
    }
    let Some((low, high)) = value else {
        return false;
    };
    min.is_none_or(|m| low >= m) && max.is_none_or(|m| high < m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DayOfWeek, TimeOfDay};
    use crate::periods::PeriodState;
    use chrono::{NaiveDate, TimeZone, Utc};
    use rust_decimal_macros::dec;

    fn at(date: (i32, u32, u32), h: u32, m: u32) -> PeriodFacts {
        let local = NaiveDate::from_ymd_opt(date.0, date.1, date.2)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap();
        let t = Utc.from_utc_datetime(&local);
        PeriodFacts {
            start: t,
            end: t,
            local_start: local,
            state: PeriodState::Charging,
            energy_before_wh: Decimal::ZERO,
            energy_wh: Decimal::ZERO,
            elapsed_s: Decimal::ZERO,
            time_s: Decimal::ZERO,
            parking_s: Decimal::ZERO,
            reservation_s: Decimal::ZERO,
            reservation: false,
            power_kw: Some((dec!(11), dec!(11))),
            current_a: None,
        }
    }

    fn times(s: Option<(u16, u16)>, e: Option<(u16, u16)>) -> TariffRestrictions {
        TariffRestrictions {
            start_time: s.and_then(|(h, m)| TimeOfDay::new(h, m)),
            end_time: e.and_then(|(h, m)| TimeOfDay::new(h, m)),
            ..Default::default()
        }
    }

    const MON: (i32, u32, u32) = (2024, 3, 4);

    impl TariffRestrictions {
        fn hold_for_charging(&self, p: &PeriodFacts) -> bool {
            self.hold_for(p, false)
        }
    }

    #[test]
    fn time_window_is_start_inclusive_end_exclusive() {
        let r = times(Some((17, 0)), Some((23, 0)));
        assert!(!r.hold_for_charging(&at(MON, 16, 59)));
        assert!(r.hold_for_charging(&at(MON, 17, 0)));
        assert!(r.hold_for_charging(&at(MON, 22, 59)));
        assert!(!r.hold_for_charging(&at(MON, 23, 0)));
    }

    #[test]
    fn time_window_wraps_past_midnight() {
        let r = times(Some((22, 0)), Some((6, 0)));
        assert!(r.hold_for_charging(&at(MON, 23, 30)));
        assert!(r.hold_for_charging(&at(MON, 0, 0)));
        assert!(r.hold_for_charging(&at(MON, 5, 59)));
        assert!(!r.hold_for_charging(&at(MON, 6, 0)));
        assert!(!r.hold_for_charging(&at(MON, 12, 0)));
    }

    #[test]
    fn end_time_midnight_means_end_of_day() {
        let r = times(Some((18, 0)), Some((0, 0)));
        assert!(r.hold_for_charging(&at(MON, 23, 59)));
        assert!(!r.hold_for_charging(&at(MON, 0, 0)));
        assert!(!r.hold_for_charging(&at(MON, 17, 59)));
        // Without a start time, "until the end of the day" holds all day (ocpi-tariffs never matches).
        let r = times(None, Some((0, 0)));
        assert!(r.hold_for_charging(&at(MON, 0, 0)));
        assert!(r.hold_for_charging(&at(MON, 23, 59)));
    }

    #[test]
    fn dates_are_start_inclusive_end_exclusive() {
        let r = TariffRestrictions {
            start_date: NaiveDate::from_ymd_opt(2024, 3, 4),
            end_date: NaiveDate::from_ymd_opt(2024, 3, 6),
            ..Default::default()
        };
        assert!(!r.hold_for_charging(&at((2024, 3, 3), 23, 59)));
        assert!(r.hold_for_charging(&at((2024, 3, 4), 0, 0)));
        assert!(r.hold_for_charging(&at((2024, 3, 5), 23, 59)));
        assert!(!r.hold_for_charging(&at((2024, 3, 6), 0, 0)));
    }

    #[test]
    fn day_of_week_uses_the_local_weekday() {
        let r = TariffRestrictions {
            day_of_week: vec![DayOfWeek::Saturday, DayOfWeek::Sunday],
            ..Default::default()
        };
        assert!(!r.hold_for_charging(&at(MON, 12, 0)));
        assert!(r.hold_for_charging(&at((2024, 3, 9), 12, 0)));
        assert!(r.hold_for_charging(&at((2024, 3, 10), 23, 59)));
    }

    #[test]
    fn energy_bounds_are_min_inclusive_max_exclusive() {
        let r = TariffRestrictions {
            min_kwh: Some(dec!(1)),
            max_kwh: Some(dec!(10)),
            ..Default::default()
        };
        let with = |wh: Decimal| PeriodFacts {
            energy_before_wh: wh,
            ..at(MON, 12, 0)
        };
        assert!(!r.hold_for_charging(&with(dec!(999.9))));
        assert!(r.hold_for_charging(&with(dec!(1000))));
        assert!(r.hold_for_charging(&with(dec!(9999.99))));
        assert!(!r.hold_for_charging(&with(dec!(10000))));
    }

    #[test]
    fn power_and_current_bounds() {
        let r = TariffRestrictions {
            min_power: Some(dec!(11)),
            max_power: Some(dec!(22)),
            ..Default::default()
        };
        let with = |kw: Option<Decimal>| PeriodFacts {
            power_kw: kw.map(|k| (k, k)),
            ..at(MON, 12, 0)
        };
        assert!(r.hold_for_charging(&with(Some(dec!(11)))));
        assert!(!r.hold_for_charging(&with(Some(dec!(22)))));
        assert!(!r.hold_for_charging(&with(Some(dec!(10.9)))));
        assert!(!r.hold_for_charging(&with(None)));
        // Joule does not know the current: a current restriction cannot be shown to hold.
        let r = TariffRestrictions {
            max_current: Some(dec!(32)),
            ..Default::default()
        };
        assert!(!r.hold_for_charging(&at(MON, 12, 0)));
        let with_current = PeriodFacts {
            current_a: Some((dec!(16), dec!(16))),
            ..at(MON, 12, 0)
        };
        assert!(r.hold_for_charging(&with_current));
    }

    #[test]
    fn duration_bounds_are_min_inclusive_max_exclusive() {
        let r = TariffRestrictions {
            min_duration: Some(1800),
            max_duration: Some(3600),
            ..Default::default()
        };
        let with = |s: Decimal| PeriodFacts {
            elapsed_s: s,
            ..at(MON, 12, 0)
        };
        assert!(!r.hold_for_charging(&with(dec!(1799.999))));
        assert!(r.hold_for_charging(&with(dec!(1800))));
        assert!(!r.hold_for_charging(&with(dec!(3600))));
    }

    #[test]
    fn reservation_elements_price_reservations_only() {
        let r = TariffRestrictions {
            reservation: Some(ReservationRestriction::Reservation),
            ..Default::default()
        };
        assert!(!r.hold_for_charging(&at(MON, 12, 0)));
        let reserved = PeriodFacts {
            reservation: true,
            ..at(MON, 12, 0)
        };
        assert!(r.hold_for(&reserved, false));
        let expires = TariffRestrictions {
            reservation: Some(ReservationRestriction::ReservationExpires),
            ..Default::default()
        };
        assert!(!expires.hold_for(&reserved, false));
        assert!(expires.hold_for(&reserved, true));
        // An unrestricted element does not price a reservation.
        assert!(!TariffRestrictions::default().hold_for(&reserved, true));
    }

    #[test]
    fn power_ranges_must_lie_within_the_bounds() {
        let r = TariffRestrictions {
            min_power: Some(dec!(11)),
            max_power: Some(dec!(22)),
            ..Default::default()
        };
        let with = |low: Decimal, high: Decimal| PeriodFacts {
            power_kw: Some((low, high)),
            ..at(MON, 12, 0)
        };
        assert!(r.hold_for_charging(&with(dec!(11), dec!(21.9))));
        // Reaching max_power somewhere in the period: not valid "up to" it.
        assert!(!r.hold_for_charging(&with(dec!(12), dec!(22))));
        assert!(!r.hold_for_charging(&with(dec!(10), dec!(12))));
    }

    #[test]
    fn describes_itself_briefly() {
        let r = TariffRestrictions {
            day_of_week: vec![DayOfWeek::Monday, DayOfWeek::Tuesday],
            min_kwh: Some(dec!(20.0)),
            ..times(Some((17, 0)), Some((23, 0)))
        };
        assert_eq!(r.describe(), "17:00-23:00, Mon Tue, energy from 20 kWh");
    }
}
