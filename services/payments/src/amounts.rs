//! Amount rules, with no I/O: what a request may ask for, what a priced session captures, and how much
//! a session holds.
//!
//! Every amount a provider sees is in whole minor units of its currency. The captured amount of a
//! priced session is computed exactly as its receipt is: each line's net rounded with
//! [`Money::round_invoice_line`], its VAT with [`Money::round_tax`] on the rounded net, and the gross
//! is the sum of the rounded lines. So the card is charged the invoice's `total_incl_vat` to the cent,
//! and the capture clears the receivable the invoice posted.

use std::collections::BTreeMap;
use std::str::FromStr;

use joule_domain::{AccountId, Currency, Money, SessionId, limits};
use joule_proto::v1::SessionPriced;
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct AmountError {
    pub field: String,
    pub reason: String,
}

impl AmountError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Whether `amount` is a whole number of `currency`'s minor units.
pub fn is_whole_minor_units(amount: Decimal, currency: Currency) -> bool {
    amount.normalize().scale() <= currency.minor_units()
}

/// A decimal string of a request: must parse, be positive (or zero when `allow_zero`), be in whole
/// minor units of the currency, and be at most the currency's maximum (`joule_domain::limits`).
pub fn parse_amount(
    field: &str,
    raw: &str,
    currency: Currency,
    allow_zero: bool,
) -> Result<Decimal, AmountError> {
    let amount = Decimal::from_str(raw.trim())
        .map_err(|_| AmountError::new(field, format!("{raw:?} is not a decimal amount")))?;
    limits::check_money(field, amount, currency, allow_zero)
        .map_err(|e| AmountError::new(e.field, e.reason))?;
    Ok(amount)
}

/// A currency field of a request; empty means `default`.
pub fn parse_currency(
    field: &str,
    raw: &str,
    default: Option<Currency>,
) -> Result<Currency, AmountError> {
    match (raw.trim(), default) {
        ("", Some(c)) => Ok(c),
        ("", None) => Err(AmountError::new(field, "is required")),
        (code, _) => code
            .parse()
            .map_err(|e: joule_domain::CurrencyError| AmountError::new(field, e.to_string())),
    }
}

/// What a priced session captures: its receipt's gross, line by line with the invoice rounding rules.
pub fn capture_amount(priced: &SessionPriced) -> Result<Money, AmountError> {
    let currency: Currency = priced
        .currency
        .parse()
        .map_err(|e: joule_domain::CurrencyError| AmountError::new("currency", e.to_string()))?;
    let mut gross = Money::zero(currency);
    for (i, line) in priced.lines.iter().enumerate() {
        let net = Decimal::from_str(line.amount_excl_vat.trim()).map_err(|_| {
            AmountError::new(
                format!("lines[{i}].amount_excl_vat"),
                format!("{:?} is not a decimal", line.amount_excl_vat),
            )
        })?;
        let vat_percent = match line.vat_percent.trim() {
            "" => Decimal::ZERO,
            v => Decimal::from_str(v).map_err(|_| {
                AmountError::new(
                    format!("lines[{i}].vat_percent"),
                    format!("{v:?} is not a decimal"),
                )
            })?,
        };
        let out_of_range = || AmountError::new(format!("lines[{i}]"), "is out of range");
        let net = Money::new(net, currency).round_invoice_line();
        let vat = net
            .amount
            .checked_mul(vat_percent)
            .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
            .ok_or_else(out_of_range)?;
        let vat = Money::new(vat, currency).round_tax();
        gross.amount = gross
            .amount
            .checked_add(net.amount)
            .and_then(|g| g.checked_add(vat.amount))
            .ok_or_else(out_of_range)?;
    }
    // A receipt never goes below zero (a price cap line cannot make the driver owed money).
    if gross.amount.is_sign_negative() {
        gross.amount = Decimal::ZERO;
    }
    Ok(gross)
}

/// The operator's hold per currency (`JOULE_PAYMENTS_DEFAULT_HOLDS`, `EUR=50.00,GBP=40.00`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultHolds(BTreeMap<Currency, Decimal>);

impl DefaultHolds {
    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        let mut map = BTreeMap::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (code, amount) = entry.split_once('=').ok_or_else(|| {
                AmountError::new(
                    "payments_default_holds",
                    format!("{entry:?} is not CURRENCY=AMOUNT"),
                )
            })?;
            let currency = parse_currency("payments_default_holds", code, None)?;
            let amount = parse_amount(
                &format!("payments_default_holds.{currency}"),
                amount,
                currency,
                false,
            )?;
            map.insert(currency, amount);
        }
        Ok(Self(map))
    }

    pub fn get(&self, currency: Currency) -> Option<Money> {
        self.0.get(&currency).map(|a| Money::new(*a, currency))
    }
}

/// What a session's hold is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldQuoteRequest {
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub charger_id: Option<String>,
    pub currency: Currency,
}

/// Where the amount of a session's hold comes from: the operator's settings ([`SettingsHoldAmount`]),
/// or pricing's quote with the settings as minimum and fallback ([`crate::quote::QuoteHoldAmount`]).
#[async_trait::async_trait]
pub trait HoldAmountSource: Send + Sync {
    /// `None`: no hold can be sized for this currency; the session is billed by invoice.
    async fn hold_amount(&self, request: &HoldQuoteRequest) -> Option<Money>;
}

pub struct SettingsHoldAmount(pub DefaultHolds);

#[async_trait::async_trait]
impl HoldAmountSource for SettingsHoldAmount {
    async fn hold_amount(&self, request: &HoldQuoteRequest) -> Option<Money> {
        self.0.get(request.currency)
    }
}

/// How a session's hold follows its running cost (`JOULE_PAYMENTS_HOLD_EXTENSION`,
/// `threshold=80,factor=1.5,step=10`): when the running cost (incl. VAT) reaches `threshold` percent
/// of what is held, the hold is raised to the running cost times `factor`, rounded up to a whole
/// `step` (major units), and by at least the amount first held. Raising by whole steps, and by no less
/// than the first hold, keeps the number of provider calls per session small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldRule {
    pub threshold_percent: Decimal,
    pub factor: Decimal,
    pub step: Decimal,
}

impl Default for HoldRule {
    fn default() -> Self {
        Self {
            threshold_percent: Decimal::from(80),
            factor: Decimal::new(15, 1),
            step: Decimal::from(10),
        }
    }
}

impl HoldRule {
    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        const FIELD: &str = "payments_hold_extension";
        let mut rule = Self::default();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| AmountError::new(FIELD, format!("{entry:?} is not NAME=VALUE")))?;
            let value = Decimal::from_str(value.trim())
                .map_err(|_| AmountError::new(FIELD, format!("{entry:?}: not a decimal")))?;
            match name.trim() {
                "threshold" if value > Decimal::ZERO && value <= Decimal::ONE_HUNDRED => {
                    rule.threshold_percent = value
                }
                "threshold" => {
                    return Err(AmountError::new(FIELD, "threshold must be in (0, 100]"));
                }
                "factor" if value >= Decimal::ONE => rule.factor = value,
                "factor" => return Err(AmountError::new(FIELD, "factor must be at least 1")),
                // Whole cents at most: the step is added to amounts of any two-decimal currency.
                "step" if value > Decimal::ZERO && value.normalize().scale() <= 2 => {
                    rule.step = value
                }
                "step" => {
                    return Err(AmountError::new(
                        FIELD,
                        "step must be positive, in whole cents",
                    ));
                }
                other => {
                    return Err(AmountError::new(
                        FIELD,
                        format!("unknown {other:?} (threshold, factor, step)"),
                    ));
                }
            }
        }
        Ok(rule)
    }

    /// The new total to hold for `running_cost` when `held` is held and `first` was held at start;
    /// `None` while the hold is still enough. A running cost so large that the target overflows
    /// asks for `Decimal::MAX`: more than any currency's maximum, so the engine refuses it
    /// (`amount_too_large`), the hold is exhausted and the charge is stopped.
    pub fn target(&self, running_cost: Decimal, held: Decimal, first: Decimal) -> Option<Decimal> {
        // threshold <= 100: the share of what is held is at most what is held.
        let share = held
            .checked_mul(self.threshold_percent)
            .and_then(|h| h.checked_div(Decimal::ONE_HUNDRED))
            .unwrap_or(held);
        if running_cost < share {
            return None;
        }
        let target = running_cost
            .checked_mul(self.factor)
            .and_then(|c| c.checked_div(self.step))
            .map(|steps| steps.ceil())
            .and_then(|steps| steps.checked_mul(self.step))
            .zip(held.checked_add(first.max(Decimal::ZERO)))
            .map(|(stepped, least)| stepped.max(least));
        Some(target.unwrap_or(Decimal::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use joule_proto::v1::PriceLine;
    use rust_decimal_macros::dec;

    fn line(net: &str, vat: &str) -> PriceLine {
        PriceLine {
            amount_excl_vat: net.into(),
            vat_percent: vat.into(),
            ..Default::default()
        }
    }

    #[test]
    fn amounts_must_be_positive_and_whole_minor_units() {
        let eur = Currency::EUR;
        assert_eq!(parse_amount("amount", "12.30", eur, false), Ok(dec!(12.30)));
        assert_eq!(
            parse_amount("amount", "12.300", eur, false),
            Ok(dec!(12.300))
        );
        assert_eq!(
            parse_amount("amount", "0", eur, false).unwrap_err().reason,
            "must be greater than zero"
        );
        assert!(parse_amount("amount", "0", eur, true).is_ok());
        assert_eq!(
            parse_amount("amount", "-1", eur, true).unwrap_err().reason,
            "must not be negative"
        );
        assert!(parse_amount("amount", "1.001", eur, false).is_err());
        assert!(parse_amount("amount", "ten", eur, false).is_err());
        let jpy: Currency = "JPY".parse().unwrap();
        assert!(parse_amount("amount", "10.5", jpy, false).is_err());
    }

    #[test]
    fn capture_rounds_each_line_like_the_invoice() {
        // 4.32075 -> 4.32 net, 19 % of 4.32 = 0.8208 -> 0.82; 0.50 + 0.095 -> 0.60 (0.095 rounds up).
        let priced = SessionPriced {
            currency: "EUR".into(),
            lines: vec![line("4.32075", "19"), line("0.50", "19")],
            ..Default::default()
        };
        assert_eq!(capture_amount(&priced).unwrap().amount, dec!(5.74));
        let free = SessionPriced {
            currency: "EUR".into(),
            ..Default::default()
        };
        assert_eq!(capture_amount(&free).unwrap().amount, dec!(0));
        let bad = SessionPriced {
            currency: "EUR".into(),
            lines: vec![line("x", "")],
            ..Default::default()
        };
        assert_eq!(
            capture_amount(&bad).unwrap_err().field,
            "lines[0].amount_excl_vat"
        );
    }

    #[test]
    fn default_holds_parse_and_refuse_bad_entries() {
        let holds = DefaultHolds::parse("EUR=50.00, JPY=5000").unwrap();
        assert_eq!(holds.get(Currency::EUR).unwrap().amount, dec!(50.00));
        assert!(holds.get("USD".parse().unwrap()).is_none());
        assert!(DefaultHolds::parse("EUR").is_err());
        assert!(DefaultHolds::parse("EUR=-5").is_err());
        assert!(DefaultHolds::parse("XXX=5").is_err());
        assert_eq!(DefaultHolds::parse("").unwrap(), DefaultHolds::default());
    }

    #[test]
    fn the_hold_follows_the_running_cost_in_steps() {
        let rule = HoldRule::default();
        // Below 80 % of 50: nothing.
        assert_eq!(rule.target(dec!(39.99), dec!(50), dec!(50)), None);
        // 40 x 1.5 = 60, but at least 50 + 50.
        assert_eq!(rule.target(dec!(40), dec!(50), dec!(50)), Some(dec!(100)));
        // 90 x 1.5 = 135 -> 140 (whole steps of 10), but at least 100 + 50.
        assert_eq!(rule.target(dec!(90), dec!(100), dec!(50)), Some(dec!(150)));
        assert_eq!(rule.target(dec!(97), dec!(100), dec!(30)), Some(dec!(150)));
        // 85 x 1.5 = 127.5 -> 130 beats 100 + 10.
        assert_eq!(rule.target(dec!(85), dec!(100), dec!(10)), Some(dec!(130)));
        // A running cost beyond any hold asks for more than any currency's maximum.
        assert_eq!(
            rule.target(Decimal::MAX, dec!(100), dec!(50)),
            Some(Decimal::MAX)
        );
        let fine = HoldRule::parse("threshold=50, factor=2, step=0.50").unwrap();
        assert_eq!(
            fine.target(dec!(10.10), dec!(20), dec!(0.10)),
            Some(dec!(20.50))
        );
    }

    #[test]
    fn hold_rules_parse_and_refuse_bad_entries() {
        assert_eq!(HoldRule::parse("").unwrap(), HoldRule::default());
        assert_eq!(
            HoldRule::parse("threshold=90").unwrap().threshold_percent,
            dec!(90)
        );
        assert!(HoldRule::parse("threshold=0").is_err());
        assert!(HoldRule::parse("threshold=101").is_err());
        assert!(HoldRule::parse("factor=0.5").is_err());
        assert!(HoldRule::parse("step=0").is_err());
        assert!(HoldRule::parse("step=0.001").is_err());
        assert!(HoldRule::parse("headroom=5").is_err());
        assert!(HoldRule::parse("factor").is_err());
    }
}
