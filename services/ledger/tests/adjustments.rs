//! Re-rating downstream, against real PostgreSQL and NATS: a `SessionPriceAdjusted` from pricing
//! becomes an adjustment note in its own gapless series (invoicing) and a balanced journal entry
//! (ledger), each once however often the message is delivered.

use std::time::Duration;

use chrono::Utc;
use joule_bus::{Bus, Domain, decode_payload};
use joule_domain::{AccountId, SessionId};
use joule_proto::EventName;
use joule_proto::v1;
use joule_testkit::{TestEnv, eventually};

async fn publish_adjustment(bus: &Bus, m: &v1::SessionPriceAdjusted, delivery: &str) {
    let key = format!("adjusted/{}/{delivery}", m.adjustment_id);
    let meta = joule_testkit::publish::meta(&key, "PricedSession", &m.session_id, 2);
    let subject = format!("pricing.{}.adjusted", m.session_id);
    joule_testkit::publish(bus, subject, meta, m).await;
}

fn line(description: &str, excl: &str, incl: &str) -> v1::PriceLine {
    v1::PriceLine {
        dimension: "ENERGY".into(),
        description: description.into(),
        volume: "20".into(),
        unit: "kWh".into(),
        unit_price: "0.3".into(),
        vat_percent: "10".into(),
        amount_excl_vat: excl.into(),
        amount_incl_vat: incl.into(),
    }
}

fn adjustment(id: &str, session: SessionId, account: AccountId) -> v1::SessionPriceAdjusted {
    v1::SessionPriceAdjusted {
        adjustment_id: id.into(),
        session_id: session.to_string(),
        account_id: account.to_string(),
        currency: "EUR".into(),
        reason: "tariff correction".into(),
        // 6.00 reversed, 5.60 charged: -0.40 (VAT -0.04).
        lines: vec![
            line("Reversal: Energy at 0.30", "-6", "-6.6"),
            line("Energy at 0.28", "5.6", "6.16"),
        ],
        delta_excl_vat: "-0.4".into(),
        delta_incl_vat: "-0.44".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_adjustment_becomes_a_numbered_credit_note_and_a_balanced_entry_once() {
    let env = TestEnv::new().await;
    let _running = joule_runtime::spawn(
        env.settings(),
        &[joule_invoicing::SERVICE, joule_ledger::SERVICE],
    )
    .await
    .expect("invoicing and ledger start");
    let bus = env.bus().await;
    let account = AccountId::new();
    let (s1, s2) = (SessionId::new(), SessionId::new());
    publish_adjustment(&bus, &adjustment("run1/a", s1, account), "1").await;
    publish_adjustment(&bus, &adjustment("run1/a", s1, account), "2").await;
    publish_adjustment(&bus, &adjustment("run1/b", s2, account), "1").await;

    let (notes, entries) = eventually("two notes and their two entries", || async {
        let notes = bus
            .read_stream(Domain::Invoice)
            .await
            .expect("read INVOICE")
            .into_iter()
            .filter(|(_, e)| e.event_type == v1::AdjustmentIssued::NAME)
            .map(|(_, e)| decode_payload::<v1::AdjustmentIssued>(&e).expect("decodes"))
            .collect::<Vec<_>>();
        let entries = bus
            .read_stream(Domain::Ledger)
            .await
            .expect("read LEDGER")
            .into_iter()
            .filter(|(_, e)| e.event_type == v1::JournalEntryPosted::NAME)
            .map(|(_, e)| decode_payload::<v1::JournalEntryPosted>(&e).expect("decodes"))
            .filter(|p| p.source_type == "adjustment")
            .collect::<Vec<_>>();
        (notes.len() >= 2 && entries.len() >= 2).then_some((notes, entries))
    })
    .await;
    // Give a redelivery time to show up if it were wrongly issued twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notes.len(), 2, "one note per adjustment: {notes:?}");
    let mut numbers: Vec<String> = notes
        .iter()
        .map(|n| n.adjustment.as_ref().unwrap().number.clone())
        .collect();
    numbers.sort();
    let year = Utc::now().format("%Y").to_string();
    assert_eq!(
        numbers,
        vec![format!("CN-{year}-000001"), format!("CN-{year}-000002")]
    );
    let note = notes[0].adjustment.as_ref().unwrap();
    assert_eq!(
        (
            note.status.as_str(),
            note.total_excl_vat.as_str(),
            note.total_vat.as_str(),
            note.total_incl_vat.as_str()
        ),
        ("adjustment", "-0.40", "-0.04", "-0.44")
    );
    assert_eq!(entries.len(), 2);
    let postings: Vec<(String, String, String)> = entries[0]
        .postings
        .iter()
        .map(|p| (p.account.clone(), p.debit.clone(), p.credit.clone()))
        .collect();
    assert_eq!(
        postings,
        vec![
            ("accounts_receivable".into(), "0.00".into(), "0.44".into()),
            ("revenue_charging".into(), "0.40".into(), "0.00".into()),
            ("vat_payable".into(), "0.04".into(), "0.00".into()),
        ]
    );
}
