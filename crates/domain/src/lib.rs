//! Joule's shared vocabulary: typed identifiers, [`Money`] in an ISO 4217 [`Currency`], and
//! [`Energy`] with an explicit unit.
//!
//! This crate owns no I/O and no business process; services build their aggregates from these types.
//! Rounding of money happens only in the named functions of [`money`], one per rule.

pub mod energy;
pub mod ids;
pub mod limits;
pub mod money;

pub use energy::Energy;
pub use ids::*;
pub use money::{Currency, CurrencyError, Money, MoneyError};
