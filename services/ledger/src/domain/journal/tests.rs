//! Given/when/then: what the journal posts and what it refuses, and the stored shape of its event.

use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;
use joule_store::Decided;
use rust_decimal_macros::dec;
use serde_json::json;

use super::*;

type Journal = TestFramework<Decided<JournalEntry>>;

fn entry(postings: Vec<Posting>) -> PostEntry {
    PostEntry {
        postings,
        source: Source {
            source_type: "invoice".into(),
            source_id: "inv-1".into(),
        },
        currency: Currency::EUR,
        description: "Invoice 2026-000001".into(),
        posted_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        party: None,
    }
}

fn balanced() -> PostEntry {
    entry(vec![
        Posting::debit("accounts_receivable", dec!(11.90)),
        Posting::credit("revenue_charging", dec!(10.00)),
        Posting::credit("vat_payable", dec!(1.90)),
    ])
}

fn posted(e: &PostEntry) -> JournalEvent {
    JournalEvent::JournalEntryPosted(PostedEntry {
        postings: e.postings.clone(),
        source: e.source.clone(),
        currency: e.currency,
        description: e.description.clone(),
        posted_at: e.posted_at,
        party: e.party.clone(),
    })
}

fn refuses(e: PostEntry, error: JournalError) {
    Journal::with(())
        .given_no_previous_events()
        .when(JournalCommand::Post(e))
        .then_expect_error(error);
}

#[test]
fn a_balanced_entry_is_posted() {
    let e = balanced();
    Journal::with(())
        .given_no_previous_events()
        .when(JournalCommand::Post(e.clone()))
        .then_expect_events(vec![posted(&e)]);
}

#[test]
fn posting_twice_emits_nothing() {
    let e = balanced();
    Journal::with(())
        .given(vec![posted(&e)])
        .when(JournalCommand::Post(e))
        .then_expect_events(vec![]);
}

#[test]
fn an_unbalanced_entry_is_refused() {
    refuses(
        entry(vec![
            Posting::debit("accounts_receivable", dec!(11.90)),
            Posting::credit("revenue_charging", dec!(10)),
        ]),
        JournalError::Unbalanced {
            debits: dec!(11.90),
            credits: dec!(10),
        },
    );
}

#[test]
fn an_empty_entry_is_refused() {
    refuses(entry(vec![]), JournalError::Empty);
}

#[test]
fn negative_amounts_are_refused() {
    refuses(
        entry(vec![
            Posting::debit("a", dec!(-1)),
            Posting::credit("b", dec!(-1)),
        ]),
        JournalError::Negative {
            line: 0,
            account: "a".into(),
        },
    );
}

#[test]
fn malformed_lines_are_refused_naming_the_line() {
    refuses(
        entry(vec![
            Posting::debit("a", dec!(1)),
            Posting::credit("b", dec!(1)),
            Posting::debit("c", dec!(0)),
        ]),
        JournalError::NoAmount {
            line: 2,
            account: "c".into(),
        },
    );
    refuses(
        entry(vec![Posting {
            account: "a".into(),
            debit: dec!(1),
            credit: dec!(1),
        }]),
        JournalError::BothSides {
            line: 0,
            account: "a".into(),
        },
    );
    refuses(
        entry(vec![
            Posting::debit(" ", dec!(1)),
            Posting::credit("b", dec!(1)),
        ]),
        JournalError::BlankAccount { line: 0 },
    );
    refuses(
        entry(vec![
            Posting::debit("a", dec!(1.001)),
            Posting::credit("b", dec!(1.001)),
        ]),
        JournalError::FinerThanMinorUnit {
            line: 0,
            account: "a".into(),
            currency: Currency::EUR,
        },
    );
    let mut e = balanced();
    e.source.source_id.clear();
    refuses(e, JournalError::NoSource);
}

#[test]
fn trailing_zeros_are_not_extra_precision() {
    let e = entry(vec![
        Posting::debit("a", dec!(1.2000)),
        Posting::credit("b", dec!(1.20)),
    ]);
    Journal::with(())
        .given_no_previous_events()
        .when(JournalCommand::Post(e.clone()))
        .then_expect_events(vec![posted(&e)]);
}

#[test]
fn an_entry_stored_at_1_0_reads_with_no_party_and_writes_back_as_1_1() {
    // As postgres-es stored it: `{"<Variant>": {...}}`, decimals as strings.
    let stored = json!({"JournalEntryPosted": {
        "postings": [
            {"account": "accounts_receivable", "debit": "11.90", "credit": "0"},
            {"account": "revenue_charging", "debit": "0", "credit": "11.90"}
        ],
        "source": {"source_type": "invoice", "source_id": "inv-1"},
        "currency": "EUR",
        "description": "Invoice 2026-000001",
        "posted_at": "2026-03-01T12:00:00Z"
    }});
    let (upcast, version) = joule_store::upcast::upcast(
        super::UPCASTERS,
        "JournalEntryPosted",
        "1.0",
        stored.clone(),
    );
    assert_eq!(version, "1.1");
    let event: JournalEvent = serde_json::from_value(upcast).unwrap();
    let JournalEvent::JournalEntryPosted(entry) = &event;
    assert_eq!(entry.currency, Currency::EUR);
    assert_eq!(entry.party, None);
    assert_eq!(
        entry.postings[0],
        Posting::debit("accounts_receivable", dec!(11.90))
    );
    let mut expected = stored;
    expected["JournalEntryPosted"]["party"] = serde_json::Value::Null;
    assert_eq!(serde_json::to_value(&event).unwrap(), expected);
}
