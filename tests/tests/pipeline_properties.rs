//! Issue 11, end to end in one process: every OCPP message type, with extreme numbers and hostile
//! strings, from the raw frame through gateway → sessions → pricing → invoicing → ledger without a
//! panic, each case in one run and in memory (no PostgreSQL, no NATS: [`pipeline::stages`] says
//! which code runs at each stage and what stands in for the databases).
//!
//! For every generated charger ([`pipeline::charger`]):
//! - every frame is read or answered with a typed CALLERROR, never an infrastructure failure;
//! - every completed session bills a domain-bounded energy that pricing accepts as it is, every
//!   tariff prices it, the published lines add up to the priced totals, the invoice's totals are
//!   the lines rounded as invoicing rounds them (within half a cent a line of the price), and the
//!   ledger posts an entry whose debits equal its credits;
//! - a value outside its domain takes no part in any of it: the case bills exactly what its twin
//!   (the same frames with those values taken out) bills, session by session and tariff by
//!   tariff.
//!
//! Honest chargers of both versions must come out priced, invoiced and posted with a positive total
//! and no flag, so that the properties cannot hold by refusing everything.
//!
//! Run: `cargo test -p joule-e2e --test pipeline_properties` (256 cases; `PROPTEST_CASES` for more).

mod pipeline;

use chrono::{DateTime, Duration, Utc};
use joule_domain::bounds::ENERGY_REGISTER_MAX_WH;
use joule_domain::{Currency, Money};
use joule_proto::time::from_proto;
use pipeline::charger::{self, Case, Clock, Form, MeterValue, Register, Slot, Stop, Transaction};
use pipeline::stages::{Billed, Invoicing, Ledger, Pipeline, Price, Run};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rust_decimal::Decimal;
use serde_json::json;

/// Cases per run: a few seconds in a debug build.
const CASES: u32 = 256;

/// When the sweeper closes what is left open and the sessions are priced: three days after the
/// first frame, past the inactivity limit.
fn closing() -> DateTime<Utc> {
    charger::first_received() + Duration::days(3)
}

fn run(case: &Case, twin: bool) -> Run {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(Pipeline::new(case.v201).run(&case.deliveries(twin), closing()))
}

fn decimal(field: &str, text: &str) -> Result<Decimal, TestCaseError> {
    text.parse()
        .map_err(|e| TestCaseError::fail(format!("{field} {text:?} is not a decimal: {e}")))
}

/// The invariants of one run.
fn check(run: &Run) -> Result<(), TestCaseError> {
    for refused in &run.calls_refused {
        prop_assert!(!refused.is_infrastructure(), "{refused}");
    }
    for (id, billed) in &run.sessions {
        if let Some(billed) = billed {
            check_session(id, billed)?;
        }
    }
    Ok(())
}

fn check_session(id: &str, billed: &Billed) -> Result<(), TestCaseError> {
    let completed = &billed.completed;
    let energy = decimal("energy_wh", &completed.energy_wh)?;
    prop_assert!(
        energy >= Decimal::ZERO && energy <= ENERGY_REGISTER_MAX_WH,
        "session {id} bills {energy} Wh"
    );
    for register in [&completed.meter_start_wh, &completed.meter_stop_wh] {
        let wh = decimal("register", register)?;
        prop_assert!(wh >= Decimal::ZERO && wh <= ENERGY_REGISTER_MAX_WH);
    }
    let started_at = from_proto(completed.started_at.as_ref());
    prop_assert!(started_at.is_some() && started_at <= from_proto(completed.stopped_at.as_ref()));
    for (tariff, priced) in &billed.by_tariff {
        let fail = |what: String| {
            Err(TestCaseError::fail(format!(
                "session {id} ({energy} Wh), {tariff}: {what}"
            )))
        };
        let (message, invoicing) = match priced {
            Price::Priced { message, invoicing } => (message, invoicing),
            Price::Unpriceable(reason) => return fail(format!("pricing cannot read it: {reason}")),
            Price::Failed(reason) => return fail(format!("not priced: {reason}")),
        };
        // What was billed is what sessions completed: nothing flagged came in on the way.
        prop_assert_eq!(decimal("priced energy", &message.energy_wh)?, energy);
        let currency: Currency = message.currency.parse().expect("a currency");
        let (mut excl, mut incl, mut rounded) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for line in &message.lines {
            let line_excl = decimal("amount_excl_vat", &line.amount_excl_vat)?;
            excl += line_excl;
            incl += decimal("amount_incl_vat", &line.amount_incl_vat)?;
            rounded += Money::new(line_excl, currency).round_invoice_line().amount;
        }
        let total_excl = decimal("total_excl_vat", &message.total_excl_vat)?;
        prop_assert_eq!(excl, total_excl, "{} lines", tariff);
        prop_assert_eq!(incl, decimal("total_incl_vat", &message.total_incl_vat)?);
        let (invoice, ledger) = match invoicing {
            Invoicing::Issued { invoice, ledger } => (invoice, ledger),
            Invoicing::Unreadable(e) => return fail(format!("SessionPriced unreadable: {e}")),
            Invoicing::NotNumbered(e) => return fail(format!("no invoice number: {e}")),
            Invoicing::Refused(e) => return fail(format!("no receipt: {e}")),
        };
        let invoice_excl = decimal("invoice excl", &invoice.total_excl_vat)?;
        let invoice_vat = decimal("invoice vat", &invoice.total_vat)?;
        let invoice_incl = decimal("invoice incl", &invoice.total_incl_vat)?;
        // The invoice total is the priced total rounded as invoicing rounds: line by line.
        prop_assert_eq!(invoice_excl, rounded);
        let half_cent = Decimal::new(5, 3);
        let lines = Decimal::from(message.lines.len());
        prop_assert!((invoice_excl - total_excl).abs() <= half_cent * lines);
        prop_assert_eq!(invoice_incl, invoice_excl + invoice_vat);
        match ledger {
            Ledger::Posted(entry) => {
                let debits: Decimal = entry.postings.iter().map(|p| p.debit).sum();
                let credits: Decimal = entry.postings.iter().map(|p| p.credit).sum();
                prop_assert_eq!(debits, credits, "entry of {} does not balance", id);
                prop_assert_eq!(debits, invoice_incl);
            }
            Ledger::NothingToPost => prop_assert!(invoice_incl.is_zero()),
            Ledger::Unreadable(e) => return fail(format!("InvoiceIssued unreadable: {e}")),
            Ledger::Refused(e) => {
                return fail(format!("invoice {} not posted: {e}", invoice.number));
            }
        }
    }
    Ok(())
}

/// What a run bills, session by session (in the order they began) and tariff by tariff: energy,
/// priced totals, invoice totals.
fn billing(run: &Run) -> Vec<Option<(String, Vec<String>)>> {
    run.sessions
        .iter()
        .map(|(_, billed)| {
            billed.as_ref().map(|b| {
                let totals = b
                    .by_tariff
                    .iter()
                    .map(|(tariff, priced)| match priced {
                        Price::Priced {
                            message,
                            invoicing: Invoicing::Issued { invoice, .. },
                        } => format!(
                            "{tariff}: {} / {} priced, {} / {} invoiced",
                            message.total_excl_vat,
                            message.total_incl_vat,
                            invoice.total_excl_vat,
                            invoice.total_incl_vat
                        ),
                        other => format!("{tariff}: {other:?}"),
                    })
                    .collect();
                (b.completed.energy_wh.clone(), totals)
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn every_message_reaches_the_ledger_and_no_value_out_of_range_is_billed(case in charger::case()) {
        let hostile = run(&case, false);
        check(&hostile)?;
        if case.has_hostile_values() {
            let twin = run(&case, true);
            check(&twin)?;
            prop_assert_eq!(billing(&hostile), billing(&twin));
        }
    }
}

/// An honest charger: one transaction of the known token, 1000 Wh → 13,500 Wh over 21 minutes
/// (readings at 6,000 and 11,000 Wh), clocks right, registers in `form`.
fn honest(v201: bool, form: Form) -> Case {
    let register = |wh| Register {
        wh,
        slot: Slot::Honest(form),
    };
    let reading = |wh| MeterValue {
        clock: Clock::Behind(0),
        register: register(wh),
        others: vec![charger::Other {
            measurand: "Power.Active.Import".into(),
            value: json!("22000"),
        }],
    };
    Case {
        v201,
        transactions: vec![Transaction {
            id_tag: charger::KNOWN_TAG.into(),
            connector: json!(1),
            start_clock: Clock::Behind(0),
            start: register(1000),
            meter_values: vec![reading(6000), reading(11_000)],
            stop: Some(Stop {
                clock: Clock::Behind(0),
                register: register(13_500),
                id_tag: None,
                reason: Some("Local".into()),
                data: true,
            }),
            id_field: None,
            seq_no: None,
            updated_as: "Updated",
            offline: json!(false),
        }],
        noise: vec![],
        redelivered: None,
        bare_non_finite: false,
    }
}

#[test]
fn honest_chargers_are_priced_invoiced_and_posted() {
    for v201 in [false, true] {
        for form in [Form::Number, Form::Text, Form::Kwh, Form::Multiplier] {
            let case = honest(v201, form);
            assert!(!case.has_hostile_values());
            let run = run(&case, false);
            check(&run).unwrap_or_else(|e| panic!("v201 {v201}, {form:?}: {e}"));
            assert!(run.frames_refused.is_empty() && run.calls_refused.is_empty());
            assert_eq!(run.sessions.len(), 1, "{:?}", run.sessions);
            let billed = run.sessions[0].1.as_ref().expect("the session completed");
            assert_eq!(billed.completed.energy_wh, "12500");
            assert!(billed.flags.is_empty(), "{:?}", billed.flags);
            assert!(run.charger_flags.is_empty(), "{:?}", run.charger_flags);
            assert_eq!(billed.by_tariff.len(), 4);
            for (tariff, priced) in &billed.by_tariff {
                let Price::Priced {
                    invoicing:
                        Invoicing::Issued {
                            invoice,
                            ledger: Ledger::Posted(entry),
                        },
                    ..
                } = priced
                else {
                    panic!("{tariff}: {priced:?}");
                };
                let total: Decimal = invoice.total_incl_vat.parse().unwrap();
                assert!(total > Decimal::ZERO, "{tariff}: {total}");
                assert_eq!(entry.postings.len(), 3, "{tariff}: {entry:?}");
            }
        }
    }
}
