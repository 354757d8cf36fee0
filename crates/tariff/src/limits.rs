//! The ranges Joule accepts for the numbers of a tariff, and the volumes of a CDR.
//!
//! OCPI bounds none of these. They are far above any real tariff and low enough that no price can
//! overflow `Decimal` (about 7.9e28): the largest price times the largest billable volume of a
//! session stays below 1e20. [`crate::Tariff::parse`] and [`crate::Cdr::parse`] refuse a value
//! outside them, naming the field, so the CLI, the REST API and pricing's gRPC all refuse the same
//! values. Where a tariff bounds what a request states too (energy, power, current, amounts of
//! money), the bound is the request's, from `joule_domain::limits` (ADR 024); so is a quote's
//! span ([`crate::quote`] checks it with `joule_domain::limits::check_quote`).

use joule_domain::Currency;
use rust_decimal::Decimal;

/// The largest price when the currency is unknown: per kWh, per hour or per session.
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// The largest price in `currency` (`price_components[].price`, `min_price`/`max_price`, the idle
/// fee's `price_per_hour` and `max_price`, excl. or incl. VAT): the largest amount a request may
/// state in it (`joule_domain::limits::max_amount`: 1,000,000 major units, more where the unit is
/// worth little).
pub fn max_price(currency: Option<Currency>) -> Decimal {
    currency.map_or(MAX_PRICE, joule_domain::limits::max_amount)
}

/// The largest `step_size`: a day in seconds for TIME and PARKING_TIME (86.4 kWh in Wh for ENERGY).
pub const MAX_STEP_SIZE: u32 = 86_400;

/// The largest `min_kwh`/`max_kwh`: a session's most energy.
pub const MAX_KWH: Decimal = joule_domain::limits::MAX_SESSION_ENERGY_KWH;

/// The largest `min_power`/`max_power`, in kW.
pub const MAX_POWER_KW: Decimal = joule_domain::limits::MAX_POWER_KW;

/// The largest `min_current`/`max_current`, in A.
pub const MAX_CURRENT_A: Decimal = joule_domain::limits::MAX_CURRENT_A;

/// The largest `min_duration`/`max_duration` and idle-fee grace period: 366 days, in seconds.
pub const MAX_DURATION_SECONDS: u64 = 366 * 24 * 3600;

/// The largest volume of one CDR dimension (kWh, hours, kW, A, percent) that [`crate::Cdr::parse`]
/// reads: a bound of the arithmetic, not of a request. Pricing's gRPC edge applies the request
/// limits (`joule_domain::limits`, ADR 024) on top.
pub const MAX_CDR_VOLUME: u32 = 1_000_000;
