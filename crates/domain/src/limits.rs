//! The domains of the values that reach Joule through its REST and gRPC edges, stated once
//! (README "Request value limits", ADR 024). The api checks a request against them before it calls a service, and
//! the service checks again at its gRPC edge, so both edges refuse the same values with the same
//! field and reason. A value inside these limits cannot overflow the arithmetic behind it: the
//! largest amount is far below `Decimal`'s 28 digits and Stripe's `i64` minor units, and a priced span
//! of at most 31 days keeps the tariff engine's period split short.
//!
//! OCPP values (meter registers, power, SoC from chargers) have their own domains in
//! `joule_domain::bounds`; this module is only about requests.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::Currency;

/// The longest priced span: a quote's charge plus parking, a CDR from start to end, a running
/// session's estimate.
pub const MAX_SPAN_DAYS: i64 = 31;
/// The most energy one quote or CDR may state (all its charging periods together), in kWh.
pub const MAX_SESSION_ENERGY_KWH: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);
/// [`MAX_SESSION_ENERGY_KWH`] in Wh, for requests that state energy in Wh (a meter correction).
pub const MAX_SESSION_ENERGY_WH: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);
/// The highest power a quote or a CDR period may state, in kW (a megawatt truck charger is 3.75 MW).
pub const MAX_POWER_KW: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
/// The highest current a CDR period may state, in A.
pub const MAX_CURRENT_A: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
/// Parking after a quoted charge: at most the whole span, in minutes.
pub const MAX_PARKING_MINUTES: u32 = 31 * 24 * 60;
/// A meter register as a request may state it (a meter correction, an estimate's stop reading), Wh.
pub const MAX_METER_REGISTER_WH: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);
/// Charging periods of one CDR.
pub const MAX_CDR_CHARGING_PERIODS: usize = 10_000;
/// Dimensions of one CDR charging period (OCPI has 13 types).
pub const MAX_CDR_PERIOD_DIMENSIONS: usize = 32;
/// Sessions named in one re-rating request.
pub const MAX_RERATE_SESSIONS: usize = 1_000;
/// Lines of one settlement report import.
pub const MAX_SETTLEMENT_LINES: usize = 10_000;

/// The largest amount of money a request may state in `currency`, in major units: 1,000,000.00, or
/// the like in currencies whose unit is worth far less (JPY, KRW, VND and others with no minor unit,
/// HUF).
pub fn max_amount(currency: Currency) -> Decimal {
    let major: u64 = match currency.code() {
        "CLP" => 1_000_000_000,
        "HUF" => 400_000_000,
        "ISK" => 150_000_000,
        "JPY" => 150_000_000,
        "KRW" => 1_500_000_000,
        "VND" => 25_000_000_000,
        _ => 1_000_000,
    };
    Decimal::from(major)
}

/// The longest priced span as a duration.
pub fn max_span() -> TimeDelta {
    TimeDelta::days(MAX_SPAN_DAYS)
}

/// A value outside its domain, naming the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct LimitError {
    pub field: String,
    pub reason: String,
}

impl LimitError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// An amount of money to charge, hold, capture, refund or top up: not negative (and not zero unless
/// `allow_zero`), in whole minor units of `currency`, at most [`max_amount`].
pub fn check_money(
    field: &str,
    amount: Decimal,
    currency: Currency,
    allow_zero: bool,
) -> Result<(), LimitError> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(LimitError::new(field, "must not be negative"));
    }
    if amount.is_zero() && !allow_zero {
        return Err(LimitError::new(field, "must be greater than zero"));
    }
    if amount.normalize().scale() > currency.minor_units() {
        return Err(LimitError::new(
            field,
            format!(
                "must be in whole minor units of {currency} ({} decimals)",
                currency.minor_units()
            ),
        ));
    }
    check_max_amount(field, amount, currency)
}

/// Only the upper limit of [`check_money`], for amounts whose sign and scale are checked elsewhere
/// (the lines of a settlement report, which may be negative).
pub fn check_max_amount(
    field: &str,
    amount: Decimal,
    currency: Currency,
) -> Result<(), LimitError> {
    let max = max_amount(currency);
    if amount.abs() > max {
        return Err(LimitError::new(
            field,
            format!("must be at most {max} {currency}"),
        ));
    }
    Ok(())
}

fn check_range(
    field: &str,
    value: Decimal,
    max: Decimal,
    unit: &str,
    zero_allowed: bool,
) -> Result<(), LimitError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(LimitError::new(field, "must not be negative"));
    }
    if value.is_zero() && !zero_allowed {
        return Err(LimitError::new(field, "must be greater than 0"));
    }
    if value > max {
        return Err(LimitError::new(
            field,
            format!("must be at most {max} {unit}"),
        ));
    }
    Ok(())
}

/// Energy of a quote or a CDR: 0 to [`MAX_SESSION_ENERGY_KWH`].
pub fn check_energy_kwh(field: &str, kwh: Decimal) -> Result<(), LimitError> {
    check_range(field, kwh, MAX_SESSION_ENERGY_KWH, "kWh", true)
}

/// Energy of one session in Wh (a meter correction): 0 to [`MAX_SESSION_ENERGY_WH`].
pub fn check_energy_wh(field: &str, wh: Decimal) -> Result<(), LimitError> {
    check_range(field, wh, MAX_SESSION_ENERGY_WH, "Wh", true)
}

/// A duration in hours (a CDR's charging, parking or reservation time): 0 to the longest span.
pub fn check_hours(field: &str, hours: Decimal) -> Result<(), LimitError> {
    check_range(
        field,
        hours,
        Decimal::from(MAX_SPAN_DAYS * 24),
        "hours",
        true,
    )
}

/// A power stated by a CDR period, in kW: 0 to [`MAX_POWER_KW`].
pub fn check_stated_power_kw(field: &str, kw: Decimal) -> Result<(), LimitError> {
    check_range(field, kw, MAX_POWER_KW, "kW", true)
}

/// A current stated by a CDR period, in A: 0 to [`MAX_CURRENT_A`].
pub fn check_current_a(field: &str, amps: Decimal) -> Result<(), LimitError> {
    check_range(field, amps, MAX_CURRENT_A, "A", true)
}

/// A percentage (state of charge): 0 to 100.
pub fn check_percent(field: &str, percent: Decimal) -> Result<(), LimitError> {
    check_range(field, percent, Decimal::ONE_HUNDRED, "%", true)
}

/// A meter register in Wh: 0 to [`MAX_METER_REGISTER_WH`].
pub fn check_register_wh(field: &str, wh: Decimal) -> Result<(), LimitError> {
    check_range(field, wh, MAX_METER_REGISTER_WH, "Wh", true)
}

/// The power of a quote: above 0, at most [`MAX_POWER_KW`].
pub fn check_power_kw(field: &str, kw: Decimal) -> Result<(), LimitError> {
    check_range(field, kw, MAX_POWER_KW, "kW", false)
}

/// A count of list items: at most `max`.
pub fn check_count(field: &str, count: usize, max: usize) -> Result<(), LimitError> {
    if count > max {
        return Err(LimitError::new(
            field,
            format!("must have at most {max} items, not {count}"),
        ));
    }
    Ok(())
}

/// A priced span from `start` to `end`: not backwards, at most [`MAX_SPAN_DAYS`]; `field` is the end.
pub fn check_span(field: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), LimitError> {
    if end < start {
        return Err(LimitError::new(field, "must not be before the start"));
    }
    if end.signed_duration_since(start) > max_span() {
        return Err(LimitError::new(
            field,
            format!("the span must be at most {MAX_SPAN_DAYS} days"),
        ));
    }
    Ok(())
}

/// The span of a quote: `energy_kwh` at a constant `power_kw`, then `parking_minutes`, at most
/// [`MAX_SPAN_DAYS`] in all and ending in time `chrono` can represent. Checks each value's own
/// domain first. The field named is the one that makes the span too long.
pub fn check_quote(
    start: DateTime<Utc>,
    energy_kwh: Decimal,
    power_kw: Decimal,
    parking_minutes: u32,
) -> Result<(), LimitError> {
    check_energy_kwh("energy_kwh", energy_kwh)?;
    check_power_kw("power_kw", power_kw)?;
    if parking_minutes > MAX_PARKING_MINUTES {
        return Err(LimitError::new(
            "parking_minutes",
            format!("must be at most {MAX_PARKING_MINUTES} ({MAX_SPAN_DAYS} days)"),
        ));
    }
    let max_minutes = Decimal::from(MAX_SPAN_DAYS * 24 * 60);
    // Both within their domains, and power above 0: the quotient and product cannot overflow.
    let charging_minutes = energy_kwh
        .checked_div(power_kw)
        .and_then(|hours| hours.checked_mul(Decimal::from(60)))
        .filter(|m| *m <= max_minutes)
        .ok_or_else(|| {
            LimitError::new(
                "energy_kwh",
                format!("{energy_kwh} kWh at {power_kw} kW takes longer than {MAX_SPAN_DAYS} days"),
            )
        })?;
    if charging_minutes.saturating_add(Decimal::from(parking_minutes)) > max_minutes {
        return Err(LimitError::new(
            "parking_minutes",
            format!("the charge and parking together must be at most {MAX_SPAN_DAYS} days"),
        ));
    }
    if start.checked_add_signed(max_span()).is_none() {
        return Err(LimitError::new("start", "is too far in the future"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_are_bounded_per_currency() {
        let eur = Currency::EUR;
        assert!(check_money("amount", dec!(1000000.00), eur, false).is_ok());
        assert_eq!(
            check_money("amount", dec!(1000000.01), eur, false)
                .unwrap_err()
                .to_string(),
            "amount: must be at most 1000000 EUR"
        );
        assert!(check_money("amount", Decimal::MAX, eur, false).is_err());
        assert!(check_money("amount", dec!(-1), eur, true).is_err());
        assert!(check_money("amount", dec!(0), eur, false).is_err());
        assert!(check_money("amount", dec!(0), eur, true).is_ok());
        assert!(check_money("amount", dec!(1.001), eur, false).is_err());
        let jpy: Currency = "JPY".parse().unwrap();
        assert!(check_money("amount", dec!(150000000), jpy, false).is_ok());
        assert!(check_money("amount", dec!(1.5), jpy, false).is_err());
        assert!(check_max_amount("gross", dec!(-1000000.01), eur).is_err());
    }

    #[test]
    fn every_maximum_fits_stripe_minor_units() {
        for code in ["EUR", "JPY", "KWD", "VND", "KRW", "CLP", "HUF", "ISK"] {
            let c: Currency = code.parse().unwrap();
            let minor = max_amount(c) * Decimal::from(10i64.pow(c.minor_units()));
            assert!(minor < Decimal::from(i64::MAX), "{code}");
        }
    }

    #[test]
    fn quotes_longer_than_the_span_are_refused_with_the_field_that_made_them_long() {
        let start = Utc::now();
        assert!(check_quote(start, dec!(30), dec!(50), 30).is_ok());
        // 31 days at 1 kW.
        assert!(check_quote(start, dec!(744), dec!(1), 0).is_ok());
        assert_eq!(
            check_quote(start, dec!(745), dec!(1), 0).unwrap_err().field,
            "energy_kwh"
        );
        assert_eq!(
            check_quote(start, dec!(1000), dec!(0.0000001), 0)
                .unwrap_err()
                .field,
            "energy_kwh"
        );
        assert_eq!(
            check_quote(start, dec!(744), dec!(1), 1).unwrap_err().field,
            "parking_minutes"
        );
        assert_eq!(
            check_quote(start, dec!(1), dec!(1), u32::MAX)
                .unwrap_err()
                .field,
            "parking_minutes"
        );
        assert_eq!(
            check_quote(start, dec!(100001), dec!(50), 0)
                .unwrap_err()
                .field,
            "energy_kwh"
        );
        assert_eq!(
            check_quote(start, dec!(1), dec!(0), 0).unwrap_err().field,
            "power_kw"
        );
        assert_eq!(
            check_quote(start, dec!(1), dec!(10001), 0)
                .unwrap_err()
                .field,
            "power_kw"
        );
        assert_eq!(
            check_quote(DateTime::<Utc>::MAX_UTC, dec!(1), dec!(1), 0)
                .unwrap_err()
                .field,
            "start"
        );
    }

    #[test]
    fn spans_and_counts() {
        let start = Utc::now();
        assert!(check_span("end", start, start + TimeDelta::days(31)).is_ok());
        assert!(check_span("end", start, start + TimeDelta::days(32)).is_err());
        assert!(check_span("end", start, start - TimeDelta::seconds(1)).is_err());
        assert!(check_count("session_ids", 1000, MAX_RERATE_SESSIONS).is_ok());
        assert!(check_count("session_ids", 1001, MAX_RERATE_SESSIONS).is_err());
        assert!(check_register_wh("wh", dec!(1000000000000)).is_ok());
        assert!(check_register_wh("wh", dec!(1000000000001)).is_err());
    }
}
