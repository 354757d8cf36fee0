//! Pricing rules beyond the OCPI examples: local time and DST, thresholds, step sizes, VAT, price
//! limits, and edge cases of the input. Every expected amount is worked out by hand in the comment.

use chrono::{DateTime, TimeZone, Utc};
use joule_domain::Energy;
use joule_tariff::{
    Cdr, Customer, Dimension, Discount, DiscountScope, DiscountValue, PriceBound, PricedSession,
    PricingError, RunningSession, SessionUsage, Tariff, Tz, apply_discounts, price_cdr,
    price_session, running_estimate,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn usage(tz: &str, start: DateTime<Utc>, end: DateTime<Utc>, kwh: Decimal) -> SessionUsage {
    SessionUsage {
        start,
        end,
        energy: Energy::from_kwh(kwh),
        time_zone: tz.parse().unwrap(),
        samples: vec![],
        charging_end: None,
    }
}

fn price(tariff: &str, usage: &SessionUsage) -> PricedSession {
    price_session(&Tariff::parse(tariff).expect("tariff parses"), usage).expect("session prices")
}

fn element_volumes(p: &PricedSession, d: Dimension) -> Vec<(usize, Decimal)> {
    p.lines
        .iter()
        .filter(|l| l.dimension == d)
        .map(|l| (l.element, l.volume))
        .collect()
}

const NIGHT_DAY_ENERGY: &str = r#"{ "id": "n", "currency": "EUR", "elements": [
  { "price_components": [{ "type": "ENERGY", "price": 0.10, "step_size": 0 }],
    "restrictions": { "start_time": "22:00", "end_time": "06:00" } },
  { "price_components": [{ "type": "ENERGY", "price": 0.30, "step_size": 0 }] } ] }"#;

#[test]
fn time_of_day_is_local_and_wraps_past_midnight() {
    // Berlin in winter is UTC+1: 21:00-23:00 local. 5 kWh before 22:00 at 0.30, 5 kWh after at 0.10.
    let u = usage(
        "Europe/Berlin",
        utc(2024, 1, 15, 20, 0),
        utc(2024, 1, 15, 22, 0),
        dec!(10),
    );
    let p = price(NIGHT_DAY_ENERGY, &u);
    assert_eq!(
        element_volumes(&p, Dimension::Energy),
        vec![(1, dec!(5)), (0, dec!(5))]
    );
    assert_eq!(p.total_excl_vat, dec!(2));

    // 05:00-07:00 local on the next morning: the night window ends at 06:00.
    let u = usage(
        "Europe/Berlin",
        utc(2024, 1, 16, 4, 0),
        utc(2024, 1, 16, 6, 0),
        dec!(10),
    );
    assert_eq!(price(NIGHT_DAY_ENERGY, &u).total_excl_vat, dec!(2));
}

#[test]
fn end_time_midnight_closes_the_window_at_the_end_of_the_day() {
    // 18:00-00:00 at 1.00/kWh, free otherwise. 23:00-01:00 UTC at constant power, 2 kWh: 1.00.
    let tariff = r#"{ "id": "e", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "ENERGY", "price": 1, "step_size": 0 }],
        "restrictions": { "start_time": "18:00", "end_time": "00:00" } },
      { "price_components": [{ "type": "ENERGY", "price": 0, "step_size": 0 }] } ] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 23, 0),
        utc(2024, 1, 16, 1, 0),
        dec!(2),
    );
    let p = price(tariff, &u);
    assert_eq!(
        element_volumes(&p, Dimension::Energy),
        vec![(0, dec!(1)), (1, dec!(1))]
    );
    assert_eq!(p.total_excl_vat, dec!(1));
}

const PEAK_0230_0500: &str = r#"{ "id": "dst", "currency": "EUR", "elements": [
  { "price_components": [{ "type": "TIME", "price": 10, "step_size": 0 }],
    "restrictions": { "start_time": "02:30", "end_time": "05:00" } },
  { "price_components": [{ "type": "TIME", "price": 1, "step_size": 0 }] } ] }"#;

#[test]
fn dst_fall_back_runs_the_repeated_hour_twice() {
    // Amsterdam, 27 Oct 2024: 03:00 CEST becomes 02:00 CET at 01:00 UTC. Session 23:00-04:00 UTC
    // (01:00 CEST - 05:00 CET). 02:30 local occurs at 00:30 and 01:30 UTC; at 01:00 UTC the clock
    // falls back to 02:00, leaving the window until 01:30. Peak: 00:30-01:00 + 01:30-04:00 = 3 h at 10;
    // off-peak: 23:00-00:30 + 01:00-01:30 = 2 h at 1. Total 32.
    let u = usage(
        "Europe/Amsterdam",
        utc(2024, 10, 26, 23, 0),
        utc(2024, 10, 27, 4, 0),
        dec!(20),
    );
    let p = price(PEAK_0230_0500, &u);
    assert_eq!(
        element_volumes(&p, Dimension::Time),
        vec![(1, dec!(2)), (0, dec!(3))]
    );
    assert_eq!(p.total_excl_vat, dec!(32));
    let starts: Vec<_> = p
        .periods
        .iter()
        .map(|x| (x.start, x.time.unwrap().element))
        .collect();
    assert_eq!(
        starts,
        vec![
            (utc(2024, 10, 26, 23, 0), 1),
            (utc(2024, 10, 27, 0, 30), 0),
            (utc(2024, 10, 27, 1, 0), 1),
            (utc(2024, 10, 27, 1, 30), 0)
        ]
    );
}

#[test]
fn dst_spring_forward_skips_into_the_window() {
    // Amsterdam, 31 Mar 2024: 02:00 CET becomes 03:00 CEST at 01:00 UTC; 02:30 never happens. Session
    // 00:00-03:00 UTC (01:00 CET - 05:00 CEST): off-peak until the jump (1 h at 1), then 03:00-05:00
    // local is peak (2 h at 10). Total 21.
    let u = usage(
        "Europe/Amsterdam",
        utc(2024, 3, 31, 0, 0),
        utc(2024, 3, 31, 3, 0),
        dec!(20),
    );
    let p = price(PEAK_0230_0500, &u);
    assert_eq!(
        element_volumes(&p, Dimension::Time),
        vec![(1, dec!(1)), (0, dec!(2))]
    );
    assert_eq!(p.total_excl_vat, dec!(21));
}

#[test]
fn day_of_week_and_dates_use_the_local_calendar() {
    // New York, Friday 8 Mar 2024 23:00 EST to Saturday 01:00 (04:00-06:00 UTC, a Saturday in UTC).
    // Weekend energy 0.50, otherwise 0.20; 20 kWh evenly: 10 at 0.20 + 10 at 0.50 = 7.
    let tariff = r#"{ "id": "w", "currency": "USD", "elements": [
      { "price_components": [{ "type": "ENERGY", "price": 0.50, "step_size": 0 }],
        "restrictions": { "day_of_week": ["SATURDAY", "SUNDAY"] } },
      { "price_components": [{ "type": "ENERGY", "price": 0.20, "step_size": 0 }] } ] }"#;
    let u = usage(
        "America/New_York",
        utc(2024, 3, 9, 4, 0),
        utc(2024, 3, 9, 6, 0),
        dec!(20),
    );
    assert_eq!(price(tariff, &u).total_excl_vat, dec!(7));

    // A promotion valid on local 9 March only (end_date exclusive): same split.
    let tariff = r#"{ "id": "d", "currency": "USD", "elements": [
      { "price_components": [{ "type": "ENERGY", "price": 0.50, "step_size": 0 }],
        "restrictions": { "start_date": "2024-03-09", "end_date": "2024-03-10" } },
      { "price_components": [{ "type": "ENERGY", "price": 0.20, "step_size": 0 }] } ] }"#;
    assert_eq!(price(tariff, &u).total_excl_vat, dec!(7));
}

#[test]
fn kwh_thresholds_split_where_the_energy_crosses_them() {
    // First kWh free, then 0.20/kWh: 20 kWh costs 19 * 0.20 = 3.80.
    let tariff = r#"{ "id": "k", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "ENERGY", "price": 0.0, "step_size": 1 }], "restrictions": { "max_kwh": 1.0 } },
      { "price_components": [{ "type": "ENERGY", "price": 0.2, "step_size": 1 }], "restrictions": { "min_kwh": 1.0 } } ] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 12, 0),
        dec!(20),
    );
    let p = price(tariff, &u);
    assert_eq!(
        element_volumes(&p, Dimension::Energy),
        vec![(0, dec!(1)), (1, dec!(19))]
    );
    assert_eq!(p.total_excl_vat, dec!(3.8));
    // The cut is where 1 kWh was reached: 6 minutes into 2 hours at constant power.
    assert_eq!(p.periods[1].start, utc(2024, 1, 15, 10, 6));
}

#[test]
fn energy_step_rounds_the_session_total_not_each_part() {
    // 0.20 before 17:00 and 0.27 after, both step 500 Wh. 4.3 kWh before and 1.1 after: 5.4 is
    // rounded to 5.5, the extra 0.1 billed after 17:00: 0.86 + 1.2 * 0.27 = 1.184.
    let tariff = r#"{ "id": "s", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "ENERGY", "price": 0.20, "step_size": 500 }], "restrictions": { "end_time": "17:00" } },
      { "price_components": [{ "type": "ENERGY", "price": 0.27, "step_size": 500 }] } ] }"#;
    let wh = |v: i64| Energy::from_wh(Decimal::from(v));
    let u = SessionUsage {
        samples: vec![
            (utc(2024, 1, 15, 16, 0), wh(0)),
            (utc(2024, 1, 15, 17, 0), wh(4300)),
            (utc(2024, 1, 15, 17, 30), wh(5400)),
        ],
        ..usage(
            "UTC",
            utc(2024, 1, 15, 16, 0),
            utc(2024, 1, 15, 17, 30),
            dec!(5.4),
        )
    };
    let p = price(tariff, &u);
    assert_eq!(
        element_volumes(&p, Dimension::Energy),
        vec![(0, dec!(4.3)), (1, dec!(1.2))]
    );
    assert_eq!(p.total_excl_vat, dec!(1.184));
    let energy = &p.dimensions[0];
    assert_eq!(
        (energy.consumed, energy.billed, energy.step_size),
        (dec!(5.4), dec!(5.5), Some(500))
    );
}

#[test]
fn time_step_rounds_the_session_total() {
    // 5/h before 17:00, 7/h after, both step 600 s. 6 min + 22 min = 28 min, billed 30: 6 min at 5/h
    // (0.50) and 24 min at 7/h (2.80) = 3.30.
    let tariff = r#"{ "id": "t", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "TIME", "price": 5, "step_size": 600 }], "restrictions": { "end_time": "17:00" } },
      { "price_components": [{ "type": "TIME", "price": 7, "step_size": 600 }] } ] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 16, 54),
        utc(2024, 1, 15, 17, 22),
        dec!(3),
    );
    assert_eq!(price(tariff, &u).total_excl_vat, dec!(3.3));
}

fn charging_then_parking(parking_until_minute: u32, parking_price: Option<u32>) -> PricedSession {
    // 1/h charging, step 300 s; 21 minutes of charging from 10:00; parking at `parking_price`/h with
    // step 300 s, or no PARKING_TIME component (free parking).
    let parking = parking_price
        .map(|p| format!(r#", {{ "type": "PARKING_TIME", "price": {p}, "step_size": 300 }}"#))
        .unwrap_or_default();
    let tariff = format!(
        r#"{{ "id": "p", "currency": "EUR", "elements": [
      {{ "price_components": [{{ "type": "TIME", "price": 1, "step_size": 300 }}{parking}] }} ] }}"#
    );
    let u = SessionUsage {
        charging_end: Some(utc(2024, 1, 15, 10, 21)),
        ..usage(
            "UTC",
            utc(2024, 1, 15, 10, 0),
            utc(2024, 1, 15, 10, parking_until_minute),
            dec!(3),
        )
    };
    price(&tariff, &u)
}

#[test]
fn charging_followed_by_billed_parking_rounds_only_the_parking() {
    // mod_cdrs, step_size: "If a driver charges 21 minutes, and keeps his EV connected while it is
    // full for another 16 minutes, then the step_size rounds the parking duration up to 20 minutes,
    // making it a total of 41 minutes. Note that the charging duration is not rounded up".
    // 21 min at 1/h + 20 min at 2/h.
    let p = charging_then_parking(37, Some(2));
    assert_eq!(
        p.total_excl_vat,
        (dec!(1260) / dec!(3600) + dec!(2) * dec!(1200) / dec!(3600)).normalize()
    );
    assert_eq!(
        element_volumes(&p, Dimension::Time),
        vec![(0, dec!(1260) / dec!(3600))]
    );
    assert_eq!(
        element_volumes(&p, Dimension::ParkingTime),
        vec![(0, dec!(1200) / dec!(3600))]
    );
}

#[test]
fn charging_that_ends_the_billed_time_is_rounded() {
    // No parking: 21 min charging billed 25.
    let alone = charging_then_parking(21, Some(2));
    assert_eq!(alone.total_excl_vat, (dec!(1500) / dec!(3600)).normalize());
    // Free parking (no PARKING_TIME component) is not rounded into a charge; the charging time is
    // the last billed time, so it is rounded.
    let free = charging_then_parking(37, None);
    assert_eq!(free.total_excl_vat, (dec!(1500) / dec!(3600)).normalize());
    assert!(element_volumes(&free, Dimension::ParkingTime).is_empty());
}

#[test]
fn vat_is_per_component_and_missing_vat_is_zero_and_noted() {
    // FLAT 1.00 at 20 %, ENERGY 10 kWh at 0.30 with 9 %, TIME 1 h at 2.00 without VAT:
    // excl 1 + 3 + 2 = 6; incl 1.2 + 3.27 + 2 = 6.47.
    let tariff = r#"{ "id": "v", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "FLAT", "price": 1, "vat": 20, "step_size": 0 },
                             { "type": "ENERGY", "price": 0.30, "vat": 9, "step_size": 0 },
                             { "type": "TIME", "price": 2, "step_size": 0 }] } ] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 11, 0),
        dec!(10),
    );
    let p = price(tariff, &u);
    assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(6), dec!(6.47)));
    let time = p
        .lines
        .iter()
        .find(|l| l.dimension == Dimension::Time)
        .unwrap();
    assert_eq!(time.vat_percent, None);
    assert_eq!(
        p.notes,
        vec!["elements[0].price_components[2] (TIME) states no VAT; priced at 0 %".to_owned()]
    );
}

#[test]
fn price_limits_bound_excl_and_incl_independently() {
    // 30 kWh at 0.50 with 20 % VAT = 15 / 18. max_price 10 excl / 13 incl: both bounds apply.
    let tariff = r#"{ "id": "m", "currency": "EUR", "max_price": { "excl_vat": 10, "incl_vat": 13 },
      "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.5, "vat": 20, "step_size": 0 }] }] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 13, 0),
        dec!(30),
    );
    let p = price(tariff, &u);
    assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(10), dec!(13)));
    // 20 kWh = 10 / 12: excl is at the bound, incl is under its own bound and stays.
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 13, 0),
        dec!(20),
    );
    let p = price(tariff, &u);
    assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(10), dec!(12)));
    assert!(p.price_limit.is_none());
    // 24 kWh = 12 / 14.4: excl capped to 10, incl capped to 13.
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 13, 0),
        dec!(24),
    );
    let p = price(tariff, &u);
    assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(10), dec!(13)));
    let limit = p.price_limit.unwrap();
    assert_eq!(
        (limit.excl_vat_bound, limit.incl_vat_bound),
        (Some(PriceBound::MaxPrice), Some(PriceBound::MaxPrice))
    );
    assert_eq!(
        (limit.adjustment_excl_vat, limit.adjustment_incl_vat),
        (dec!(-2), dec!(-1.4))
    );
}

#[test]
fn a_bound_without_incl_vat_keeps_the_sessions_vat_rate() {
    // 30 kWh at 0.50 with 20 % = 15 / 18; max 10 excl only: incl becomes 18 * 10 / 15 = 12.
    let tariff = r#"{ "id": "m", "currency": "EUR", "max_price": { "excl_vat": 10 },
      "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.5, "vat": 20, "step_size": 0 }] }] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 13, 0),
        dec!(30),
    );
    let p = price(tariff, &u);
    assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(10), dec!(12)));
    // A free session under a minimum of 1 excl: no VAT rate to go by, so 1 / 1.
    let tariff = r#"{ "id": "f", "currency": "EUR", "min_price": { "excl_vat": 1 },
      "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0, "vat": 20, "step_size": 0 }] }] }"#;
    let p = price(tariff, &u);
    assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(1), dec!(1)));
}

#[test]
fn flat_is_billed_once_from_the_first_matching_element() {
    // A weekend start fee of 2 listed first, a general one of 1 after it. Monday: 1, once.
    let tariff = r#"{ "id": "f", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "FLAT", "price": 2, "step_size": 0 }], "restrictions": { "day_of_week": ["SATURDAY"] } },
      { "price_components": [{ "type": "FLAT", "price": 1, "step_size": 0 }] } ] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 22, 0),
        utc(2024, 1, 16, 2, 0),
        dec!(10),
    );
    let p = price(tariff, &u);
    assert_eq!(element_volumes(&p, Dimension::Flat), vec![(1, dec!(1))]);
    assert_eq!(p.total_excl_vat, dec!(1));
    // Saturday: the first element.
    let u = usage(
        "UTC",
        utc(2024, 1, 20, 10, 0),
        utc(2024, 1, 20, 11, 0),
        dec!(10),
    );
    assert_eq!(price(tariff, &u).total_excl_vat, dec!(2));
}

#[test]
fn reservation_and_current_restricted_elements_do_not_price_charging() {
    let tariff = r#"{ "id": "r", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "TIME", "price": 5, "step_size": 0 }], "restrictions": { "reservation": "RESERVATION" } },
      { "price_components": [{ "type": "TIME", "price": 4, "step_size": 0 }], "restrictions": { "max_current": 32 } },
      { "price_components": [{ "type": "TIME", "price": 1, "step_size": 0 }] } ] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 12, 0),
        dec!(10),
    );
    let p = price(tariff, &u);
    assert_eq!(p.total_excl_vat, dec!(2));
    assert!(
        p.notes
            .iter()
            .any(|n| n.starts_with("elements[1] is restricted by current"))
    );
}

#[test]
fn no_matching_element_means_the_dimension_is_free() {
    let tariff = r#"{ "id": "x", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "ENERGY", "price": 1, "step_size": 0 }], "restrictions": { "min_kwh": 100 } } ] }"#;
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 12, 0),
        dec!(10),
    );
    let p = price(tariff, &u);
    assert!(p.lines.is_empty());
    assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(0), dec!(0)));
}

#[test]
fn min_duration_switches_elements_during_the_session() {
    // Parking free for the first hour of the session, then 2/h: session 10:00-12:30, charging until
    // 10:30. Parking 10:30-11:00 free, 11:00-12:30 = 1.5 h at 2 = 3.
    let tariff = r#"{ "id": "d", "currency": "EUR", "elements": [
      { "price_components": [{ "type": "PARKING_TIME", "price": 0, "step_size": 60 }], "restrictions": { "max_duration": 3600 } },
      { "price_components": [{ "type": "PARKING_TIME", "price": 2, "step_size": 60 }], "restrictions": { "min_duration": 3600 } } ] }"#;
    let u = SessionUsage {
        charging_end: Some(utc(2024, 1, 15, 10, 30)),
        ..usage(
            "UTC",
            utc(2024, 1, 15, 10, 0),
            utc(2024, 1, 15, 12, 30),
            dec!(10),
        )
    };
    let p = price(tariff, &u);
    assert_eq!(
        element_volumes(&p, Dimension::ParkingTime),
        vec![(0, dec!(0.5)), (1, dec!(1.5))]
    );
    assert_eq!(p.total_excl_vat, dec!(3));
}

#[test]
fn an_instantaneous_session_bills_its_energy_and_flat_fee() {
    let tariff = r#"{ "id": "z", "currency": "EUR", "elements": [{ "price_components": [
      { "type": "FLAT", "price": 1, "step_size": 0 }, { "type": "ENERGY", "price": 0.3, "step_size": 0 },
      { "type": "TIME", "price": 2, "step_size": 60 }] }] }"#;
    let t = utc(2024, 1, 15, 10, 0);
    let p = price(tariff, &usage("UTC", t, t, dec!(1)));
    assert_eq!(p.total_excl_vat, dec!(1.3));
}

#[test]
fn bad_usage_is_refused() {
    let tariff = Tariff::parse(NIGHT_DAY_ENERGY).unwrap();
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 12, 0),
        utc(2024, 1, 15, 10, 0),
        dec!(1),
    );
    assert!(matches!(
        price_session(&tariff, &u),
        Err(PricingError::EndBeforeStart { .. })
    ));
    let u = usage(
        "UTC",
        utc(2024, 1, 15, 10, 0),
        utc(2024, 1, 15, 12, 0),
        dec!(-1),
    );
    assert!(matches!(
        price_session(&tariff, &u),
        Err(PricingError::NegativeEnergy(_))
    ));
}

#[test]
fn the_priced_session_round_trips_through_json() {
    let u = usage(
        "Europe/Berlin",
        utc(2024, 1, 15, 20, 0),
        utc(2024, 1, 15, 22, 0),
        dec!(10),
    );
    let p = price(NIGHT_DAY_ENERGY, &u);
    let back: PricedSession = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    assert_eq!(p.time_zone, Tz::Europe__Berlin.name());
}

#[test]
fn energy_too_large_to_price_is_an_error_not_a_panic() {
    let tariff = Tariff::parse(
        r#"{ "id": "t", "currency": "EUR", "elements": [
            { "price_components": [{ "type": "ENERGY", "price": 5, "vat": 20, "step_size": 1 }] } ] }"#,
    )
    .unwrap();
    let overflow = |usage: &SessionUsage| match price_session(&tariff, usage) {
        Err(PricingError::Overflow { what }) => what,
        other => panic!("expected an overflow, got {other:?}"),
    };
    let start = utc(2024, 3, 4, 10, 0);
    // A quarter of what a Decimal holds, in Wh.
    let huge_kwh = Decimal::MAX / Decimal::from(4000);
    // Shared out over two hours, the energy does not fit the curve's arithmetic.
    let long = usage("Europe/Berlin", start, utc(2024, 3, 4, 12, 0), huge_kwh);
    assert_eq!(overflow(&long), "the session energy over its duration");
    // An instant: the energy is one period, but its price (in Wh times the price) does not fit.
    let instant = usage("Europe/Berlin", start, start, huge_kwh);
    assert_eq!(overflow(&instant), "the energy");
    assert!(
        PricingError::Overflow {
            what: "the energy".into()
        }
        .to_string()
        .starts_with("the energy is too large to compute")
    );
    // A running session reports the same.
    let running = RunningSession {
        start,
        samples: vec![],
        energy_so_far: Energy::from_kwh(huge_kwh),
        charging_end: None,
        time_zone: Tz::UTC,
    };
    assert!(matches!(
        running_estimate(&tariff, &running, utc(2024, 3, 4, 11, 0)),
        Err(PricingError::Overflow { .. })
    ));
}

#[test]
fn a_cdr_whose_tiny_charging_time_overflows_the_average_power_is_an_error() {
    let tariff = Tariff::parse(
        r#"{ "id": "t", "currency": "EUR", "elements": [
            { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 }] } ] }"#,
    )
    .unwrap();
    let cdr = Cdr::parse(
        r#"{ "id": "c", "currency": "EUR", "start_date_time": "2024-03-04T10:00:00Z",
             "end_date_time": "2024-03-04T12:00:00Z", "charging_periods": [
               { "start_date_time": "2024-03-04T10:00:00Z", "dimensions": [
                 { "type": "ENERGY", "volume": 1000 },
                 { "type": "TIME", "volume": 0.0000000000000000000000000001 } ] } ] }"#,
    )
    .unwrap();
    match price_cdr(&tariff, &cdr, Tz::UTC) {
        Err(PricingError::Overflow { what }) => {
            assert_eq!(what, "the average power of charging_periods[0]")
        }
        other => panic!("expected an overflow, got {other:?}"),
    }
}

#[test]
fn discounts_on_the_largest_total_do_not_overflow() {
    let start = utc(2024, 3, 4, 10, 0);
    let mut p = price(
        r#"{ "id": "t", "currency": "EUR", "elements": [
            { "price_components": [{ "type": "FLAT", "price": 1, "vat": 20, "step_size": 0 }] } ] }"#,
        &usage("UTC", start, utc(2024, 3, 4, 11, 0), Decimal::ONE),
    );
    (p.total_excl_vat, p.total_incl_vat) = (Decimal::MAX, Decimal::MAX);
    let half = Discount {
        id: "d".into(),
        description: "Half".into(),
        scope: DiscountScope::All,
        value: DiscountValue::Percent(Decimal::from(50)),
        valid_from: None,
        valid_until: None,
    };
    apply_discounts(&mut p, &[half], &Customer::default());
    let rest = Decimal::MAX - Decimal::MAX / Decimal::from(2);
    assert!(
        (p.total_excl_vat - rest).abs() <= Decimal::ONE,
        "{}",
        p.total_excl_vat
    );
    assert!(
        (p.total_incl_vat - rest).abs() <= Decimal::ONE,
        "{}",
        p.total_incl_vat
    );
}
