//! The ranges Joule accepts for the numbers of a tariff and a CDR.
//!
//! OCPI bounds none of these. They are far above any real tariff or session and low enough that no
//! price can overflow `Decimal` (about 7.9e28): the largest price times the largest billable volume
//! of a session stays below 1e20. [`crate::Tariff::parse`] and [`crate::Cdr::parse`] refuse a
//! value outside them, naming the field, so the CLI, the REST API and pricing's gRPC all refuse the
//! same values.

use rust_decimal::Decimal;

/// The largest price: per kWh, per hour or per session (`price_components[].price`,
/// `min_price`/`max_price`, the idle fee's `price_per_hour` and `max_price`), excl. or incl. VAT.
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// The largest `step_size`: a day in seconds for TIME and PARKING_TIME (86.4 kWh in Wh for ENERGY).
pub const MAX_STEP_SIZE: u32 = 86_400;

/// The largest `min_kwh`/`max_kwh`.
pub const MAX_KWH: u32 = 100_000;

/// The largest `min_power`/`max_power`, in kW.
pub const MAX_POWER_KW: u32 = 10_000;

/// The largest `min_current`/`max_current`, in A.
pub const MAX_CURRENT_A: u32 = 10_000;

/// The largest `min_duration`/`max_duration` and idle-fee grace period: 366 days, in seconds.
pub const MAX_DURATION_SECONDS: u64 = 366 * 24 * 3600;

/// The largest volume of one CDR dimension (kWh, hours, kW, A, percent).
pub const MAX_CDR_VOLUME: u32 = 1_000_000;

/// The longest CDR or quoted session: 366 days.
pub const MAX_SESSION_SECONDS: i64 = 366 * 24 * 3600;
