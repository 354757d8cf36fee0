//! Receipt arithmetic, with no I/O: a priced line becomes an invoice line rounded by the domain's
//! rules, and the invoice totals are the sums of its rounded lines (never a rounding of sums, so the
//! printed lines always add up to the printed totals).

use joule_domain::{Currency, Money, SessionId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Amounts whose sum or product leaves a decimal's range (about 7.9 × 10^28): no receipt is
/// issued on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("amounts beyond a decimal's range: {0}")]
pub struct AmountOverflow(pub String);

/// A line as pricing computed it: full precision, not yet rounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub description: String,
    /// Billed volume (kWh, hours, 1 for a flat fee), when pricing gave one.
    pub quantity: Option<Decimal>,
    pub unit: String,
    pub unit_price: Option<Decimal>,
    /// VAT percentage; `None` when the tariff gives none, which bills no VAT.
    pub vat_percent: Option<Decimal>,
    pub amount_excl_vat: Decimal,
}

/// A line of an issued invoice. Amounts are in the invoice's currency and rounded to its minor unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub description: String,
    pub quantity: Option<Decimal>,
    pub unit: String,
    pub unit_price: Option<Decimal>,
    pub vat_percent: Option<Decimal>,
    pub amount_excl_vat: Decimal,
    pub vat: Decimal,
    pub amount_incl_vat: Decimal,
    pub session_id: SessionId,
}

impl InvoiceLine {
    /// Rounds the net with the invoice-line rule, then computes VAT on the rounded net with the tax
    /// rule; the gross is their sum and needs no rounding of its own.
    pub fn from_priced(
        line: &PricedLine,
        currency: Currency,
        session_id: SessionId,
    ) -> Result<Self, AmountOverflow> {
        let net = Money::new(line.amount_excl_vat, currency).round_invoice_line();
        let vat_percent = line.vat_percent.unwrap_or(Decimal::ZERO);
        let overflow = || {
            AmountOverflow(format!(
                "{} excl. VAT at {vat_percent} % VAT",
                line.amount_excl_vat
            ))
        };
        let vat = net
            .amount
            .checked_mul(vat_percent)
            .and_then(|v| v.checked_div(HUNDRED))
            .ok_or_else(overflow)?;
        let vat = Money::new(vat, currency).round_tax();
        let gross = net.amount.checked_add(vat.amount).ok_or_else(overflow)?;
        Ok(InvoiceLine {
            description: line.description.clone(),
            quantity: line.quantity,
            unit: line.unit.clone(),
            unit_price: line.unit_price,
            vat_percent: line.vat_percent,
            amount_excl_vat: net.amount,
            vat: vat.amount,
            amount_incl_vat: gross,
            session_id,
        })
    }
}

/// An invoice's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub excl_vat: Decimal,
    pub vat: Decimal,
    pub incl_vat: Decimal,
}

impl Totals {
    pub fn of(lines: &[InvoiceLine]) -> Result<Self, AmountOverflow> {
        lines.iter().try_fold(Totals::default(), |t, l| {
            let sum = |a: Decimal, b: Decimal| {
                a.checked_add(b)
                    .ok_or_else(|| AmountOverflow(format!("the lines' totals: {a} + {b}")))
            };
            Ok(Totals {
                excl_vat: sum(t.excl_vat, l.amount_excl_vat)?,
                vat: sum(t.vat, l.vat)?,
                incl_vat: sum(t.incl_vat, l.amount_incl_vat)?,
            })
        })
    }
}

/// The lines of a document (receipt or note) of one session, rounded, and their totals.
pub fn rounded(
    lines: &[PricedLine],
    currency: Currency,
    session_id: SessionId,
) -> Result<(Vec<InvoiceLine>, Totals), AmountOverflow> {
    let lines: Vec<InvoiceLine> = lines
        .iter()
        .map(|l| InvoiceLine::from_priced(l, currency, session_id))
        .collect::<Result<_, _>>()?;
    let totals = Totals::of(&lines)?;
    Ok((lines, totals))
}

/// The first line with a negative VAT percentage, which no document takes: its index and the
/// percentage.
pub fn negative_vat(lines: &[PricedLine]) -> Option<(usize, Decimal)> {
    lines.iter().enumerate().find_map(|(line, priced)| {
        priced
            .vat_percent
            .filter(|p| *p < Decimal::ZERO)
            .map(|percent| (line, percent))
    })
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests build their inputs with plain arithmetic"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn priced(amount: Decimal, vat_percent: Option<Decimal>) -> PricedLine {
        PricedLine {
            description: "Energy".into(),
            quantity: Some(dec!(12.345)),
            unit: "kWh".into(),
            unit_price: Some(dec!(0.35)),
            vat_percent,
            amount_excl_vat: amount,
        }
    }

    #[test]
    fn vat_is_computed_on_the_rounded_net() {
        let session = SessionId::derived("cp/1");
        // 4.32075 rounds to 4.32; 19 % of 4.32 is 0.8208 -> 0.82 (of the unrounded net it would be 0.8209).
        let line = InvoiceLine::from_priced(
            &priced(dec!(4.32075), Some(dec!(19))),
            Currency::EUR,
            session,
        )
        .unwrap();
        assert_eq!(line.amount_excl_vat, dec!(4.32));
        assert_eq!(line.vat, dec!(0.82));
        assert_eq!(line.amount_incl_vat, dec!(5.14));
    }

    #[test]
    fn half_cents_round_away_from_zero() {
        let session = SessionId::derived("cp/1");
        // 0.125 -> 0.13; 10 % of 0.13 = 0.013 -> 0.01. 2.5 % of 0.30 = 0.0075 -> 0.01.
        let a =
            InvoiceLine::from_priced(&priced(dec!(0.125), Some(dec!(10))), Currency::EUR, session)
                .unwrap();
        assert_eq!((a.amount_excl_vat, a.vat), (dec!(0.13), dec!(0.01)));
        let b =
            InvoiceLine::from_priced(&priced(dec!(0.30), Some(dec!(2.5))), Currency::EUR, session)
                .unwrap();
        assert_eq!(b.vat, dec!(0.01));
    }

    #[test]
    fn no_vat_percent_bills_no_vat_and_currencies_round_to_their_minor_unit() {
        let jpy: Currency = "JPY".parse().unwrap();
        let line =
            InvoiceLine::from_priced(&priced(dec!(1234.5), None), jpy, SessionId::derived("x"))
                .unwrap();
        assert_eq!(
            (line.amount_excl_vat, line.vat, line.amount_incl_vat),
            (dec!(1235), dec!(0), dec!(1235))
        );
    }

    #[test]
    fn amounts_beyond_a_decimal_are_refused_not_panicked_on() {
        let session = SessionId::derived("x");
        let huge = priced(Decimal::MAX, Some(dec!(19)));
        assert!(InvoiceLine::from_priced(&huge, Currency::EUR, session).is_err());
        let line =
            InvoiceLine::from_priced(&priced(Decimal::MAX, None), Currency::EUR, session).unwrap();
        assert!(Totals::of(&[line.clone(), line]).is_err());
    }

    proptest! {
        #[test]
        fn totals_are_the_sums_of_rounded_lines(
            lines in proptest::collection::vec((0i64..100_000_000, 0u32..7, prop::option::of(0u32..30)), 0..12)
        ) {
            let session = SessionId::derived("prop");
            let invoice_lines: Vec<InvoiceLine> = lines
                .iter()
                .map(|(units, scale, vat)| {
                    let line = priced(Decimal::new(*units, *scale), vat.map(Decimal::from));
                    InvoiceLine::from_priced(&line, Currency::EUR, session).unwrap()
                })
                .collect();
            let totals = Totals::of(&invoice_lines).unwrap();
            for line in &invoice_lines {
                prop_assert_eq!(line.amount_excl_vat, line.amount_excl_vat.round_dp(2));
                prop_assert_eq!(line.vat, line.vat.round_dp(2));
                prop_assert_eq!(line.amount_incl_vat, line.amount_excl_vat + line.vat);
            }
            prop_assert_eq!(totals.incl_vat, totals.excl_vat + totals.vat);
            prop_assert_eq!(totals.excl_vat, invoice_lines.iter().map(|l| l.amount_excl_vat).sum::<Decimal>());
            prop_assert_eq!(totals.vat, invoice_lines.iter().map(|l| l.vat).sum::<Decimal>());
        }
    }
}
