//! How the API writes the pricing engine's JSON (a quote, a priced CDR, a re-rating): in the one
//! number and time format of every other answer (issue 14).
//!
//! - **Money** (`amount_*`, `subtotal_*`, `total_*`, `adjustment_*`, `unit_price`, a total's
//!   `excl_vat` / `incl_vat`): decimal strings with at least the currency's minor-unit digits
//!   (`0.25`, `1.00`), more only where the engine's exact value has them (an unrounded line,
//!   `0.0319`): never rounded here; rounding is the invoice's.
//! - **Quantities** (`consumed`, `volume`, `billed`, `wh`, `total_energy`, and durations in hours,
//!   `total_time`, `total_parking_time`): at most six decimals (a kWh to the mWh, an hour to
//!   3.6 ms), half to even, trailing zeros dropped (`0.166667`, `115.2`).
//! - **Rates** (`vat_percent`): trailing zeros dropped (`10`), as invoices write them.
//! - **Times** (`start`, `end`, `charging_end`): RFC 3339 in UTC with six fractional digits
//!   ([`crate::time`]).
//!
//! Anything else is left as the engine wrote it.

use joule_domain::Currency;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

/// The scale of quantities in the API's pricing answers.
pub const QUANTITY_DECIMALS: u32 = 6;

enum Kind {
    Money,
    Quantity,
    Rate,
    Time,
    Other,
}

fn kind(key: &str) -> Kind {
    match key {
        "unit_price" | "excl_vat" | "incl_vat" => Kind::Money,
        k if k.starts_with("amount_")
            || k.starts_with("subtotal_")
            || k.starts_with("total_excl")
            || k.starts_with("total_incl")
            || k.starts_with("adjustment_") =>
        {
            Kind::Money
        }
        "consumed" | "volume" | "billed" | "wh" | "kwh" | "total_energy" | "total_time"
        | "total_parking_time" => Kind::Quantity,
        "vat_percent" => Kind::Rate,
        "start" | "end" | "charging_end" => Kind::Time,
        _ => Kind::Other,
    }
}

/// Rewrites `value` in place; `currency` is the answer's (`None`: money left as it came).
pub fn write(value: &mut Value, currency: Option<Currency>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                match (kind(key), field.as_str()) {
                    (Kind::Other, _) | (_, None) => write(field, currency),
                    (kind, Some(text)) => {
                        if let Some(written) = written(&kind, text, currency) {
                            *field = Value::String(written);
                        }
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| write(v, currency)),
        _ => {}
    }
}

fn written(kind: &Kind, text: &str, currency: Option<Currency>) -> Option<String> {
    if let Kind::Time = kind {
        let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
        return Some(crate::time::format(&time.with_timezone(&chrono::Utc)));
    }
    let d: Decimal = text.parse().ok()?;
    let written = match kind {
        Kind::Money => currency?.written(d),
        Kind::Quantity => d
            .round_dp_with_strategy(QUANTITY_DECIMALS, RoundingStrategy::MidpointNearestEven)
            .normalize(),
        Kind::Rate => d.normalize(),
        Kind::Time | Kind::Other => return None,
    };
    Some(written.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn money_quantities_rates_and_times_in_the_apis_format() {
        let mut v = json!({
            "total_cost": {"excl_vat": "0", "incl_vat": "0.0319"},
            "total_time": "0.1666666666666666666666666667",
            "total_energy": "0.1152",
            "breakdown": {
                "start": "2024-03-04T10:00:00Z",
                "charging_end": null,
                "energy": {"wh": "115.2000"},
                "lines": [{"volume": "0.116", "unit_price": "0.25", "vat_percent": "10.0",
                           "amount_excl_vat": "1", "amount_incl_vat": "1.1", "unit": "kWh",
                           "description": "Energy at 0.25 EUR/kWh"}],
                "periods": [{"end": "2024-03-04T10:10:00.5+01:00", "state": "CHARGING"}],
                "step_size": 1
            }
        });
        write(&mut v, Some("EUR".parse().unwrap()));
        assert_eq!(
            v["total_cost"],
            json!({"excl_vat": "0.00", "incl_vat": "0.0319"})
        );
        assert_eq!(v["total_time"], "0.166667");
        assert_eq!(v["total_energy"], "0.1152");
        let b = &v["breakdown"];
        assert_eq!(b["start"], "2024-03-04T10:00:00.000000Z");
        assert_eq!(b["charging_end"], Value::Null);
        assert_eq!(b["energy"]["wh"], "115.2");
        let line = &b["lines"][0];
        assert_eq!(line["unit_price"], "0.25");
        assert_eq!(line["amount_excl_vat"], "1.00");
        assert_eq!(line["amount_incl_vat"], "1.10");
        assert_eq!(line["vat_percent"], "10");
        assert_eq!(line["description"], "Energy at 0.25 EUR/kWh");
        assert_eq!(b["periods"][0]["end"], "2024-03-04T09:10:00.500000Z");
        assert_eq!(b["step_size"], 1);
    }

    #[test]
    fn without_a_currency_money_is_left_as_it_came() {
        let mut v = json!({"amount_excl_vat": "1"});
        write(&mut v, None);
        assert_eq!(v["amount_excl_vat"], "1");
    }
}
