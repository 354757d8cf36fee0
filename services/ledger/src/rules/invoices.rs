//! Which journal entry an issued invoice (`InvoiceIssued`) becomes.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use joule_domain::{Currency, InvoiceId, JournalEntryId};
use joule_proto::v1;
use rust_decimal::Decimal;

use super::{ACCOUNTS_RECEIVABLE, FieldError, REVENUE_CHARGING, SOURCE_INVOICE, VAT_PAYABLE};
use crate::domain::journal::{PostEntry, Posting, Source, TransactionKind};

/// The journal entry that records an invoice: it is derived from the invoice, so a redelivered
/// invoice addresses the same entry.
pub fn entry_id_for_invoice(invoice_id: InvoiceId) -> JournalEntryId {
    JournalEntryId::derived(&format!("{SOURCE_INVOICE}/{invoice_id}"))
}

/// The invoice's entry: debit receivables with the gross, credit charging revenue with the net and
/// VAT payable with the VAT, each with the invoice's own rounded amount. Zero lines are left out; an
/// invoice of zero gives an entry without postings, which the caller does not post.
pub fn invoice_entry(
    invoice: &v1::Invoice,
    posted_at: DateTime<Utc>,
) -> Result<(JournalEntryId, PostEntry), FieldError> {
    let invoice_id: InvoiceId =
        invoice
            .id
            .parse()
            .map_err(|e: joule_domain::IdError| FieldError {
                field: "invoice.id",
                reason: e.to_string(),
            })?;
    let currency: Currency =
        invoice
            .currency
            .parse()
            .map_err(|e: joule_domain::CurrencyError| FieldError {
                field: "invoice.currency",
                reason: e.to_string(),
            })?;
    let amount = |field: &'static str, value: &str| {
        Decimal::from_str(value).map_err(|e| FieldError {
            field,
            reason: format!("{value:?} is not a decimal: {e}"),
        })
    };
    let gross = amount("invoice.total_incl_vat", &invoice.total_incl_vat)?;
    let net = amount("invoice.total_excl_vat", &invoice.total_excl_vat)?;
    let vat = amount("invoice.total_vat", &invoice.total_vat)?;
    let postings = [
        Posting::debit(ACCOUNTS_RECEIVABLE, gross),
        Posting::credit(REVENUE_CHARGING, net),
        Posting::credit(VAT_PAYABLE, vat),
    ]
    .into_iter()
    .filter(|p| !(p.debit.is_zero() && p.credit.is_zero()))
    .collect();
    let entry = PostEntry {
        postings,
        source: Source {
            source_type: SOURCE_INVOICE.into(),
            source_id: invoice_id.to_string(),
        },
        currency,
        description: format!("Invoice {}", invoice.number),
        posted_at,
        party: super::party(
            &invoice.account_id,
            TransactionKind::Charge,
            gross,
            match invoice.session_ids.as_slice() {
                [one] => one,
                _ => "",
            },
        )
        .map_err(|e| FieldError {
            field: "invoice.account_id",
            reason: e.to_string(),
        })?,
    };
    Ok((entry_id_for_invoice(invoice_id), entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn invoice(gross: &str, net: &str, vat: &str) -> v1::Invoice {
        v1::Invoice {
            id: InvoiceId::derived("s1").to_string(),
            number: "2026-000001".into(),
            currency: "EUR".into(),
            total_incl_vat: gross.into(),
            total_excl_vat: net.into(),
            total_vat: vat.into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_invoice_debits_receivables_and_credits_revenue_and_vat() {
        let (id, entry) = invoice_entry(&invoice("11.90", "10.00", "1.90"), Utc::now()).unwrap();
        assert_eq!(id, entry_id_for_invoice(InvoiceId::derived("s1")));
        assert_eq!(
            entry.postings,
            vec![
                Posting::debit(ACCOUNTS_RECEIVABLE, dec!(11.90)),
                Posting::credit(REVENUE_CHARGING, dec!(10.00)),
                Posting::credit(VAT_PAYABLE, dec!(1.90)),
            ]
        );
        assert_eq!(entry.source.source_id, InvoiceId::derived("s1").to_string());
        assert_eq!(entry.description, "Invoice 2026-000001");
    }

    #[test]
    fn zero_lines_are_left_out() {
        let (_, entry) = invoice_entry(&invoice("5.00", "5.00", "0.00"), Utc::now()).unwrap();
        assert_eq!(entry.postings.len(), 2);
        let (_, entry) = invoice_entry(&invoice("0.00", "0.00", "0.00"), Utc::now()).unwrap();
        assert!(entry.postings.is_empty());
    }

    #[test]
    fn bad_fields_are_named() {
        let field = |i: v1::Invoice| invoice_entry(&i, Utc::now()).unwrap_err().field;
        assert_eq!(field(invoice("x", "1", "1")), "invoice.total_incl_vat");
        let mut i = invoice("1", "1", "0");
        i.currency = "eur".into();
        assert_eq!(field(i), "invoice.currency");
        let mut i = invoice("1", "1", "0");
        i.id = "42".into();
        assert_eq!(field(i), "invoice.id");
    }
}
