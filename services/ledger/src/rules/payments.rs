//! Which journal entry a money movement of the PAYMENT stream becomes.
//!
//! | event | entry |
//! |---|---|
//! | `PaymentAuthorized`, `PaymentHoldExtended` | memo: debit `payment_holds`, credit `payment_holds_contra` (the hold) |
//! | `PaymentCaptured` | memo released (captured + released); card: debit `cash_clearing`, credit `accounts_receivable` (a wallet top-up credits `wallet_liability`); wallet: debit `wallet_liability`, credit `accounts_receivable` |
//! | `PaymentVoided` | memo released |
//! | `PaymentRefunded` | debit `refunds` (contra revenue), credit `cash_clearing` (card) or `wallet_liability` (wallet) |
//! | `PaymentDunningStarted` | debit `accounts_receivable_dunning`, credit `accounts_receivable` |
//! | `WalletToppedUp` (external funds) | debit `bank`, credit `wallet_liability` (card-funded top-ups are posted at their capture) |
//! | `SettlementLineRecorded` | fee: debit `processor_fees`, credit `cash_clearing`; payout: debit `bank`, credit `cash_clearing` |
//!
//! Holds are memo entries: a pair of accounts that always nets to zero once every hold is captured or
//! released, so the trial balance shows what is held now without touching real balances. Each entry's
//! id derives from the message's event id, so a redelivered message posts nothing new.

use std::ops::Neg;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use joule_bus::Envelope;
use joule_domain::{Currency, JournalEntryId};
use joule_proto::v1;
use rust_decimal::Decimal;

use super::{
    ACCOUNTS_RECEIVABLE, ACCOUNTS_RECEIVABLE_DUNNING, BANK, CASH_CLEARING, FieldError,
    PAYMENT_HOLDS, PAYMENT_HOLDS_CONTRA, PROCESSOR_FEES, REFUNDS, SOURCE_PAYMENT,
    SOURCE_SETTLEMENT, SOURCE_WALLET, WALLET_LIABILITY,
};
use crate::domain::journal::{PostEntry, Posting, Source, TransactionKind};

fn field(field: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field,
        reason: reason.into(),
    }
}

fn decode<M: joule_proto::Message + Default + joule_proto::EventName>(
    envelope: &Envelope,
) -> Result<M, FieldError> {
    joule_bus::decode_payload(envelope).map_err(|e| field("payload", e.to_string()))
}

fn currency(raw: &str) -> Result<Currency, FieldError> {
    raw.parse()
        .map_err(|e: joule_domain::CurrencyError| field("currency", e.to_string()))
}

fn amount(name: &'static str, raw: &str) -> Result<Decimal, FieldError> {
    match raw.trim() {
        "" => Ok(Decimal::ZERO),
        v => Decimal::from_str(v).map_err(|_| field(name, format!("{v:?} is not a decimal"))),
    }
}

fn memo(amount: Decimal) -> [Posting; 2] {
    [
        Posting::debit(PAYMENT_HOLDS, amount),
        Posting::credit(PAYMENT_HOLDS_CONTRA, amount),
    ]
}

fn release(amount: Decimal) -> [Posting; 2] {
    [
        Posting::debit(PAYMENT_HOLDS_CONTRA, amount),
        Posting::credit(PAYMENT_HOLDS, amount),
    ]
}

/// A movement of `amount` from `credit` to `debit` (reversed when negative).
fn moved(debit: &str, credit: &str, amount: Decimal) -> [Posting; 2] {
    if amount.is_sign_negative() {
        [
            Posting::debit(credit, amount.abs()),
            Posting::credit(debit, amount.abs()),
        ]
    } else {
        [
            Posting::debit(debit, amount),
            Posting::credit(credit, amount),
        ]
    }
}

/// The entry a PAYMENT message becomes; `None` for messages that move no money (a failed hold, a
/// failed capture attempt, an exhausted hold) and for zero amounts.
pub fn payment_entry(
    envelope: &Envelope,
    posted_at: DateTime<Utc>,
) -> Result<Option<(JournalEntryId, PostEntry)>, FieldError> {
    let mut party = None;
    let (postings, cur, source_type, source_id, description): (
        Vec<Posting>,
        Currency,
        &str,
        String,
        String,
    ) = match envelope.event_type.as_str() {
        "joule.v1.PaymentAuthorized" => {
            let m: v1::PaymentAuthorized = decode(envelope)?;
            let a = amount("amount", &m.amount)?;
            (
                memo(a).to_vec(),
                currency(&m.currency)?,
                SOURCE_PAYMENT,
                m.intent_id,
                format!("Hold {} ({})", m.provider_reference, m.provider),
            )
        }
        "joule.v1.PaymentHoldExtended" => {
            let m: v1::PaymentHoldExtended = decode(envelope)?;
            let a = amount("amount", &m.amount)?;
            (
                memo(a).to_vec(),
                currency(&m.currency)?,
                SOURCE_PAYMENT,
                m.intent_id,
                format!("Hold extended ({})", m.mode),
            )
        }
        "joule.v1.PaymentCaptured" => {
            let m: v1::PaymentCaptured = decode(envelope)?;
            let captured = amount("amount", &m.amount)?;
            let released = amount("amount_released", &m.amount_released)?;
            let held = captured.checked_add(released).ok_or_else(|| FieldError {
                field: "amount_released",
                reason: format!("{captured} + {released} is beyond a decimal's range"),
            })?;
            let mut postings = release(held).to_vec();
            let (taken, kind) = match (m.kind.as_str(), m.purpose.as_str()) {
                ("wallet", _) => (
                    moved(WALLET_LIABILITY, ACCOUNTS_RECEIVABLE, captured),
                    TransactionKind::WalletPayment,
                ),
                (_, "wallet_top_up") => (
                    moved(CASH_CLEARING, WALLET_LIABILITY, captured),
                    TransactionKind::WalletTopUp,
                ),
                _ => (
                    moved(CASH_CLEARING, ACCOUNTS_RECEIVABLE, captured),
                    TransactionKind::Payment,
                ),
            };
            party = super::party(&m.account_id, kind, captured, &m.session_id)?;
            postings.extend(taken);
            (
                postings,
                currency(&m.currency)?,
                SOURCE_PAYMENT,
                m.intent_id,
                format!("Capture ({})", m.provider),
            )
        }
        "joule.v1.PaymentVoided" => {
            let m: v1::PaymentVoided = decode(envelope)?;
            let released = amount("amount_released", &m.amount_released)?;
            (
                release(released).to_vec(),
                currency(&m.currency)?,
                SOURCE_PAYMENT,
                m.intent_id,
                format!("Hold released ({})", m.reason),
            )
        }
        "joule.v1.PaymentRefunded" => {
            let m: v1::PaymentRefunded = decode(envelope)?;
            let a = amount("amount", &m.amount)?;
            party = super::party(&m.account_id, TransactionKind::Refund, a, &m.session_id)?;
            let postings = match (m.kind.as_str(), m.purpose.as_str()) {
                ("wallet", _) => moved(REFUNDS, WALLET_LIABILITY, a),
                (_, "wallet_top_up") => moved(WALLET_LIABILITY, CASH_CLEARING, a),
                _ => moved(REFUNDS, CASH_CLEARING, a),
            };
            (
                postings.to_vec(),
                currency(&m.currency)?,
                SOURCE_PAYMENT,
                m.intent_id,
                format!("Refund {} ({})", m.refund_id, m.reason),
            )
        }
        "joule.v1.PaymentDunningStarted" => {
            let m: v1::PaymentDunningStarted = decode(envelope)?;
            let a = amount("amount_due", &m.amount_due)?;
            (
                moved(ACCOUNTS_RECEIVABLE_DUNNING, ACCOUNTS_RECEIVABLE, a).to_vec(),
                currency(&m.currency)?,
                SOURCE_PAYMENT,
                m.intent_id,
                format!(
                    "Dunning after {} capture attempts ({})",
                    m.attempts, m.provider_code
                ),
            )
        }
        "joule.v1.WalletToppedUp" => {
            let m: v1::WalletToppedUp = decode(envelope)?;
            if m.funding != "external" {
                return Ok(None);
            }
            let a = amount("amount", &m.amount)?;
            party = super::party(&m.account_id, TransactionKind::WalletTopUp, a, "")?;
            (
                moved(BANK, WALLET_LIABILITY, a).to_vec(),
                currency(&m.currency)?,
                SOURCE_WALLET,
                m.wallet_id,
                format!("Wallet top-up {}", m.reference),
            )
        }
        "joule.v1.SettlementLineRecorded" => {
            let m: v1::SettlementLineRecorded = decode(envelope)?;
            let fee = amount("fee", &m.fee)?;
            let net = amount("net", &m.net)?;
            let mut postings = moved(PROCESSOR_FEES, CASH_CLEARING, fee).to_vec();
            if m.category == "payout" {
                // A payout leaves the provider balance (negative net) for the bank.
                // Negating a decimal flips its sign: it cannot overflow.
                postings.extend(moved(BANK, CASH_CLEARING, net.neg()));
            }
            (
                postings,
                currency(&m.currency)?,
                SOURCE_SETTLEMENT,
                m.line_id,
                format!(
                    "Settlement {} {} ({})",
                    m.category, m.transaction_id, m.provider
                ),
            )
        }
        _ => return Ok(None),
    };
    let postings: Vec<Posting> = postings
        .into_iter()
        .filter(|p| !(p.debit.is_zero() && p.credit.is_zero()))
        .collect();
    if postings.is_empty() {
        return Ok(None);
    }
    let entry_id = JournalEntryId::derived(&format!("{SOURCE_PAYMENT}/{}", envelope.event_id));
    Ok(Some((
        entry_id,
        PostEntry {
            postings,
            source: Source {
                source_type: source_type.into(),
                source_id,
            },
            currency: cur,
            description,
            posted_at,
            party,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use joule_bus::{EventMeta, envelope};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn env<M: joule_proto::Message + joule_proto::EventName>(m: &M) -> Envelope {
        envelope(
            m,
            EventMeta {
                event_id: "e1".into(),
                tenant_id: "default".into(),
                aggregate_type: "PaymentIntent".into(),
                aggregate_id: "i1".into(),
                sequence: 1,
                occurred_at: Utc::now(),
                correlation_id: String::new(),
                causation_id: String::new(),
            },
        )
    }

    fn postings(e: &Envelope) -> Vec<Posting> {
        payment_entry(e, Utc::now()).unwrap().unwrap().1.postings
    }

    /// The two postings that move `amount` into `debit` out of `credit`.
    fn movement(debit: &str, credit: &str, amount: Decimal) -> Vec<Posting> {
        vec![
            Posting::debit(debit, amount),
            Posting::credit(credit, amount),
        ]
    }

    #[test]
    fn a_hold_is_a_memo_and_its_capture_clears_the_receivable() {
        let held = env(&v1::PaymentAuthorized {
            intent_id: "i1".into(),
            currency: "EUR".into(),
            amount: "50.00".into(),
            kind: "card".into(),
            ..Default::default()
        });
        assert_eq!(
            postings(&held),
            movement(PAYMENT_HOLDS, PAYMENT_HOLDS_CONTRA, dec!(50.00))
        );
        let captured = env(&v1::PaymentCaptured {
            intent_id: "i1".into(),
            currency: "EUR".into(),
            amount: "12.34".into(),
            amount_released: "37.66".into(),
            kind: "card".into(),
            purpose: "session".into(),
            ..Default::default()
        });
        assert_eq!(
            postings(&captured),
            [
                movement(PAYMENT_HOLDS_CONTRA, PAYMENT_HOLDS, dec!(50.00)),
                movement(CASH_CLEARING, ACCOUNTS_RECEIVABLE, dec!(12.34)),
            ]
            .concat()
        );
    }

    #[test]
    fn wallet_payments_and_refunds_move_the_wallet_liability() {
        let captured = env(&v1::PaymentCaptured {
            currency: "EUR".into(),
            amount: "5.00".into(),
            amount_released: "0".into(),
            kind: "wallet".into(),
            purpose: "session".into(),
            ..Default::default()
        });
        assert_eq!(
            postings(&captured)[2..],
            movement(WALLET_LIABILITY, ACCOUNTS_RECEIVABLE, dec!(5.00))[..]
        );
        let refunded = env(&v1::PaymentRefunded {
            currency: "EUR".into(),
            amount: "2.00".into(),
            kind: "card".into(),
            purpose: "session".into(),
            ..Default::default()
        });
        assert_eq!(
            postings(&refunded),
            movement(REFUNDS, CASH_CLEARING, dec!(2.00))
        );
    }

    #[test]
    fn settlement_fees_and_payouts_leave_cash_clearing() {
        let payout = env(&v1::SettlementLineRecorded {
            line_id: "l1".into(),
            currency: "EUR".into(),
            category: "payout".into(),
            gross: "-18.22".into(),
            fee: "0.00".into(),
            net: "-18.22".into(),
            ..Default::default()
        });
        assert_eq!(
            postings(&payout),
            movement(BANK, CASH_CLEARING, dec!(18.22))
        );
        let charge = env(&v1::SettlementLineRecorded {
            currency: "EUR".into(),
            category: "charge".into(),
            gross: "23.80".into(),
            fee: "0.58".into(),
            net: "23.22".into(),
            ..Default::default()
        });
        assert_eq!(
            postings(&charge),
            movement(PROCESSOR_FEES, CASH_CLEARING, dec!(0.58))
        );
    }

    #[test]
    fn failures_move_no_money_and_bad_amounts_are_named() {
        let failed = env(&v1::PaymentFailed {
            currency: "EUR".into(),
            amount: "50.00".into(),
            ..Default::default()
        });
        assert!(payment_entry(&failed, Utc::now()).unwrap().is_none());
        let bad = env(&v1::PaymentAuthorized {
            currency: "EUR".into(),
            amount: "lots".into(),
            ..Default::default()
        });
        assert_eq!(payment_entry(&bad, Utc::now()).unwrap_err().field, "amount");
    }

    proptest! {
        #[test]
        fn every_capture_entry_balances(
            captured in 0i64..10_000_000,
            released in 0i64..10_000_000,
            kind in prop_oneof![Just("card"), Just("wallet")],
            purpose in prop_oneof![Just("session"), Just("wallet_top_up")],
        ) {
            let m = v1::PaymentCaptured {
                intent_id: "i1".into(),
                currency: "EUR".into(),
                amount: Decimal::new(captured, 2).to_string(),
                amount_released: Decimal::new(released, 2).to_string(),
                kind: kind.into(),
                purpose: purpose.into(),
                ..Default::default()
            };
            if let Some((_, entry)) = payment_entry(&env(&m), Utc::now()).unwrap() {
                prop_assert_eq!(crate::domain::journal::check(&entry), Ok(()));
            }
        }
    }
}
