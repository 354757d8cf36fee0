//! The worked examples of OCPI 2.2.1 `mod_tariffs`, with the amounts the text gives, computed by hand
//! where the text rounds (Joule keeps full precision until the invoice).

use chrono::{DateTime, TimeZone, Utc};
use joule_domain::Energy;
use joule_tariff::{Dimension, PriceBound, PricedSession, SessionUsage, Tariff, Tz, price_session};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 4, h, m, s).unwrap()
}

fn kwh(v: Decimal) -> Energy {
    Energy::from_kwh(v)
}

/// A session in UTC from 10:00 for `minutes`, charging throughout, at constant power.
fn session(minutes: i64, energy: Energy) -> SessionUsage {
    SessionUsage {
        start: at(10, 0, 0),
        end: at(10, 0, 0) + chrono::TimeDelta::minutes(minutes),
        energy,
        time_zone: Tz::UTC,
        samples: vec![],
        charging_end: None,
    }
}

fn price(tariff: &str, usage: &SessionUsage) -> PricedSession {
    let tariff = Tariff::parse(tariff).expect("example tariff parses");
    price_session(&tariff, usage).expect("session prices")
}

fn totals(p: &PricedSession) -> (Decimal, Decimal) {
    (p.total_excl_vat, p.total_incl_vat)
}

const SIMPLE_025_KWH: &str = r#"{
  "country_code": "DE", "party_id": "ALL", "id": "16", "currency": "EUR",
  "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1 }] }],
  "last_updated": "2018-12-17T11:36:01Z"
}"#;

#[test]
fn simple_025_per_kwh_20_kwh_costs_5_and_550_with_vat() {
    let p = price(SIMPLE_025_KWH, &session(120, kwh(dec!(20))));
    assert_eq!(totals(&p), (dec!(5), dec!(5.5)));
    assert_eq!(p.lines.len(), 1);
    let line = &p.lines[0];
    assert_eq!(
        (line.dimension, line.volume, line.unit.as_str()),
        (Dimension::Energy, dec!(20), "kWh")
    );
    assert_eq!(
        (line.unit_price, line.vat_percent),
        (dec!(0.25), Some(dec!(10.0)))
    );
}

#[test]
fn step_size_1_wh_bills_115_2_wh_as_116_wh() {
    // The step_size note of mod_tariffs: 115.2 Wh at 0.25/kWh, step 1 Wh -> 116 Wh -> 0.029.
    let p = price(SIMPLE_025_KWH, &session(10, Energy::from_wh(dec!(115.2))));
    assert_eq!(p.total_excl_vat, dec!(0.029));
    assert_eq!(p.lines[0].consumed, dec!(0.1152));
    assert_eq!(p.lines[0].volume, dec!(0.116));
}

#[test]
fn start_fee_plus_025_per_kwh() {
    let tariff = r#"{
      "id": "17", "currency": "EUR",
      "elements": [{ "price_components": [
        { "type": "FLAT", "price": 0.50, "vat": 20.0, "step_size": 1 },
        { "type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1 } ] }]
    }"#;
    let p = price(tariff, &session(120, kwh(dec!(20))));
    assert_eq!(totals(&p), (dec!(5.5), dec!(6.1)));
    assert_eq!(p.lines[0].dimension, Dimension::Flat);
    assert_eq!(p.lines[0].volume, dec!(1));
    assert_eq!(p.lines[0].amount_incl_vat, dec!(0.6));
}

#[test]
fn minimum_price_applies_below_2_kwh() {
    let tariff = r#"{
      "id": "20", "currency": "EUR",
      "min_price": { "excl_vat": 0.50, "incl_vat": 0.55 },
      "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1 }] }]
    }"#;
    let p = price(tariff, &session(120, kwh(dec!(20))));
    assert_eq!(totals(&p), (dec!(5), dec!(5.5)));
    assert!(p.price_limit.is_none());

    let p = price(tariff, &session(20, kwh(dec!(1))));
    assert_eq!(
        (p.subtotal_excl_vat, p.subtotal_incl_vat),
        (dec!(0.25), dec!(0.275))
    );
    assert_eq!(totals(&p), (dec!(0.5), dec!(0.55)));
    let limit = p.price_limit.expect("min price applied");
    assert_eq!(limit.excl_vat_bound, Some(PriceBound::MinPrice));
    assert_eq!(
        (limit.adjustment_excl_vat, limit.adjustment_incl_vat),
        (dec!(0.25), dec!(0.275))
    );
}

#[test]
fn parking_fee_is_billed_per_15_minutes() {
    // 20 kWh charged, parked 40 more minutes: 0.50 + 5.00 + 45 min at 2.00/h = 7.00 (7.90 with VAT).
    let tariff = r#"{
      "id": "17", "currency": "EUR",
      "elements": [
        { "price_components": [{ "type": "FLAT", "price": 0.50, "vat": 20.0, "step_size": 1 }] },
        { "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1 }] },
        { "price_components": [{ "type": "PARKING_TIME", "price": 2.00, "vat": 20.0, "step_size": 900 }] }
      ]
    }"#;
    let mut usage = session(120 + 40, kwh(dec!(20)));
    usage.charging_end = Some(at(12, 0, 0));
    // Energy flows only while charging.
    usage.samples = vec![
        (at(10, 0, 0), kwh(dec!(100))),
        (at(12, 0, 0), kwh(dec!(120))),
    ];
    let p = price(tariff, &usage);
    assert_eq!(totals(&p), (dec!(7), dec!(7.9)));
    let parking = p
        .lines
        .iter()
        .find(|l| l.dimension == Dimension::ParkingTime)
        .unwrap();
    assert_eq!(
        (parking.consumed, parking.volume),
        (dec!(40) / dec!(60), dec!(0.75))
    );
}

const START_MAX_PRICE: &str = r#"{
  "id": "16", "currency": "EUR",
  "max_price": { "excl_vat": 10.00, "incl_vat": 11.00 },
  "elements": [{ "price_components": [
    { "type": "FLAT", "price": 0.50, "vat": 20.0, "step_size": 1 },
    { "type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1 } ] }],
  "end_date_time": "2019-06-30T23:59:59Z"
}"#;

#[test]
fn maximum_price_caps_50_kwh_but_not_30_kwh() {
    let tariff = START_MAX_PRICE.replace("2019-06-30T23:59:59Z", "2030-06-30T23:59:59Z");
    let p = price(&tariff, &session(240, kwh(dec!(50))));
    assert_eq!(
        (p.subtotal_excl_vat, p.subtotal_incl_vat),
        (dec!(13), dec!(14.35))
    );
    assert_eq!(totals(&p), (dec!(10), dec!(11)));
    let p = price(&tariff, &session(180, kwh(dec!(30))));
    assert_eq!(totals(&p), (dec!(8), dec!(8.85)));
}

#[test]
fn a_tariff_past_its_end_date_does_not_price() {
    let tariff = Tariff::parse(START_MAX_PRICE).unwrap();
    let err = price_session(&tariff, &session(60, kwh(dec!(5)))).unwrap_err();
    assert!(err.to_string().contains("not in force"), "{err}");
}

#[test]
fn two_euro_per_hour_for_2_5_hours() {
    let tariff = r#"{
      "id": "12", "currency": "EUR",
      "elements": [{ "price_components": [{ "type": "TIME", "price": 2.00, "vat": 10.0, "step_size": 60 }] }]
    }"#;
    let p = price(tariff, &session(150, kwh(dec!(30))));
    assert_eq!(totals(&p), (dec!(5), dec!(5.5)));
    assert_eq!(
        (p.lines[0].volume, p.lines[0].unit.as_str()),
        (dec!(2.5), "h")
    );
}

#[test]
fn three_euro_per_hour_charging_five_euro_per_hour_parking() {
    // 150 min charging + 42 min parking billed as 45: 7.50 + 3.75 = 11.25; 8.25 + 4.50 = 12.75 with VAT.
    let tariff = r#"{
      "id": "13", "currency": "EUR",
      "elements": [{ "price_components": [
        { "type": "TIME", "price": 3.00, "vat": 10.0, "step_size": 60 },
        { "type": "PARKING_TIME", "price": 5.00, "vat": 20.0, "step_size": 300 } ] }]
    }"#;
    let mut usage = session(150 + 42, kwh(dec!(40)));
    usage.charging_end = Some(at(12, 30, 0));
    let p = price(tariff, &usage);
    assert_eq!(totals(&p), (dec!(11.25), dec!(12.75)));
}

#[test]
fn alt_text_tariff_1_9_per_hour_with_5_2_percent_vat() {
    // The text rounds 4.997 to 5.00 incl. VAT; Joule keeps full precision until the invoice.
    let tariff = r#"{
      "id": "14", "currency": "EUR",
      "tariff_alt_text": [{ "language": "en", "text": "2.00 EUR p/hour including VAT." }],
      "elements": [{ "price_components": [{ "type": "TIME", "price": 1.90, "vat": 5.2, "step_size": 300 }] }]
    }"#;
    let p = price(tariff, &session(150, kwh(dec!(10))));
    assert_eq!(totals(&p), (dec!(4.75), dec!(4.997)));
}

#[test]
fn max_power_restrictions_follow_the_power_of_each_part() {
    // 1 kWh at 6 kW (10 min), 40 kWh at 48 kW (50 min), 0.5 kWh at 4 kW (7.5 min):
    // 0.20 + 20.00 + 0.10 = 20.30.
    let tariff = r#"{
      "country_code": "DE", "party_id": "ALL", "id": "1", "currency": "EUR", "type": "REGULAR",
      "elements": [
        { "price_components": [{ "type": "ENERGY", "price": 0.20, "vat": 20.0, "step_size": 1 }], "restrictions": { "max_power": 16.00 } },
        { "price_components": [{ "type": "ENERGY", "price": 0.35, "vat": 20.0, "step_size": 1 }], "restrictions": { "max_power": 32.00 } },
        { "price_components": [{ "type": "ENERGY", "price": 0.50, "vat": 20.0, "step_size": 1 }] }
      ],
      "last_updated": "2018-12-05T12:01:09Z"
    }"#;
    let wh = |v: i64| Energy::from_wh(Decimal::from(v));
    let usage = SessionUsage {
        start: at(10, 0, 0),
        end: at(11, 7, 30),
        energy: wh(41_500),
        time_zone: Tz::UTC,
        samples: vec![
            (at(10, 0, 0), wh(7_000)),
            (at(10, 10, 0), wh(8_000)),
            (at(11, 0, 0), wh(48_000)),
            (at(11, 7, 30), wh(48_500)),
        ],
        charging_end: None,
    };
    let p = price(tariff, &usage);
    assert_eq!(totals(&p), (dec!(20.3), dec!(24.36)));
    let by_element: Vec<(usize, Decimal)> = p.lines.iter().map(|l| (l.element, l.volume)).collect();
    assert_eq!(by_element, vec![(0, dec!(1.5)), (2, dec!(40))]);
}

#[test]
fn max_duration_makes_the_first_half_hour_free() {
    // 40 minutes: 5 kWh in the first 30 (free), 1.2 kWh in the last 10 at 0.25: 0.30.
    let tariff = r#"{
      "id": "2", "currency": "EUR",
      "elements": [
        { "price_components": [{ "type": "ENERGY", "price": 0.00, "vat": 20.0, "step_size": 1 }], "restrictions": { "max_duration": 1800 } },
        { "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 20.0, "step_size": 1 }], "restrictions": { "max_duration": 3600 } },
        { "price_components": [{ "type": "ENERGY", "price": 0.40, "vat": 20.0, "step_size": 1 }] }
      ]
    }"#;
    let wh = |v: i64| Energy::from_wh(Decimal::from(v));
    let usage = SessionUsage {
        samples: vec![
            (at(10, 0, 0), wh(0)),
            (at(10, 30, 0), wh(5_000)),
            (at(10, 40, 0), wh(6_200)),
        ],
        ..session(40, wh(6_200))
    };
    let p = price(tariff, &usage);
    assert_eq!(totals(&p), (dec!(0.3), dec!(0.36)));
}

/// `examples/tariff_14_step_size.json` of the spec, as the step_size switching examples use it.
const STEP_SIZE_SWITCH: &str =
    include_str!("fixtures/tariffs-21a-step-size-switching-1/tariff.json");

#[test]
fn step_size_of_the_last_element_rounds_the_session_total() {
    // Switching example #2: 16:35-17:10 charging; 25 min at 1.20/h = 0.50, the 45-min total leaves
    // 20 min at 2.40/h = 0.80; total 1.30.
    let usage = SessionUsage {
        start: at(16, 35, 0),
        end: at(17, 10, 0),
        energy: kwh(dec!(5)),
        time_zone: Tz::UTC,
        samples: vec![],
        charging_end: None,
    };
    let p = price(STEP_SIZE_SWITCH, &usage);
    assert_eq!(p.total_excl_vat, dec!(1.3));
    let volumes: Vec<(usize, Decimal, Decimal)> = p
        .lines
        .iter()
        .map(|l| (l.element, l.consumed, l.volume))
        .collect();
    assert_eq!(
        volumes,
        vec![
            (0, dec!(25) / dec!(60), dec!(25) / dec!(60)),
            (1, dec!(10) / dec!(60), dec!(20) / dec!(60))
        ]
    );
    // No VAT given: priced at 0 %, and said so.
    assert_eq!(p.total_incl_vat, p.total_excl_vat);
    assert!(p.notes.iter().any(|n| n.contains("states no VAT")));
}

#[test]
fn charging_followed_by_parking_is_billed_as_measured_and_parking_is_rounded() {
    // Switching example #1 at the head of the 2.2.1 bug-fix branch: 16:55-17:05 charging, 5 min at
    // 1.20/h (0.10) and 5 min at 2.40/h (0.20), not rounded; "The parking time of 2 minutes is
    // rounded to 15 minutes according to the step size of the last parking time period" (0.25):
    // 0.55.
    let usage = SessionUsage {
        start: at(16, 55, 0),
        end: at(17, 7, 0),
        energy: kwh(dec!(2)),
        time_zone: Tz::UTC,
        samples: vec![],
        charging_end: Some(at(17, 5, 0)),
    };
    let p = price(STEP_SIZE_SWITCH, &usage);
    assert_eq!(p.total_excl_vat, dec!(0.55));
    let billed = |d: Dimension| {
        let t = p.dimensions.iter().find(|t| t.dimension == d).unwrap();
        (t.consumed.round_dp(9), t.billed.round_dp(9), t.step_size)
    };
    assert_eq!(
        billed(Dimension::Time),
        (dec!(0.166666667), dec!(0.166666667), None)
    );
    assert_eq!(
        billed(Dimension::ParkingTime),
        (dec!(0.033333333), dec!(0.25), Some(900))
    );
}

#[test]
fn billable_parking_before_free_parking_is_rounded() {
    // Switching to Free-of-Charge at the head (a57ecb6): 19:40-19:52 charging at 2.40/h (0.48, not
    // rounded), parked until 20:12; the 8 billable minutes before 20:00 are rounded up to 15 at
    // 1.00/h (0.25), parking after 20:00 is free: 0.73.
    let usage = SessionUsage {
        start: at(19, 40, 0),
        end: at(20, 12, 0),
        energy: kwh(dec!(2)),
        time_zone: Tz::UTC,
        samples: vec![],
        charging_end: Some(at(19, 52, 0)),
    };
    let p = price(STEP_SIZE_SWITCH, &usage);
    assert_eq!(p.total_excl_vat, dec!(0.73));
    let parking: Vec<(usize, Decimal, Decimal)> = p
        .lines
        .iter()
        .filter(|l| l.dimension == Dimension::ParkingTime)
        .map(|l| (l.element, l.consumed, l.volume))
        .collect();
    assert_eq!(parking, vec![(1, dec!(8) / dec!(60), dec!(0.25))]);
}

#[test]
fn free_parking_is_not_rounded_and_charging_time_is() {
    // Switching to free of charge: 19:55-20:05 charging, parking after 20:00 has no component.
    // TIME is the only time dimension billed, so its total (10 min) is rounded to 15 min at the
    // 17:00+ rate: 0.60.
    let usage = SessionUsage {
        start: at(19, 55, 0),
        end: at(20, 7, 0),
        energy: kwh(dec!(2)),
        time_zone: Tz::UTC,
        samples: vec![],
        charging_end: Some(at(20, 5, 0)),
    };
    let p = price(STEP_SIZE_SWITCH, &usage);
    assert_eq!(p.total_excl_vat, dec!(0.6));
    assert!(
        p.lines
            .iter()
            .all(|l| l.dimension != Dimension::ParkingTime)
    );
}

#[test]
fn the_breakdown_lists_each_period_with_its_components() {
    let usage = SessionUsage {
        start: at(16, 55, 0),
        end: at(17, 7, 0),
        energy: kwh(dec!(2)),
        time_zone: Tz::UTC,
        samples: vec![],
        charging_end: Some(at(17, 5, 0)),
    };
    let p = price(STEP_SIZE_SWITCH, &usage);
    let periods: Vec<_> = p
        .periods
        .iter()
        .map(|x| {
            (
                x.start,
                x.end,
                x.time.map(|c| c.element),
                x.parking_time.map(|c| c.element),
            )
        })
        .collect();
    assert_eq!(
        periods,
        vec![
            (at(16, 55, 0), at(17, 0, 0), Some(0), None),
            (at(17, 0, 0), at(17, 5, 0), Some(1), None),
            (at(17, 5, 0), at(17, 7, 0), None, Some(1)),
        ]
    );
    let energy: Decimal = p.periods.iter().map(|x| x.energy.wh()).sum();
    assert_eq!(energy, dec!(2000));
}
