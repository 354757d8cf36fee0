//! Arithmetic that cannot panic, for the few shapes the engine repeats: a sum that reports overflow,
//! a unit conversion (dividing by a constant of at least one), and a share of an amount.

use rust_decimal::Decimal;

/// The sum of `values`, or `None` when it does not fit a `Decimal`.
pub(crate) fn sum(values: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    values
        .into_iter()
        .try_fold(Decimal::ZERO, Decimal::checked_add)
}

/// `value / divisor` for a constant `divisor` of at least 1 (Wh per kWh, seconds per hour). The
/// quotient is no larger than `value`, so the division cannot overflow; the fallback only satisfies
/// the type.
pub(crate) fn per(value: Decimal, divisor: Decimal) -> Decimal {
    debug_assert!(divisor >= Decimal::ONE);
    value.checked_div(divisor).unwrap_or(value)
}

/// `amount * part / whole` for `0 <= part <= whole` and `whole > 0`: a share of `amount`, no larger
/// than it. The product comes first, for the exact result; only where it overflows (an amount near
/// `Decimal`'s edge) is the ratio taken first, which cannot overflow.
pub(crate) fn share(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal {
    debug_assert!(part >= Decimal::ZERO && part <= whole && whole > Decimal::ZERO);
    amount
        .checked_mul(part)
        .and_then(|p| p.checked_div(whole))
        .or_else(|| part.checked_div(whole).and_then(|r| amount.checked_mul(r)))
        .unwrap_or(amount)
}

/// `-value`. `Decimal` keeps a sign and a magnitude, so negation cannot overflow.
pub(crate) fn negated(value: Decimal) -> Decimal {
    Decimal::ZERO.saturating_sub(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn sums_report_overflow() {
        assert_eq!(sum([dec!(1.5), dec!(2)]), Some(dec!(3.5)));
        assert_eq!(sum([Decimal::MAX, Decimal::ONE]), None);
    }

    #[test]
    fn divides_even_the_largest_values() {
        assert_eq!(per(dec!(5400), dec!(3600)), dec!(1.5));
        assert_eq!(per(Decimal::MAX, dec!(1)), Decimal::MAX);
        assert_eq!(per(Decimal::MIN, dec!(1000)) * dec!(1000), Decimal::MIN);
    }

    #[test]
    fn a_share_of_the_largest_amount_does_not_overflow() {
        assert_eq!(share(dec!(7.2), dec!(1), dec!(6)), dec!(1.2));
        assert_eq!(
            share(Decimal::MAX, dec!(50), dec!(100)),
            Decimal::MAX / dec!(2)
        );
        assert_eq!(share(Decimal::MAX, dec!(1), dec!(1)), Decimal::MAX);
    }

    #[test]
    fn negation_flips_the_sign() {
        assert_eq!(negated(dec!(3.10)), dec!(-3.10));
        assert_eq!(negated(Decimal::MIN), Decimal::MAX);
        assert_eq!(negated(Decimal::ZERO).normalize(), Decimal::ZERO);
    }
}
