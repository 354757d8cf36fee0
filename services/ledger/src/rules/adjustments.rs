//! Which journal entry an adjustment note (`AdjustmentIssued`, issued by invoicing for a re-rated
//! session) becomes. A note that adds to the price is posted like an invoice (debit receivables,
//! credit revenue and VAT); a credit note reverses those sides. Each posting goes to the side its
//! sign calls for, so a note whose net and VAT move in opposite directions balances too.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use joule_domain::{Currency, InvoiceId, JournalEntryId};
use joule_proto::v1::AdjustmentIssued;
use rust_decimal::Decimal;

use super::{ACCOUNTS_RECEIVABLE, REVENUE_CHARGING, SOURCE_ADJUSTMENT, VAT_PAYABLE};
use crate::domain::journal::{PostEntry, Posting, Source, TransactionKind};

/// The entry of an adjustment note, derived from it so a redelivery addresses the same entry.
pub fn entry_id_for_adjustment(note_id: InvoiceId) -> JournalEntryId {
    JournalEntryId::derived(&format!("{SOURCE_ADJUSTMENT}/{note_id}"))
}

/// A posting of `amount` to `account` on its normal side (`debit_normal`), or on the other side
/// when the amount is negative.
fn signed(account: &str, amount: Decimal, debit_normal: bool) -> Posting {
    match (amount >= Decimal::ZERO, debit_normal) {
        (true, true) | (false, false) => Posting::debit(account, amount.abs()),
        (true, false) | (false, true) => Posting::credit(account, amount.abs()),
    }
}

/// The note's entry: receivables by the gross, revenue by the net and VAT payable by the VAT, each on
/// the side its sign calls for. Zero amounts are left out; a note of zero has no postings.
pub fn adjustment_entry(
    message: &AdjustmentIssued,
    posted_at: DateTime<Utc>,
) -> Result<(JournalEntryId, PostEntry), String> {
    let note = message
        .adjustment
        .as_ref()
        .ok_or("adjustment: is missing")?;
    let id: InvoiceId = note.id.parse().map_err(|e| format!("adjustment.id: {e}"))?;
    let currency: Currency = note
        .currency
        .parse()
        .map_err(|e| format!("adjustment.currency: {e}"))?;
    let amount = |field: &str, v: &str| {
        Decimal::from_str(v).map_err(|e| format!("adjustment.{field}: {v:?} is not a decimal: {e}"))
    };
    let gross = amount("total_incl_vat", &note.total_incl_vat)?;
    let net = amount("total_excl_vat", &note.total_excl_vat)?;
    let vat = amount("total_vat", &note.total_vat)?;
    let postings = [
        signed(ACCOUNTS_RECEIVABLE, gross, true),
        signed(REVENUE_CHARGING, net, false),
        signed(VAT_PAYABLE, vat, false),
    ]
    .into_iter()
    .filter(|p| !(p.debit.is_zero() && p.credit.is_zero()))
    .collect();
    Ok((
        entry_id_for_adjustment(id),
        PostEntry {
            postings,
            source: Source {
                source_type: SOURCE_ADJUSTMENT.into(),
                source_id: id.to_string(),
            },
            currency,
            description: format!("Adjustment {} ({})", note.number, message.reason),
            posted_at,
            party: super::party(
                &note.account_id,
                if gross < Decimal::ZERO {
                    TransactionKind::CreditNote
                } else {
                    TransactionKind::DebitNote
                },
                gross,
                &message.session_id,
            )
            .map_err(|e| format!("adjustment.{e}"))?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use joule_proto::v1::Invoice;
    use rust_decimal_macros::dec;

    fn note(gross: &str, net: &str, vat: &str) -> AdjustmentIssued {
        AdjustmentIssued {
            adjustment: Some(Invoice {
                id: InvoiceId::derived("adjustment/r1").to_string(),
                number: "CN-2026-000001".into(),
                currency: "EUR".into(),
                total_incl_vat: gross.into(),
                total_excl_vat: net.into(),
                total_vat: vat.into(),
                ..Default::default()
            }),
            adjustment_id: "r1/s1".into(),
            session_id: String::new(),
            reason: "tariff correction".into(),
        }
    }

    #[test]
    fn a_credit_note_reverses_the_invoice_sides_and_balances() {
        let (_, entry) = adjustment_entry(&note("-0.44", "-0.40", "-0.04"), Utc::now()).unwrap();
        assert_eq!(
            entry.postings,
            vec![
                Posting::credit(ACCOUNTS_RECEIVABLE, dec!(0.44)),
                Posting::debit(REVENUE_CHARGING, dec!(0.40)),
                Posting::debit(VAT_PAYABLE, dec!(0.04)),
            ]
        );
        crate::domain::journal::check(&entry).expect("a valid entry");
    }

    #[test]
    fn an_additional_charge_posts_like_an_invoice() {
        let (_, entry) = adjustment_entry(&note("0.88", "0.80", "0.08"), Utc::now()).unwrap();
        assert_eq!(
            entry.postings[0],
            Posting::debit(ACCOUNTS_RECEIVABLE, dec!(0.88))
        );
        crate::domain::journal::check(&entry).expect("a valid entry");
        let (_, zero) = adjustment_entry(&note("0.00", "0.00", "0.00"), Utc::now()).unwrap();
        assert!(zero.postings.is_empty());
    }
}
