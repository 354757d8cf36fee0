//! Joule's shared vocabulary: typed identifiers, [`Money`] in an ISO 4217 [`Currency`], and
//! [`Energy`] with an explicit unit.
//!
//! This crate owns no I/O and no business process; services build their aggregates from these types.
//! Rounding of money happens only in the named functions of [`money`], one per rule. The domain of
//! every value a charger sends is in [`bounds`].
//!
//! Arithmetic here never panics: `clippy::arithmetic_side_effects` is denied outside tests, and
//! sums of money and energy are `checked_*`.

#![deny(clippy::arithmetic_side_effects)]

pub mod bounds;
pub mod energy;
pub mod ids;
pub mod limits;
pub mod money;

pub use energy::Energy;
pub use ids::*;
pub use money::{Currency, CurrencyError, Money, MoneyError};
