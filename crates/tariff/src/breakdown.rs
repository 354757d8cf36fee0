//! The engine's answer: a priced session with everything needed to explain and audit its price.
//!
//! Amounts carry full [`Decimal`] precision; rounding to the currency's minor unit happens on the
//! invoice (`joule_domain::Money::round_invoice_line`), never here.

use chrono::{DateTime, Utc};
use joule_domain::{Currency, Energy};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::PricingError;
use crate::model::{Dimension, Unit};
use crate::periods::PeriodState;

/// A price component of the tariff, by position: `elements[element].price_components[component]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ComponentRef {
    pub element: usize,
    pub component: usize,
}

/// A session priced with a tariff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricedSession {
    /// The OCPI `id` of the tariff used.
    pub tariff_id: String,
    pub currency: Currency,
    /// IANA zone in which local-time restrictions were evaluated.
    pub time_zone: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Where charging ended and parking began, when it did within the session.
    pub charging_end: Option<DateTime<Utc>>,
    pub energy: Energy,
    /// One line per price component used, FLAT first, then ENERGY, TIME and PARKING_TIME.
    pub lines: Vec<PriceLine>,
    /// The session cut where the components in force change, with the component per dimension.
    pub periods: Vec<PricedPeriod>,
    /// Per dimension: volumes before and after `step_size`, and amounts.
    pub dimensions: Vec<DimensionTotal>,
    /// Sum of the lines, before `min_price` / `max_price`.
    pub subtotal_excl_vat: Decimal,
    pub subtotal_incl_vat: Decimal,
    /// Set when `min_price` or `max_price` changed the total.
    pub price_limit: Option<PriceLimitApplied>,
    /// What OCPI cannot express, applied after `min_price` / `max_price`: an idle fee, discounts,
    /// energy included in a subscription. Empty for a plain OCPI price.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<ExtraLine>,
    /// What is payable: the tariff's total (bounded by `min_price` / `max_price`) plus the extras.
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    /// Assumptions the engine made (a component without VAT, a restriction it could not check).
    pub notes: Vec<String>,
}

impl PricedSession {
    // The sums below saturate at `Decimal`'s edge, which the engine's sessions never reach: it
    // computes the tariff total checked, adds the idle fee checked, and discounts and allowances
    // lower what is payable but never below zero, so every partial sum of the extras lies between
    // minus the tariff total and the payable total.

    /// The OCPI price of the tariff alone: the total before the extras.
    pub fn tariff_total(&self) -> (Decimal, Decimal) {
        let (e, i) = self.extras_total();
        (
            self.total_excl_vat.saturating_sub(e).normalize(),
            self.total_incl_vat.saturating_sub(i).normalize(),
        )
    }

    /// The sum of the extras, excl. and incl. VAT.
    pub fn extras_total(&self) -> (Decimal, Decimal) {
        self.extras
            .iter()
            .fold((Decimal::ZERO, Decimal::ZERO), |(e, i), x| {
                (
                    e.saturating_add(x.amount_excl_vat),
                    i.saturating_add(x.amount_incl_vat),
                )
            })
    }

    /// Appends an extra line and moves the payable totals by its amounts (saturating at `Decimal`'s
    /// edge, for a line that is not a discount or an allowance of this crate).
    pub fn push_extra(&mut self, line: ExtraLine) {
        self.total_excl_vat = self
            .total_excl_vat
            .saturating_add(line.amount_excl_vat)
            .normalize();
        self.total_incl_vat = self
            .total_incl_vat
            .saturating_add(line.amount_incl_vat)
            .normalize();
        self.extras.push(line);
    }

    /// [`PricedSession::push_extra`] for a line that can raise the total (the idle fee): refuses
    /// one that would take it beyond `Decimal`.
    pub(crate) fn checked_push_extra(&mut self, line: ExtraLine) -> Result<(), PricingError> {
        let overflow = || PricingError::overflow("the total with the extras");
        let excl = self
            .total_excl_vat
            .checked_add(line.amount_excl_vat)
            .ok_or_else(overflow)?;
        let incl = self
            .total_incl_vat
            .checked_add(line.amount_incl_vat)
            .ok_or_else(overflow)?;
        (self.total_excl_vat, self.total_incl_vat) = (excl.normalize(), incl.normalize());
        self.extras.push(line);
        Ok(())
    }
}

/// What kind of price beyond OCPI an [`ExtraLine`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExtraKind {
    /// Overstay after charging ended and the grace period passed.
    IdleFee,
    /// Energy included in a subscription, credited at the energy lines' prices.
    SubscriptionAllowance,
    /// A percentage or amount off, for an account, a fleet or a promotion code.
    Discount,
    /// A subscription's monthly fee (on the subscription's own invoice).
    SubscriptionFee,
}

impl ExtraKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExtraKind::IdleFee => "IDLE_FEE",
            ExtraKind::SubscriptionAllowance => "SUBSCRIPTION_ALLOWANCE",
            ExtraKind::Discount => "DISCOUNT",
            ExtraKind::SubscriptionFee => "SUBSCRIPTION_FEE",
        }
    }
}

/// A priced line beyond OCPI. Credits are negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraLine {
    pub kind: ExtraKind,
    /// Where it comes from: `joule.idle_fee`, a discount id, a subscription plan id.
    pub source: String,
    pub description: String,
    /// Billed volume and its unit, when the line has one (idle hours, included kWh).
    pub volume: Option<Decimal>,
    pub unit: Option<String>,
    pub unit_price: Option<Decimal>,
    /// `None` when the line mixes rates (a discount on a whole session) or states none.
    pub vat_percent: Option<Decimal>,
    pub amount_excl_vat: Decimal,
    pub amount_incl_vat: Decimal,
}

/// The price of one component over the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceLine {
    pub dimension: Dimension,
    pub element: usize,
    pub component: usize,
    pub description: String,
    /// Volume consumed under this component, in `unit`, before `step_size`.
    pub consumed: Decimal,
    /// Volume billed, in `unit`: `consumed` plus any `step_size` rounding that fell to this component.
    pub volume: Decimal,
    pub unit: Unit,
    /// Price per `unit`, excluding VAT.
    pub unit_price: Decimal,
    /// `None` when the tariff states no VAT for the component (priced as 0 %).
    pub vat_percent: Option<Decimal>,
    pub amount_excl_vat: Decimal,
    pub amount_incl_vat: Decimal,
    /// The component prices a reservation (its element has a `reservation` restriction): OCPI
    /// counts it in `total_reservation_cost`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reservation: bool,
}

/// A stretch of the session during which the same components were in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedPeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub state: PeriodState,
    pub energy: Energy,
    /// The FLAT component that would apply here (FLAT is billed once, from the first period that has one).
    pub flat: Option<ComponentRef>,
    pub energy_component: Option<ComponentRef>,
    pub time: Option<ComponentRef>,
    pub parking_time: Option<ComponentRef>,
}

impl PricedPeriod {
    pub fn component(&self, dimension: Dimension) -> Option<ComponentRef> {
        match dimension {
            Dimension::Flat => self.flat,
            Dimension::Energy => self.energy_component,
            Dimension::Time => self.time,
            Dimension::ParkingTime => self.parking_time,
        }
    }
}

/// A dimension's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimensionTotal {
    pub dimension: Dimension,
    pub unit: Unit,
    pub consumed: Decimal,
    pub billed: Decimal,
    /// The `step_size` applied to this dimension (Wh or seconds), from the last component used.
    pub step_size: Option<u32>,
    pub amount_excl_vat: Decimal,
    pub amount_incl_vat: Decimal,
}

/// Which bound of the tariff applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PriceBound {
    MinPrice,
    MaxPrice,
}

/// How `min_price` / `max_price` moved the total; excl. and incl. VAT are bounded independently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceLimitApplied {
    pub excl_vat_bound: Option<PriceBound>,
    pub incl_vat_bound: Option<PriceBound>,
    /// total - subtotal.
    pub adjustment_excl_vat: Decimal,
    pub adjustment_incl_vat: Decimal,
}
