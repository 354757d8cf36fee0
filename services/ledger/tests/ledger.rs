//! The ledger against real PostgreSQL and NATS: invoices in, balanced journal entries, a trial
//! balance over gRPC and `JournalEntryPosted` out. One test runs invoicing and the ledger together.

use chrono::Utc;
use joule_bus::{Bus, Domain, EventMeta, Outgoing, envelope};
use joule_domain::{AccountId, InvoiceId, SessionId};
use joule_proto::v1;
use joule_proto::v1::invoicing_service_client::InvoicingServiceClient;
use joule_proto::v1::ledger_service_client::LedgerServiceClient;
use joule_testkit::{TestEnv, eventually};
use tonic::transport::Channel;

fn meta(key: &str, aggregate_type: &str, aggregate_id: &str) -> EventMeta {
    joule_testkit::publish::meta(key, aggregate_type, aggregate_id, 1)
}

/// Publishes as pricing would; a new `delivery` makes JetStream store a redelivery.
async fn publish_priced(bus: &Bus, message: &v1::SessionPriced, delivery: &str) {
    let key = format!("priced/{}/{delivery}", message.session_id);
    bus.publish(Outgoing {
        subject: format!("pricing.{}.priced", message.session_id),
        envelope: envelope(message, meta(&key, "PricedSession", &message.session_id)),
        trace_headers: Default::default(),
    })
    .await
    .expect("publish SessionPriced");
}

/// Publishes as invoicing would; a new `delivery` makes JetStream store a redelivery.
async fn publish_invoice(bus: &Bus, invoice: &v1::Invoice, delivery: &str) {
    let key = format!("invoice/{}/{delivery}", invoice.id);
    let message = v1::InvoiceIssued {
        invoice: Some(invoice.clone()),
    };
    bus.publish(Outgoing {
        subject: format!("invoice.{}.issued", invoice.id),
        envelope: envelope(&message, meta(&key, "Invoice", &invoice.id)),
        trace_headers: Default::default(),
    })
    .await
    .expect("publish InvoiceIssued");
}

fn line(amount_excl_vat: &str, vat_percent: &str) -> v1::PriceLine {
    v1::PriceLine {
        dimension: "ENERGY".into(),
        amount_excl_vat: amount_excl_vat.into(),
        vat_percent: vat_percent.into(),
        ..Default::default()
    }
}

fn priced(
    session: &str,
    account: Option<AccountId>,
    lines: Vec<v1::PriceLine>,
) -> v1::SessionPriced {
    v1::SessionPriced {
        session_id: SessionId::derived(session).to_string(),
        account_id: account.map(|a| a.to_string()).unwrap_or_default(),
        currency: "EUR".into(),
        lines,
        ..Default::default()
    }
}

fn invoice(key: &str, number: &str, gross: &str, net: &str, vat: &str) -> v1::Invoice {
    v1::Invoice {
        id: InvoiceId::derived(key).to_string(),
        number: number.into(),
        status: "issued".into(),
        currency: "EUR".into(),
        total_incl_vat: gross.into(),
        total_excl_vat: net.into(),
        total_vat: vat.into(),
        ..Default::default()
    }
}

async fn ledger_client(running: &joule_runtime::Running) -> LedgerServiceClient<Channel> {
    LedgerServiceClient::connect(format!(
        "http://{}",
        running.addr("grpc").expect("grpc addr")
    ))
    .await
    .expect("connect gRPC")
}

async fn trial_balance(client: &mut LedgerServiceClient<Channel>) -> v1::TrialBalance {
    client
        .get_trial_balance(v1::TrialBalanceRequest::default())
        .await
        .expect("trial balance")
        .into_inner()
}

/// Waits until the trial balance's total debit reaches `want`.
async fn wait_for_total_debit(
    client: &mut LedgerServiceClient<Channel>,
    want: &str,
) -> v1::TrialBalance {
    let what = format!("the trial balance reaches a total debit of {want}");
    eventually(&what, || {
        let mut client = client.clone();
        async move {
            let balance = trial_balance(&mut client).await;
            (balance.total_debit == want).then_some(balance)
        }
    })
    .await
}

fn rows(balance: &v1::TrialBalance) -> Vec<(&str, &str, &str, &str, &str)> {
    balance
        .rows
        .iter()
        .map(|r| {
            (
                r.account.as_str(),
                r.currency.as_str(),
                r.debit.as_str(),
                r.credit.as_str(),
                r.balance.as_str(),
            )
        })
        .collect()
}

async fn posted_messages(bus: &Bus) -> Vec<(String, v1::JournalEntryPosted)> {
    bus.read_stream(Domain::Ledger)
        .await
        .expect("read LEDGER stream")
        .into_iter()
        .map(|(subject, e)| {
            (
                subject,
                joule_bus::decode_payload(&e).expect("JournalEntryPosted"),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_ledger_posts_each_invoice_once_and_refuses_what_would_unbalance_it() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = joule_runtime::spawn(env.settings(), &[joule_ledger::SERVICE])
        .await
        .unwrap();
    let mut client = ledger_client(&running).await;

    let good = invoice("a", "2026-000001", "11.90", "10.00", "1.90");
    publish_invoice(
        &bus,
        &invoice("bad", "2026-000002", "10.00", "9.00", "0.50"),
        "first",
    )
    .await;
    publish_invoice(&bus, &good, "first").await;
    publish_invoice(&bus, &good, "redelivered").await;
    publish_invoice(
        &bus,
        &invoice("zero", "2026-000003", "0.00", "0.00", "0.00"),
        "first",
    )
    .await;
    publish_invoice(
        &bus,
        &invoice("negative", "2026-000004", "-1.00", "-1.00", "0.00"),
        "first",
    )
    .await;
    let last = invoice("b", "2026-000005", "5.00", "5.00", "0.00");
    publish_invoice(&bus, &last, "first").await;

    // Messages are handled in stream order: once the last invoice shows, all earlier ones were handled.
    let balance = wait_for_total_debit(&mut client, "16.90").await;
    assert_eq!(balance.total_credit, "16.90");
    assert_eq!(
        rows(&balance),
        vec![
            ("accounts_receivable", "EUR", "16.90", "0.00", "16.90"),
            ("revenue_charging", "EUR", "0.00", "15.00", "-15.00"),
            ("vat_payable", "EUR", "0.00", "1.90", "-1.90"),
        ]
    );

    let posted = posted_messages(&bus).await;
    assert_eq!(
        posted.len(),
        2,
        "one JournalEntryPosted per posted invoice: {posted:?}"
    );
    let (subject, entry) = posted
        .iter()
        .find(|(_, p)| p.source_id == good.id)
        .expect("entry for the good invoice");
    assert_eq!(
        subject,
        &format!("{}.ledger.{}.posted", env.namespace, entry.entry_id)
    );
    assert_eq!(
        entry.entry_id,
        joule_ledger::rules::entry_id_for_invoice(good.id.parse().unwrap()).to_string()
    );
    assert_eq!(entry.source_type, "invoice");
    assert_eq!(entry.currency, "EUR");
    assert_eq!(entry.description, "Invoice 2026-000001");
    let postings: Vec<(&str, &str, &str)> = entry
        .postings
        .iter()
        .map(|p| (p.account.as_str(), p.debit.as_str(), p.credit.as_str()))
        .collect();
    assert_eq!(
        postings,
        vec![
            ("accounts_receivable", "11.90", "0.00"),
            ("revenue_charging", "0.00", "10.00"),
            ("vat_payable", "0.00", "1.90"),
        ]
    );

    running.stop().await.unwrap();
}

#[tokio::test]
async fn priced_sessions_flow_through_invoicing_into_a_balanced_ledger() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = joule_runtime::spawn(
        env.settings(),
        &[joule_invoicing::SERVICE, joule_ledger::SERVICE],
    )
    .await
    .unwrap();
    let mut ledger = ledger_client(&running).await;
    let mut invoicing =
        InvoicingServiceClient::connect(format!("http://{}", running.addr("grpc").unwrap()))
            .await
            .unwrap();

    let acme = AccountId::derived("acme");
    // 12.05 = 10.13 + 1.92 (lines 10.00 + 1.90 and 0.13 + 0.02).
    let s1 = priced(
        "cp1/1",
        Some(acme),
        vec![line("10.004999", "19"), line("0.125", "19")],
    );
    // 5.56, no VAT.
    let s2 = priced("cp1/2", Some(acme), vec![line("5.555", "")]);
    // 1.21 = 1.00 + 0.21, without an account.
    let s3 = priced("cp2/1", None, vec![line("1", "21")]);
    publish_priced(&bus, &s1, "first").await;
    publish_priced(&bus, &s2, "first").await;
    publish_priced(&bus, &s1, "redelivered").await;
    publish_priced(&bus, &s3, "first").await;

    // 12.05 + 5.56 + 1.21 = 18.82; revenue 10.13 + 5.56 + 1.00 = 16.69; VAT 1.92 + 0.21 = 2.13.
    let balance = wait_for_total_debit(&mut ledger, "18.82").await;
    assert_eq!(balance.total_credit, "18.82");
    assert_eq!(
        rows(&balance),
        vec![
            ("accounts_receivable", "EUR", "18.82", "0.00", "18.82"),
            ("revenue_charging", "EUR", "0.00", "16.69", "-16.69"),
            ("vat_payable", "EUR", "0.00", "2.13", "-2.13"),
        ]
    );

    // An invoice delivered to the ledger twice is posted once: redeliver the first, then issue one
    // more session; once that one shows, the redelivery has been handled.
    let first = invoicing
        .get_invoice(v1::GetInvoiceRequest {
            invoice_id: InvoiceId::derived(&s1.session_id).to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.total_incl_vat, "12.05");
    publish_invoice(&bus, &first, "redelivered").await;
    let s4 = priced("cp2/2", Some(acme), vec![line("2", "10")]);
    publish_priced(&bus, &s4, "first").await;
    let balance = wait_for_total_debit(&mut ledger, "21.02").await;
    assert_eq!(balance.total_credit, "21.02");
    assert_eq!(
        rows(&balance),
        vec![
            ("accounts_receivable", "EUR", "21.02", "0.00", "21.02"),
            ("revenue_charging", "EUR", "0.00", "18.69", "-18.69"),
            ("vat_payable", "EUR", "0.00", "2.33", "-2.33"),
        ]
    );

    let invoices = invoicing
        .list_invoices(v1::ListInvoicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .invoices;
    let year = chrono::Datelike::year(&Utc::now());
    let numbers: Vec<String> = invoices.iter().map(|i| i.number.clone()).collect();
    assert_eq!(
        numbers,
        (1..=4)
            .map(|n| format!("{year}-{n:06}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        posted_messages(&bus).await.len(),
        4,
        "one journal entry per invoice"
    );

    running.stop().await.unwrap();
}
