//! A tariff in plain language for drivers: what each dimension costs and when, in the order the
//! engine reads it (the first element that applies wins), with VAT, rounding and price bounds.

use std::fmt::Write as _;

use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::arith::per;
use crate::model::{Dimension, PriceComponent, Tariff};

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

fn money(v: Decimal) -> String {
    let v = v.normalize();
    if v.scale() < 2 {
        format!("{:.2}", v)
    } else {
        v.to_string()
    }
}

fn step(c: &PriceComponent) -> Option<String> {
    let s = c.step_size;
    if s <= 1 {
        return None;
    }
    Some(match c.dimension {
        Dimension::Energy => format!("billed per started {} Wh", s),
        Dimension::Time | Dimension::ParkingTime if s.is_multiple_of(3600) => {
            format!("billed per started {} h", s / 3600)
        }
        Dimension::Time | Dimension::ParkingTime if s.is_multiple_of(60) => {
            format!("billed per started {} min", s / 60)
        }
        Dimension::Time | Dimension::ParkingTime => format!("billed per started {s} s"),
        Dimension::Flat => return None,
    })
}

fn price(c: &PriceComponent, currency: &str) -> String {
    let unit = match c.dimension {
        Dimension::Flat => "",
        Dimension::Energy => " per kWh",
        Dimension::Time | Dimension::ParkingTime => " per hour",
    };
    let mut s = format!("{} {currency}{unit}", money(c.price));
    match c.vat {
        Some(vat) if !vat.is_zero() => {
            let _ = write!(
                s,
                " ({} incl. {}% VAT)",
                // bounded: price ≤ 2.5e10 and VAT ≤ 100 % (limits.rs, parse).
                money(per(
                    c.price.saturating_mul(HUNDRED.saturating_add(vat)),
                    HUNDRED
                )),
                vat.normalize()
            );
        }
        Some(_) => s.push_str(" (no VAT)"),
        None => s.push_str(" (VAT not stated)"),
    }
    if let Some(step) = step(c) {
        let _ = write!(s, ", {step}");
    }
    s
}

/// The description, one statement per line.
pub fn explain(tariff: &Tariff) -> String {
    let currency = tariff.currency.code();
    let mut out = String::new();
    let _ = writeln!(out, "Tariff {} ({currency})", tariff.id);
    for t in &tariff.tariff_alt_text {
        let _ = writeln!(out, "  \"{}\" ({})", t.text, t.language);
    }
    match (tariff.start_date_time, tariff.end_date_time) {
        (Some(s), Some(e)) => {
            let _ = writeln!(out, "Valid from {s} until {e}.");
        }
        (Some(s), None) => {
            let _ = writeln!(out, "Valid from {s}.");
        }
        (None, Some(e)) => {
            let _ = writeln!(out, "Valid until {e}.");
        }
        (None, None) => {}
    }
    let headings = [
        (Dimension::Flat, "Start fee (once per session)"),
        (Dimension::Energy, "Energy"),
        (Dimension::Time, "Charging time"),
        (Dimension::ParkingTime, "Parking time (while not charging)"),
    ];
    for (dimension, heading) in headings {
        let mut lines = Vec::new();
        let mut fallback = false;
        for e in &tariff.elements {
            let Some((_, c)) = e.component(dimension) else {
                continue;
            };
            let when = e
                .restrictions
                .as_ref()
                .map(|r| {
                    if r.reservation.is_some() {
                        "for a reservation".to_owned()
                    } else {
                        r.describe()
                    }
                })
                .filter(|w| !w.is_empty());
            match when {
                Some(w) => lines.push(format!(
                    "{}{}: {}",
                    if lines.is_empty() { "" } else { "otherwise " },
                    w,
                    price(c, currency)
                )),
                None => {
                    lines.push(format!(
                        "{}{}",
                        if lines.is_empty() { "" } else { "otherwise: " },
                        price(c, currency)
                    ));
                    fallback = true;
                    break;
                }
            }
        }
        if lines.is_empty() {
            continue;
        }
        if !fallback {
            lines.push("otherwise free".into());
        }
        let _ = writeln!(out, "{heading}:");
        for l in lines {
            let _ = writeln!(out, "  - {l}");
        }
    }
    if let Some(min) = &tariff.min_price {
        let _ = writeln!(
            out,
            "A session costs at least {} {currency}{}.",
            money(min.excl_vat),
            min.incl_vat
                .map(|v| format!(" ({} incl. VAT)", money(v)))
                .unwrap_or_default()
        );
    }
    if let Some(max) = &tariff.max_price {
        let _ = writeln!(
            out,
            "A session costs at most {} {currency}{}.",
            money(max.excl_vat),
            max.incl_vat
                .map(|v| format!(" ({} incl. VAT)", money(v)))
                .unwrap_or_default()
        );
    }
    if let Some(fee) = tariff.joule.as_ref().and_then(|j| j.idle_fee.as_ref()) {
        let _ = writeln!(
            out,
            "Idle fee: once charging has stopped, after {} min of grace, {} {currency} per hour{}{}.",
            fee.grace_period_seconds / 60,
            money(fee.price_per_hour),
            if fee.step_size > 1 {
                format!(", billed per started {} s", fee.step_size)
            } else {
                String::new()
            },
            fee.max_price
                .map(|m| format!(", at most {} {currency}", money(m)))
                .unwrap_or_default()
        );
    }
    out.push_str(
        "Times of day are local to the charging location. Prices exclude VAT unless stated.\n",
    );
    out
}

/// The IANA zone of a country that has exactly one, from its ISO 3166-1 alpha-2 or alpha-3 code
/// (OCPI CDRs carry alpha-3). `None` for countries with several zones or not listed.
pub fn zone_of_country(code: &str) -> Option<Tz> {
    const ZONES: &[(&str, &str, Tz)] = &[
        ("AT", "AUT", Tz::Europe__Vienna),
        ("BE", "BEL", Tz::Europe__Brussels),
        ("BG", "BGR", Tz::Europe__Sofia),
        ("CH", "CHE", Tz::Europe__Zurich),
        ("CZ", "CZE", Tz::Europe__Prague),
        ("DE", "DEU", Tz::Europe__Berlin),
        ("DK", "DNK", Tz::Europe__Copenhagen),
        ("EE", "EST", Tz::Europe__Tallinn),
        ("FI", "FIN", Tz::Europe__Helsinki),
        ("FR", "FRA", Tz::Europe__Paris),
        ("GB", "GBR", Tz::Europe__London),
        ("GR", "GRC", Tz::Europe__Athens),
        ("HR", "HRV", Tz::Europe__Zagreb),
        ("HU", "HUN", Tz::Europe__Budapest),
        ("IE", "IRL", Tz::Europe__Dublin),
        ("IT", "ITA", Tz::Europe__Rome),
        ("LT", "LTU", Tz::Europe__Vilnius),
        ("LU", "LUX", Tz::Europe__Luxembourg),
        ("LV", "LVA", Tz::Europe__Riga),
        ("NL", "NLD", Tz::Europe__Amsterdam),
        ("NO", "NOR", Tz::Europe__Oslo),
        ("PL", "POL", Tz::Europe__Warsaw),
        ("RO", "ROU", Tz::Europe__Bucharest),
        ("SE", "SWE", Tz::Europe__Stockholm),
        ("SI", "SVN", Tz::Europe__Ljubljana),
        ("SK", "SVK", Tz::Europe__Bratislava),
    ];
    let code = code.trim().to_ascii_uppercase();
    ZONES
        .iter()
        .find(|(a2, a3, _)| *a2 == code || *a3 == code)
        .map(|(_, _, tz)| *tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_each_dimension_in_reading_order() {
        let t = Tariff::parse(
            r#"{ "id": "AC1", "currency": "EUR", "max_price": { "excl_vat": 10, "incl_vat": 12 }, "elements": [
              { "price_components": [{ "type": "FLAT", "price": 0.5, "vat": 20, "step_size": 0 }] },
              { "price_components": [{ "type": "ENERGY", "price": 0.2, "vat": 20, "step_size": 1 }], "restrictions": { "start_time": "22:00", "end_time": "06:00" } },
              { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 },
                                     { "type": "PARKING_TIME", "price": 2, "vat": 20, "step_size": 900 }] } ],
              "joule": { "idle_fee": { "price_per_hour": 12, "grace_period_seconds": 600, "max_price": 20 } } }"#,
        )
        .unwrap();
        let text = explain(&t);
        assert!(
            text.contains("Start fee (once per session):\n  - 0.50 EUR (0.60 incl. 20% VAT)"),
            "{text}"
        );
        assert!(text.contains("  - 22:00-06:00: 0.20 EUR per kWh (0.24 incl. 20% VAT)\n  - otherwise: 0.30 EUR per kWh"), "{text}");
        assert!(
            text.contains("2.00 EUR per hour (2.40 incl. 20% VAT), billed per started 15 min"),
            "{text}"
        );
        assert!(
            text.contains("at most 10.00 EUR (12.00 incl. VAT)"),
            "{text}"
        );
        assert!(
            text.contains("after 10 min of grace, 12.00 EUR per hour, at most 20.00 EUR"),
            "{text}"
        );
    }

    #[test]
    fn single_zone_countries_have_their_zone() {
        assert_eq!(zone_of_country("NLD"), Some(Tz::Europe__Amsterdam));
        assert_eq!(zone_of_country("de"), Some(Tz::Europe__Berlin));
        assert_eq!(zone_of_country("USA"), None);
    }
}
