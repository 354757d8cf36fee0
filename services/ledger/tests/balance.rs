//! Property: whatever lines an invoice has, its totals are the sums of its lines and the journal entry
//! it becomes balances, with the invoice's own amounts. Runs the real code path from priced lines
//! through the Invoice aggregate, its wire form and the ledger's posting rules to the JournalEntry
//! aggregate.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;
use joule_domain::{AccountId, Currency, InvoiceId, SessionId, TenantId};
use joule_invoicing::invoice::{Invoice, InvoiceCommand, InvoiceEvent, IssueInvoice};
use joule_invoicing::receipt::PricedLine;
use joule_invoicing::series::InvoiceNumber;
use joule_invoicing::wire::invoice_to_proto;
use joule_ledger::journal::{JournalCommand, JournalEntry, JournalError, JournalEvent};
use joule_ledger::rules::{ACCOUNTS_RECEIVABLE, REVENUE_CHARGING, VAT_PAYABLE, invoice_entry};
use joule_store::Decided;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal on the wire")
}

fn priced_line() -> impl Strategy<Value = PricedLine> {
    let vat = prop_oneof![
        Just(None),
        Just(Some(Decimal::ZERO)),
        Just(Some(Decimal::new(7, 0))),
        Just(Some(Decimal::new(19, 0))),
        Just(Some(Decimal::new(255, 1))),
        (0u32..=3000).prop_map(|bp| Some(Decimal::new(i64::from(bp), 2))),
    ];
    (0i64..50_000_000_000, 0u32..=8, vat).prop_map(|(units, scale, vat_percent)| PricedLine {
        description: "line".into(),
        quantity: None,
        unit: String::new(),
        unit_price: None,
        vat_percent,
        amount_excl_vat: Decimal::new(units, scale),
    })
}

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![Just("EUR"), Just("JPY"), Just("KWD"), Just("CHF")].prop_map(|c| c.parse().unwrap())
}

proptest! {
    #[test]
    fn every_invoice_totals_its_lines_and_posts_a_balanced_entry(
        lines in proptest::collection::vec(priced_line(), 0..10),
        currency in currency(),
    ) {
        let issued_at = Utc.with_ymd_and_hms(2026, 6, 1, 9, 30, 0).unwrap();
        let command = InvoiceCommand::Issue(IssueInvoice {
            number: InvoiceNumber { year: 2026, sequence: 42 },
            tenant_id: TenantId::default_tenant(),
            account_id: Some(AccountId::derived("prop")),
            session_id: SessionId::derived("prop/1"),
            currency,
            lines,
            issued_at,
        });
        let events = TestFramework::<Decided<Invoice>>::with(())
            .given_no_previous_events()
            .when(command)
            .inspect_result()
            .expect("non-negative lines are always issued");
        let [InvoiceEvent::InvoiceIssued(issued)] = events.as_slice() else {
            panic!("expected one InvoiceIssued, got {events:?}");
        };
        let invoice = invoice_to_proto(InvoiceId::derived("prop/1"), issued);

        // Totals are the sums of the (rounded) lines, on the wire too.
        let sum = |f: fn(&joule_proto::v1::InvoiceLine) -> &str| invoice.lines.iter().map(|l| dec(f(l))).sum::<Decimal>();
        prop_assert_eq!(dec(&invoice.total_excl_vat), sum(|l| &l.amount_excl_vat));
        prop_assert_eq!(dec(&invoice.total_vat), sum(|l| &l.vat));
        prop_assert_eq!(dec(&invoice.total_incl_vat), sum(|l| &l.amount_incl_vat));
        prop_assert_eq!(dec(&invoice.total_incl_vat), dec(&invoice.total_excl_vat) + dec(&invoice.total_vat));

        let (_, entry) = invoice_entry(&invoice, issued_at).expect("a well-formed invoice maps to an entry");
        let debits: Decimal = entry.postings.iter().map(|p| p.debit).sum();
        let credits: Decimal = entry.postings.iter().map(|p| p.credit).sum();
        prop_assert_eq!(debits, credits);
        prop_assert_eq!(debits, dec(&invoice.total_incl_vat));
        let amount = |account: &str| {
            entry.postings.iter().filter(|p| p.account == account).map(|p| p.debit + p.credit).sum::<Decimal>()
        };
        prop_assert_eq!(amount(REVENUE_CHARGING), dec(&invoice.total_excl_vat));
        prop_assert_eq!(amount(VAT_PAYABLE), dec(&invoice.total_vat));
        prop_assert_eq!(amount(ACCOUNTS_RECEIVABLE), dec(&invoice.total_incl_vat));

        // And the journal accepts it (or, for an invoice of zero, has nothing to post).
        let outcome = TestFramework::<Decided<JournalEntry>>::with(())
            .given_no_previous_events()
            .when(JournalCommand::Post(entry.clone()))
            .inspect_result();
        if entry.postings.is_empty() {
            prop_assert_eq!(dec(&invoice.total_incl_vat), Decimal::ZERO);
            prop_assert_eq!(outcome, Err(JournalError::Empty));
        } else {
            let events = outcome.expect("the journal accepts an invoice's entry");
            let [JournalEvent::JournalEntryPosted(posted)] = events.as_slice() else {
                panic!("expected one JournalEntryPosted, got {events:?}");
            };
            prop_assert_eq!(&posted.postings, &entry.postings);
        }
    }
}
