//! Given/when/then tests of the `AdjustmentNote` aggregate.

use super::*;
use chrono::TimeZone;
use cqrs_es::test::TestFramework;
use joule_store::Decided;
use rust_decimal_macros::dec;

type Notes = TestFramework<Decided<AdjustmentNote>>;

fn line(amount: Decimal) -> PricedLine {
    PricedLine {
        description: "Energy".into(),
        quantity: Some(dec!(20)),
        unit: "kWh".into(),
        unit_price: Some(dec!(0.3)),
        vat_percent: Some(dec!(10)),
        amount_excl_vat: amount,
    }
}

fn issue(sequence: u64) -> IssueAdjustment {
    IssueAdjustment {
        number: InvoiceNumber {
            year: 2026,
            sequence,
        },
        tenant_id: TenantId::default_tenant(),
        account_id: None,
        session_id: SessionId::derived("cp/1"),
        adjustment_id: "r1/s1".into(),
        reason: "tariff correction".into(),
        currency: Currency::EUR,
        lines: vec![line(dec!(-6)), line(dec!(5.6))],
        issued_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    }
}

#[test]
fn a_credit_note_rounds_each_line_and_may_be_negative() {
    let events = Notes::with(())
        .given_no_previous_events()
        .when(AdjustmentCommand::Issue(issue(1)))
        .inspect_result()
        .unwrap();
    let AdjustmentEvent::AdjustmentNoteIssued(note) = &events[0];
    // -6.00 (VAT -0.60) + 5.60 (VAT 0.56): -0.40, VAT -0.04, -0.44.
    assert_eq!(
        (note.total_excl_vat, note.total_vat, note.total_incl_vat),
        (dec!(-0.40), dec!(-0.04), dec!(-0.44))
    );
    assert_eq!(note_number(note.number), "CN-2026-000001");
    Notes::with(())
        .given(events.clone())
        .when(AdjustmentCommand::Issue(issue(1)))
        .then_expect_events(vec![]);
    Notes::with(())
        .given(events)
        .when(AdjustmentCommand::Issue(issue(2)))
        .then_expect_error(AdjustmentError::AlreadyIssued(InvoiceNumber {
            year: 2026,
            sequence: 1,
        }));
}

#[test]
fn notes_have_their_own_series() {
    let tenant = TenantId::default_tenant();
    assert_ne!(
        series_id(&tenant, 2026),
        crate::series::series_id(&tenant, 2026)
    );
}

#[test]
fn a_note_as_first_stored_reads_and_stores_the_same_json() {
    let session = SessionId::derived("cp/1").to_string();
    let stored = serde_json::json!({"AdjustmentNoteIssued": {
        "number": "2026-000001", "tenant_id": "default", "account_id": null,
        "session_id": session, "adjustment_id": "r1/s1", "reason": "tariff correction",
        "currency": "EUR",
        "lines": [{
            "description": "Energy", "quantity": "20", "unit": "kWh", "unit_price": "0.3",
            "vat_percent": "10", "amount_excl_vat": "-6.00", "vat": "-0.60",
            "amount_incl_vat": "-6.60", "session_id": session
        }],
        "total_excl_vat": "-6.00", "total_vat": "-0.60", "total_incl_vat": "-6.60",
        "issued_at": "2026-03-01T12:00:00Z"
    }});
    let event: AdjustmentEvent = serde_json::from_value(stored.clone()).expect("reads");
    let AdjustmentEvent::AdjustmentNoteIssued(note) = &event;
    assert_eq!(note.session_id, SessionId::derived("cp/1"));
    assert_eq!(serde_json::to_value(&event).unwrap(), stored);
    assert_eq!(event.event_version(), "1.0");
}
