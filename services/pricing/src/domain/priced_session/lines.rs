//! The lines a price is published with (`joule.v1.PriceLine`, [`crate::wire::price_line`]): kept in
//! events so that an adjustment can reverse exactly what was published before.

use joule_tariff::{PriceBound, PricedSession as Breakdown};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A published price line; decimals as the wire writes them (normalised, unrounded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLine {
    pub dimension: String,
    pub description: String,
    pub volume: String,
    pub unit: String,
    pub unit_price: String,
    pub vat_percent: String,
    pub amount_excl_vat: String,
    pub amount_incl_vat: String,
}

/// `-d`: a sign flip, which `Decimal`'s symmetric range never overflows.
pub(super) fn negated(mut d: Decimal) -> Decimal {
    d.set_sign_negative(!d.is_sign_negative());
    d
}

impl WireLine {
    /// The same line with its volume and amounts negated: it cancels the original.
    pub fn reversed(&self) -> Self {
        let neg = |s: &str| {
            s.parse::<Decimal>()
                .map(|d| negated(d).normalize().to_string())
                .unwrap_or_else(|_| s.to_owned())
        };
        WireLine {
            description: format!("Reversal: {}", self.description),
            volume: neg(&self.volume),
            amount_excl_vat: neg(&self.amount_excl_vat),
            amount_incl_vat: neg(&self.amount_incl_vat),
            ..self.clone()
        }
    }
}

/// The VAT percentage that turns `excl` into `incl`; empty when there is none, or when the amounts
/// are so far apart that it is out of `Decimal`'s range (then no percentage is stated).
fn effective_vat_percent(excl: Decimal, incl: Decimal) -> String {
    if excl.is_zero() {
        return String::new();
    }
    incl.checked_sub(excl)
        .and_then(|vat| vat.checked_mul(Decimal::ONE_HUNDRED))
        .and_then(|vat| vat.checked_div(excl))
        .map(|percent| percent.normalize().to_string())
        .unwrap_or_default()
}

/// The published lines of a breakdown: one per component used, then, when `min_price`/`max_price`
/// moved the total, an adjustment line, then one per extra (idle fee, discount, subscription
/// allowance), so that the lines always add up to the totals. An adjustment's or a mixed-rate
/// extra's VAT percentage is the one that turns its excl.-VAT amount into its incl.-VAT amount,
/// empty when there is none.
pub fn wire_lines(b: &Breakdown) -> Vec<WireLine> {
    let s = |d: Decimal| d.normalize().to_string();
    let mut lines: Vec<WireLine> = b
        .lines
        .iter()
        .map(|l| WireLine {
            dimension: l.dimension.as_str().to_owned(),
            description: l.description.clone(),
            volume: s(l.volume),
            unit: l.unit.as_str().to_owned(),
            unit_price: s(l.unit_price),
            vat_percent: l.vat_percent.map(s).unwrap_or_default(),
            amount_excl_vat: s(l.amount_excl_vat),
            amount_incl_vat: s(l.amount_incl_vat),
        })
        .collect();
    if let Some(limit) = &b.price_limit {
        let bound = limit
            .excl_vat_bound
            .or(limit.incl_vat_bound)
            .unwrap_or(PriceBound::MaxPrice);
        let (dimension, description) = match bound {
            PriceBound::MinPrice => ("MIN_PRICE", "Minimum price of the tariff"),
            PriceBound::MaxPrice => ("MAX_PRICE", "Maximum price of the tariff"),
        };
        let (excl, incl) = (limit.adjustment_excl_vat, limit.adjustment_incl_vat);
        lines.push(WireLine {
            dimension: dimension.to_owned(),
            description: description.to_owned(),
            volume: "1".to_owned(),
            unit: "session".to_owned(),
            unit_price: s(excl),
            vat_percent: effective_vat_percent(excl, incl),
            amount_excl_vat: s(excl),
            amount_incl_vat: s(incl),
        });
    }
    lines.extend(b.extras.iter().map(|e| {
        WireLine {
            dimension: e.kind.as_str().to_owned(),
            description: e.description.clone(),
            volume: e.volume.map(s).unwrap_or_else(|| "1".to_owned()),
            unit: e.unit.clone().unwrap_or_else(|| "session".to_owned()),
            unit_price: e.unit_price.map(s).unwrap_or_else(|| s(e.amount_excl_vat)),
            vat_percent: e
                .vat_percent
                .map(s)
                .unwrap_or_else(|| effective_vat_percent(e.amount_excl_vat, e.amount_incl_vat)),
            amount_excl_vat: s(e.amount_excl_vat),
            amount_incl_vat: s(e.amount_incl_vat),
        }
    }));
    lines
}
