//! The tariff engine: the OCPI 2.2.1 Tariff model and the pure functions that price with it.
//!
//! - [`Tariff::parse`] / [`Cdr::parse`] read OCPI 2.2.1 JSON and validate it; every error names the
//!   field by its path (`elements[0].price_components[1].price: must not be negative`).
//! - [`price_session`] prices one of Joule's own sessions ([`SessionUsage`]: times, energy, the site's
//!   zone, meter samples, end of charging), cut at every point where a restriction can change;
//!   [`price_cdr`] prices an OCPI CDR's charging periods. Both return a [`PricedSession`] that
//!   explains the price: a line per component, the periods with the components in force, per-dimension
//!   totals before and after `step_size`, `min_price`/`max_price` adjustments, extras and notes;
//!   [`OcpiTotals`] gives the CDR totals.
//! - Beyond OCPI: an idle fee (the tariff's `joule.idle_fee`), [`quote`], [`running_estimate`],
//!   [`apply_discounts`] and [`apply_subscription`].
//! - [`lint`] / [`lint_json`] and [`explain`] describe a tariff for operators and drivers;
//!   [`limits`] are the ranges Joule accepts for its numbers.
//!
//! The rules follow the OCPI 2.2.1 text with its errata, including where the `ocpi-tariffs` crate
//! departs from it (docs/adr/013). Amounts are never rounded here: that is the invoice's job, with
//! `joule_domain::Money`.
//!
//! This crate does no I/O and knows nothing of storage, events or invoices.
//!
//! Arithmetic on values from outside is checked: the values a tariff and a CDR may hold are bounded
//! (`limits`) so that no price can overflow, and `clippy::arithmetic_side_effects` keeps every other
//! operation explicit (checked, or saturating with its reason beside it). What a caller states
//! unbounded (a session's energy and times, sums over any number of periods) is checked and answers
//! [`PricingError::Overflow`] where it does not fit. Tests may use plain arithmetic.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod arith;
mod breakdown;
mod cdr;
mod coverage;
mod engine;
mod error;
mod explain;
mod extras;
mod json;
pub mod limits;
mod lint;
mod model;
mod parse;
mod periods;
mod restrictions;
mod totals;
mod usage;

pub use breakdown::{
    ComponentRef, DimensionTotal, ExtraKind, ExtraLine, PriceBound, PriceLimitApplied, PriceLine,
    PricedPeriod, PricedSession,
};
pub use cdr::{Cdr, CdrDimension, CdrPeriod, price_cdr, price_cdr_in_zone};
pub use engine::price_session;
pub use error::{PricingError, TariffError};
pub use explain::{explain, zone_of_country};
pub use extras::{
    Customer, Discount, DiscountScope, DiscountValue, QuoteRequest, RunningSession,
    SubscriptionPlan, apply_discounts, apply_subscription, quote, running_estimate,
};
pub use lint::{Finding, FindingKind, Severity, lint, lint_json};
pub use model::{
    DayOfWeek, Dimension, DisplayText, IdleFee, JouleExtensions, Price, PriceComponent,
    ReservationRestriction, Tariff, TariffElement, TariffRestrictions, TariffType, TimeOfDay, Unit,
};
pub use periods::PeriodState;
pub use totals::{OcpiTotals, PriceTotal};
pub use usage::SessionUsage;

/// Re-exported so callers name zones without depending on `chrono-tz` themselves.
pub use chrono_tz::Tz;
