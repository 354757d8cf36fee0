//! Given/when/then tests of the `Invoice` aggregate.

use super::*;
use chrono::TimeZone;
use cqrs_es::test::TestFramework;
use joule_store::Decided;
use rust_decimal_macros::dec;

type Invoices = TestFramework<Decided<Invoice>>;

fn number(sequence: u64) -> InvoiceNumber {
    InvoiceNumber {
        year: 2026,
        sequence,
    }
}

fn line(amount: Decimal, vat: Option<Decimal>) -> PricedLine {
    PricedLine {
        description: "Energy".into(),
        quantity: Some(dec!(10.5)),
        unit: "kWh".into(),
        unit_price: Some(dec!(0.3999)),
        vat_percent: vat,
        amount_excl_vat: amount,
    }
}

fn issue(sequence: u64, account: Option<AccountId>, lines: Vec<PricedLine>) -> IssueInvoice {
    IssueInvoice {
        number: number(sequence),
        tenant_id: TenantId::default_tenant(),
        account_id: account,
        session_id: SessionId::derived("cp1/7"),
        currency: Currency::EUR,
        lines,
        issued_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    }
}

fn issued_event(cmd: &IssueInvoice) -> InvoiceEvent {
    let mut events = Invoices::with(())
        .given_no_previous_events()
        .when(InvoiceCommand::Issue(cmd.clone()))
        .inspect_result()
        .expect("issued");
    assert_eq!(events.len(), 1);
    events.remove(0)
}

#[test]
fn issuing_rounds_lines_and_sums_totals() {
    let account = AccountId::derived("acme");
    // 4.19895 -> 4.20, VAT 19 % of 4.20 = 0.798 -> 0.80; 1.004 -> 1.00, VAT 0.19; no VAT: 0.005 -> 0.01.
    let cmd = issue(
        1,
        Some(account),
        vec![
            line(dec!(4.19895), Some(dec!(19))),
            line(dec!(1.004), Some(dec!(19))),
            line(dec!(0.005), None),
        ],
    );
    let InvoiceEvent::InvoiceIssued(issued) = issued_event(&cmd);
    let amounts: Vec<_> = issued
        .lines
        .iter()
        .map(|l| (l.amount_excl_vat, l.vat, l.amount_incl_vat))
        .collect();
    assert_eq!(
        amounts,
        vec![
            (dec!(4.20), dec!(0.80), dec!(5.00)),
            (dec!(1.00), dec!(0.19), dec!(1.19)),
            (dec!(0.01), dec!(0), dec!(0.01))
        ]
    );
    assert_eq!(
        (
            issued.total_excl_vat,
            issued.total_vat,
            issued.total_incl_vat
        ),
        (dec!(5.21), dec!(0.99), dec!(6.20))
    );
    assert_eq!(issued.number, number(1));
    assert_eq!(issued.account_id, Some(account));
    assert_eq!(issued.session_ids, vec![SessionId::derived("cp1/7")]);
    assert!(issued.flags.is_empty());
}

#[test]
fn a_session_without_account_is_still_issued_and_flagged() {
    let InvoiceEvent::InvoiceIssued(issued) =
        issued_event(&issue(1, None, vec![line(dec!(3), Some(dec!(20)))]));
    assert_eq!(issued.account_id, None);
    assert_eq!(issued.flags, vec![InvoiceFlag::NoAccount]);
    assert_eq!(issued.total_incl_vat, dec!(3.60));
}

#[test]
fn issuing_again_under_the_same_number_emits_nothing() {
    let cmd = issue(1, None, vec![line(dec!(3), None)]);
    let first = issued_event(&cmd);
    Invoices::with(())
        .given(vec![first])
        .when(InvoiceCommand::Issue(cmd))
        .then_expect_events(vec![]);
}

#[test]
fn an_issued_invoice_never_takes_a_second_number() {
    let first = issued_event(&issue(1, None, vec![line(dec!(3), None)]));
    Invoices::with(())
        .given(vec![first])
        .when(InvoiceCommand::Issue(issue(
            2,
            None,
            vec![line(dec!(3), None)],
        )))
        .then_expect_error(InvoiceError::AlreadyIssued {
            issued: number(1),
            requested: number(2),
        });
}

#[test]
fn a_negative_total_is_refused_but_a_negative_cap_line_is_not() {
    Invoices::with(())
        .given_no_previous_events()
        .when(InvoiceCommand::Issue(issue(
            1,
            None,
            vec![line(dec!(1), None), line(dec!(-1.01), None)],
        )))
        .then_expect_error_message("the lines total -0.01 excl. VAT; a receipt cannot be negative");
    let issued = Invoices::with(())
        .given_no_previous_events()
        .when(InvoiceCommand::Issue(issue(
            1,
            None,
            vec![line(dec!(12), None), line(dec!(-2), None)],
        )))
        .inspect_result()
        .expect("a capped receipt is issued");
    let InvoiceEvent::InvoiceIssued(invoice) = &issued[0];
    assert_eq!(invoice.total_excl_vat, dec!(10.00));
    Invoices::with(())
        .given_no_previous_events()
        .when(InvoiceCommand::Issue(issue(
            1,
            None,
            vec![line(dec!(1), Some(dec!(-5)))],
        )))
        .then_expect_error(InvoiceError::NegativeVatPercent {
            line: 0,
            percent: dec!(-5),
        });
}

#[test]
fn the_number_must_come_from_the_year_of_issue() {
    let mut cmd = issue(1, None, vec![]);
    cmd.number = InvoiceNumber {
        year: 2025,
        sequence: 1,
    };
    Invoices::with(())
        .given_no_previous_events()
        .when(InvoiceCommand::Issue(cmd.clone()))
        .then_expect_error(InvoiceError::NumberOutsideYear {
            number: cmd.number,
            issued_at: cmd.issued_at,
        });
}

#[test]
fn a_session_priced_at_zero_gets_a_zero_receipt() {
    let InvoiceEvent::InvoiceIssued(issued) = issued_event(&issue(1, None, vec![]));
    assert!(issued.lines.is_empty());
    assert_eq!(issued.total_incl_vat, Decimal::ZERO);
}

#[test]
fn an_invoice_as_first_stored_reads_and_stores_the_same_json() {
    // `InvoiceIssued` 1.0 as the first release stored it: ids and amounts are strings.
    let session = SessionId::derived("cp1/7").to_string();
    let stored = serde_json::json!({"InvoiceIssued": {
        "number": "2026-000001", "tenant_id": "default",
        "account_id": AccountId::derived("acme").to_string(), "session_ids": [session],
        "currency": "EUR",
        "lines": [{
            "description": "Energy", "quantity": "10.5", "unit": "kWh", "unit_price": "0.3999",
            "vat_percent": "19", "amount_excl_vat": "4.20", "vat": "0.80", "amount_incl_vat": "5.00",
            "session_id": session
        }],
        "total_excl_vat": "4.20", "total_vat": "0.80", "total_incl_vat": "5.00",
        "issued_at": "2026-03-01T12:00:00Z", "flags": ["no_account"]
    }});
    let event: InvoiceEvent = serde_json::from_value(stored.clone()).expect("reads");
    let InvoiceEvent::InvoiceIssued(issued) = &event;
    assert_eq!(issued.number, number(1));
    assert_eq!(issued.account_id, Some(AccountId::derived("acme")));
    assert_eq!(issued.lines[0].session_id, SessionId::derived("cp1/7"));
    assert_eq!(serde_json::to_value(&event).unwrap(), stored);
    assert_eq!(event.event_version(), "1.0");
}
