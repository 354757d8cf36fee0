//! Money: an exact [`Decimal`] amount in an ISO 4217 [`Currency`].
//!
//! Amounts keep full precision while they flow through pricing. They are rounded to the currency's
//! minor unit at exactly two points, each with its own function: [`Money::round_invoice_line`] and
//! [`Money::round_tax`]. Nothing else rounds money.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// ISO 4217 currencies Joule accepts, with their minor units.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PLN", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("TND", 3),
    ("TRY", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency {0:?}: expected an ISO 4217 code such as EUR")]
pub struct CurrencyError(pub String);

/// An ISO 4217 currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: [u8; 3],
    minor_units: u32,
}

impl Currency {
    pub const EUR: Currency = Currency {
        code: *b"EUR",
        minor_units: 2,
    };

    pub fn code(&self) -> &str {
        // The code is always three ASCII capitals, checked in `from_str`.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Digits after the decimal point of the currency's minor unit (EUR 2, JPY 0, KWD 3).
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }

    /// `amount` as the API and the wire write it: with the minor unit's digits when it has no more
    /// significant ones (`12.30` for 12.3 or 12.3000 EUR), else with its significant digits (an
    /// unrounded unit price or estimate, `0.3945`). Only trailing zeros change: never the value.
    pub fn written(&self, amount: Decimal) -> Decimal {
        let mut written = amount.normalize();
        if written.scale() < self.minor_units {
            written.rescale(self.minor_units);
        }
        written
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == s)
            .map(|(code, minor_units)| {
                let b = code.as_bytes();
                Currency {
                    code: [b[0], b[1], b[2]],
                    minor_units: *minor_units,
                }
            })
            .ok_or_else(|| CurrencyError(s.to_owned()))
    }
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount beyond a decimal's range: {0} and {1}")]
    Overflow(Money, Money),
}

/// An amount of money. Full precision until one of the rounding functions is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: Decimal::ZERO,
            currency,
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow(self, other))?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow(self, other))?;
        Ok(Money::new(amount, self.currency))
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    /// The rounding rule for an invoice line: to the currency's minor unit, half away from zero.
    pub fn round_invoice_line(self) -> Money {
        self.round_to_minor_unit()
    }

    /// The rounding rule for a tax amount: computed on the rounded net of a line, rounded to the
    /// currency's minor unit, half away from zero.
    pub fn round_tax(self) -> Money {
        self.round_to_minor_unit()
    }

    fn round_to_minor_unit(self) -> Money {
        Money::new(
            self.amount.round_dp_with_strategy(
                self.currency.minor_units(),
                RoundingStrategy::MidpointAwayFromZero,
            ),
            self.currency,
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
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

    #[test]
    fn currencies_parse_with_their_minor_units() {
        assert_eq!("EUR".parse::<Currency>().unwrap().minor_units(), 2);
        assert_eq!("JPY".parse::<Currency>().unwrap().minor_units(), 0);
        assert_eq!("KWD".parse::<Currency>().unwrap().minor_units(), 3);
        assert!("eur".parse::<Currency>().is_err());
        assert!("XYZ".parse::<Currency>().is_err());
    }

    #[test]
    fn amounts_are_written_with_at_least_the_minor_units_digits() {
        let eur: Currency = "EUR".parse().unwrap();
        let jpy: Currency = "JPY".parse().unwrap();
        let written = |c: Currency, s: &str| c.written(s.parse().unwrap()).to_string();
        assert_eq!(written(eur, "0.5"), "0.50");
        assert_eq!(written(eur, "12.3000"), "12.30");
        assert_eq!(written(eur, "1"), "1.00");
        assert_eq!(written(eur, "0.3945"), "0.3945");
        assert_eq!(written(jpy, "150.0"), "150");
    }

    #[test]
    fn invoice_line_rounds_half_away_from_zero_to_minor_unit() {
        let eur = Currency::EUR;
        assert_eq!(
            Money::new(dec!(1.005), eur).round_invoice_line().amount,
            dec!(1.01)
        );
        assert_eq!(
            Money::new(dec!(1.0049), eur).round_invoice_line().amount,
            dec!(1.00)
        );
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(
            Money::new(dec!(12.5), jpy).round_invoice_line().amount,
            dec!(13)
        );
    }

    #[test]
    fn sums_beyond_a_decimal_fail_instead_of_panicking() {
        let max = Money::new(Decimal::MAX, Currency::EUR);
        assert!(matches!(
            max.checked_add(max),
            Err(MoneyError::Overflow(..))
        ));
        let min = Money::new(Decimal::MIN, Currency::EUR);
        assert!(matches!(
            min.checked_sub(max),
            Err(MoneyError::Overflow(..))
        ));
    }

    #[test]
    fn adding_different_currencies_fails() {
        let usd: Currency = "USD".parse().unwrap();
        assert!(
            Money::new(dec!(1), Currency::EUR)
                .checked_add(Money::new(dec!(1), usd))
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn rounding_moves_at_most_half_a_minor_unit(cents in -10_000_000i64..10_000_000, extra in 0u32..10_000) {
            let amount = Decimal::new(cents, 2) + Decimal::new(extra as i64, 6);
            let rounded = Money::new(amount, Currency::EUR).round_invoice_line().amount;
            prop_assert!((rounded - amount).abs() <= dec!(0.005));
            prop_assert_eq!(rounded, rounded.round_dp(2));
        }
    }
}
