//! Invariants of the engine over generated tariffs and sessions.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use joule_domain::Energy;
use joule_tariff::{Cdr, PricedSession, SessionUsage, Tariff, Tz, price_cdr, price_session};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn cents(c: u32) -> Decimal {
    Decimal::new(i64::from(c), 2)
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 30, 0, 0, 0).unwrap()
}

fn tariff(elements: Vec<Value>, extra: Value) -> Tariff {
    let mut v = json!({ "id": "prop", "currency": "EUR", "elements": elements });
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        obj.extend(extra.clone());
    }
    Tariff::from_value(&v).expect("generated tariff is valid")
}

fn zone() -> impl Strategy<Value = Tz> {
    prop_oneof![
        Just(Tz::UTC),
        Just(Tz::Europe__Amsterdam),
        Just(Tz::America__New_York),
        Just(Tz::Asia__Kolkata)
    ]
}

fn hhmm() -> impl Strategy<Value = String> {
    (
        0u32..24,
        prop_oneof![Just(0u32), Just(15), Just(30), Just(45)],
    )
        .prop_map(|(h, m)| format!("{h:02}:{m:02}"))
}

/// An element with one component of `dimension` and, maybe, a time-of-day window.
fn element(dimension: &'static str, step_max: u32) -> impl Strategy<Value = Value> {
    (
        0u32..200,
        0u32..=step_max,
        proptest::option::of(0u32..25),
        proptest::option::of((hhmm(), hhmm())),
    )
        .prop_map(move |(price, step, vat, window)| {
            let mut component =
                json!({ "type": dimension, "price": cents(price).to_string(), "step_size": step });
            if let Some(vat) = vat {
                component["vat"] = json!(vat);
            }
            let mut e = json!({ "price_components": [component] });
            if let Some((s, t)) = window {
                e["restrictions"] = json!({ "start_time": s, "end_time": t });
            }
            e
        })
}

/// A session starting somewhere in the two days around a DST change, up to ten hours long.
fn session() -> impl Strategy<Value = SessionUsage> {
    (
        0i64..48 * 60,
        0i64..600 * 60,
        0u32..100_000,
        zone(),
        proptest::option::of(0u32..=100),
    )
        .prop_map(|(start_min, secs, wh, tz, charging_pct)| {
            let start = base() + TimeDelta::minutes(start_min);
            let end = start + TimeDelta::seconds(secs);
            SessionUsage {
                start,
                end,
                energy: Energy::from_wh(Decimal::new(i64::from(wh), 1)),
                time_zone: tz,
                samples: vec![],
                charging_end: charging_pct
                    .map(|p| start + TimeDelta::seconds(secs * i64::from(p) / 100)),
            }
        })
}

fn priced(t: &Tariff, u: &SessionUsage) -> PricedSession {
    price_session(t, u).expect("prices")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn cost_is_monotonic_in_energy_for_a_per_kwh_tariff(
        price in 0u32..200, vat in 0u32..30, step in 0u32..2000,
        cap in proptest::option::of(100u32..10_000),
        u in session(), more in 0u32..100_000,
    ) {
        let extra = cap.map_or(json!({}), |c| json!({ "max_price": { "excl_vat": cents(c).to_string() } }));
        let t = tariff(
            vec![json!({ "price_components": [{ "type": "ENERGY", "price": cents(price).to_string(), "vat": vat, "step_size": step }] })],
            extra,
        );
        let bigger = SessionUsage { energy: u.energy.checked_add(Energy::from_wh(Decimal::new(i64::from(more), 1))).unwrap(), ..u.clone() };
        let (a, b) = (priced(&t, &u), priced(&t, &bigger));
        prop_assert!(a.total_excl_vat <= b.total_excl_vat, "{} > {}", a.total_excl_vat, b.total_excl_vat);
        prop_assert!(a.total_incl_vat <= b.total_incl_vat);
    }

    #[test]
    fn cost_is_monotonic_in_energy_for_time_of_day_energy_prices(
        elements in proptest::collection::vec(element("ENERGY", 0), 1..4),
        fallback in 0u32..200, u in session(), more in 0u32..100_000,
    ) {
        let mut elements = elements;
        elements.push(json!({ "price_components": [{ "type": "ENERGY", "price": cents(fallback).to_string(), "step_size": 0 }] }));
        let t = tariff(elements, json!({}));
        let bigger = SessionUsage { energy: u.energy.checked_add(Energy::from_wh(Decimal::new(i64::from(more), 1))).unwrap(), ..u.clone() };
        prop_assert!(priced(&t, &u).total_excl_vat <= priced(&t, &bigger).total_excl_vat);
    }

    #[test]
    fn step_rounding_never_lowers_a_volume(
        energy in proptest::collection::vec(element("ENERGY", 2000), 1..3),
        time in proptest::collection::vec(element("TIME", 3600), 0..3),
        parking in proptest::collection::vec(element("PARKING_TIME", 3600), 0..3),
        u in session(),
    ) {
        let t = tariff([energy, time, parking].concat(), json!({}));
        let p = priced(&t, &u);
        for line in &p.lines {
            prop_assert!(line.volume >= line.consumed, "{line:?}");
        }
        for d in &p.dimensions {
            prop_assert!(d.billed >= d.consumed, "{d:?}");
            let step_in_unit = Decimal::from(d.step_size.unwrap_or(0))
                / if d.dimension == joule_tariff::Dimension::Energy { Decimal::ONE_THOUSAND } else { Decimal::from(3600) };
            prop_assert!(d.billed - d.consumed <= step_in_unit, "{d:?}");
        }
    }

    #[test]
    fn totals_stay_within_min_and_max_price(
        energy in element("ENERGY", 1000), time in element("TIME", 900), flat in 0u32..500,
        min in 0u32..2000, span in 0u32..5000, incl in any::<bool>(), u in session(),
    ) {
        let (lo, hi) = (cents(min), cents(min + span));
        let bound = |v: Decimal, with_vat: Decimal| if incl {
            json!({ "excl_vat": v.to_string(), "incl_vat": with_vat.to_string() })
        } else {
            json!({ "excl_vat": v.to_string() })
        };
        let t = tariff(
            vec![energy, time, json!({ "price_components": [{ "type": "FLAT", "price": cents(flat).to_string(), "vat": 20, "step_size": 0 }] })],
            json!({ "min_price": bound(lo, lo * Decimal::new(12, 1)), "max_price": bound(hi, hi * Decimal::new(12, 1)) }),
        );
        let p = priced(&t, &u);
        prop_assert!(p.total_excl_vat >= lo && p.total_excl_vat <= hi, "{} not in [{lo}, {hi}]", p.total_excl_vat);
        if incl {
            let (lo, hi) = (lo * Decimal::new(12, 1), hi * Decimal::new(12, 1));
            prop_assert!(p.total_incl_vat >= lo && p.total_incl_vat <= hi, "{} not in [{lo}, {hi}]", p.total_incl_vat);
        }
    }

    #[test]
    fn splitting_a_period_at_an_irrelevant_point_changes_nothing(
        energy in proptest::collection::vec(element("ENERGY", 1000), 1..3),
        time in proptest::collection::vec(element("TIME", 900), 0..3),
        parking in element("PARKING_TIME", 900),
        watts_per_hour_second in 1i64..20, secs in 2i64..40_000, split_at in 0.0f64..1.0,
        kwh_threshold_secs in proptest::option::of(1i64..40_000),
        start_min in 0i64..48 * 60, tz in zone(), charging_pct in proptest::option::of(0i64..=100),
    ) {
        // Energy grows by a whole number of Wh per second, so the energy at every whole second is
        // exact and a meter sample on the straight line is truly irrelevant.
        let p = watts_per_hour_second;
        let mut elements = [energy, time, vec![parking]].concat();
        if let Some(k) = kwh_threshold_secs {
            let kwh = Decimal::from(p * k) / Decimal::ONE_THOUSAND;
            elements.insert(0, json!({ "price_components": [{ "type": "ENERGY", "price": "0.05", "step_size": 1 }],
                                       "restrictions": { "min_kwh": kwh.to_string() } }));
        }
        let t = tariff(elements, json!({}));
        let start = base() + TimeDelta::minutes(start_min);
        let end = start + TimeDelta::seconds(secs);
        let cut = ((secs as f64 * split_at) as i64).clamp(1, secs - 1);
        let register = |s: i64| Energy::from_wh(Decimal::from(1_000_000 + p * s));
        let plain = SessionUsage {
            start, end, energy: Energy::from_wh(Decimal::from(p * secs)), time_zone: tz, samples: vec![],
            charging_end: charging_pct.map(|c| start + TimeDelta::seconds(secs * c / 100)),
        };
        let sampled = SessionUsage {
            samples: vec![(start, register(0)), (start + TimeDelta::seconds(cut), register(cut)), (end, register(secs))],
            ..plain.clone()
        };
        let (a, b) = (priced(&t, &plain), priced(&t, &sampled));
        prop_assert_eq!(&a.lines, &b.lines);
        prop_assert_eq!(&a.periods, &b.periods);
        prop_assert_eq!((a.total_excl_vat, a.total_incl_vat), (b.total_excl_vat, b.total_incl_vat));
    }
}

/// A CDR of one charging period of `units` * 36 s at `wh_per_unit` Wh per 36 s, optionally followed by
/// a parking period, or the same with the charging period split after `cut` units (volumes shared
/// exactly in proportion).
fn cdr_json(
    start_min: i64,
    units: i64,
    wh_per_unit: i64,
    parking_units: i64,
    cut: Option<i64>,
) -> String {
    let t = |s: i64| {
        (base() + TimeDelta::minutes(start_min) + TimeDelta::seconds(s))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let period = |from: i64, n: i64| {
        format!(
            r#"{{"start_date_time":"{}","dimensions":[{{"type":"ENERGY","volume":{}}},{{"type":"TIME","volume":{}}}]}}"#,
            t(from * 36),
            Decimal::new(wh_per_unit * n, 3),
            Decimal::new(n, 2)
        )
    };
    let mut periods = match cut {
        Some(c) => vec![period(0, c), period(c, units - c)],
        None => vec![period(0, units)],
    };
    if parking_units > 0 {
        periods.push(format!(
            r#"{{"start_date_time":"{}","dimensions":[{{"type":"PARKING_TIME","volume":{}}}]}}"#,
            t(units * 36),
            Decimal::new(parking_units, 2)
        ));
    }
    format!(
        r#"{{"currency":"EUR","start_date_time":"{}","end_date_time":"{}","charging_periods":[{}]}}"#,
        t(0),
        t((units + parking_units) * 36),
        periods.join(",")
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn splitting_a_cdr_period_anywhere_changes_nothing(
        energy in proptest::collection::vec(element("ENERGY", 1000), 1..3),
        time in proptest::collection::vec(element("TIME", 900), 0..3),
        parking in element("PARKING_TIME", 900),
        units in 2i64..500, wh_per_unit in 1i64..2000, parking_units in 0i64..200,
        cut in 1i64..499, start_min in 0i64..48 * 60, tz in zone(),
    ) {
        let cut = cut.min(units - 1);
        let t = tariff([energy, time, vec![parking]].concat(), json!({}));
        let whole = Cdr::parse(&cdr_json(start_min, units, wh_per_unit, parking_units, None)).unwrap();
        let split = Cdr::parse(&cdr_json(start_min, units, wh_per_unit, parking_units, Some(cut))).unwrap();
        let (a, b) = (price_cdr(&t, &whole, tz).unwrap(), price_cdr(&t, &split, tz).unwrap());
        // Shares of a period cut at a restriction change are exact fractions, which Decimal holds to
        // 28 digits: compare far below any money scale.
        let r = |d: Decimal| d.round_dp(12);
        let lines = |p: &PricedSession| -> Vec<_> {
            p.lines.iter().map(|l| (l.element, l.component, r(l.volume), r(l.amount_excl_vat), r(l.amount_incl_vat))).collect()
        };
        prop_assert_eq!(lines(&a), lines(&b));
        prop_assert_eq!((r(a.total_excl_vat), r(a.total_incl_vat)), (r(b.total_excl_vat), r(b.total_incl_vat)));
    }
}
