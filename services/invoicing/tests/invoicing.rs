//! Invoicing against real PostgreSQL and NATS: priced sessions in, numbered receipts out (read model
//! over gRPC and `InvoiceIssued` on the INVOICE stream).

use std::collections::BTreeSet;

use chrono::{Datelike, Utc};
use joule_bus::{Bus, Domain};
use joule_domain::{AccountId, InvoiceId, SessionId};
use joule_proto::v1;
use joule_proto::v1::invoicing_service_client::InvoicingServiceClient;
use joule_testkit::{TestEnv, eventually, wait_for_events};
use tonic::transport::Channel;

fn line(dimension: &str, amount_excl_vat: &str, vat_percent: &str) -> v1::PriceLine {
    v1::PriceLine {
        dimension: dimension.into(),
        description: format!("{dimension} charge"),
        volume: "1".into(),
        unit: "unit".into(),
        unit_price: amount_excl_vat.into(),
        vat_percent: vat_percent.into(),
        amount_excl_vat: amount_excl_vat.into(),
        amount_incl_vat: String::new(),
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
        stopped_at: Some(joule_proto::time::to_proto(Utc::now())),
        ..Default::default()
    }
}

/// Publishes as pricing would; `delivery` tells deliveries of the same message apart, so JetStream
/// stores a redelivery instead of dropping it as a duplicate.
async fn publish(bus: &Bus, message: &v1::SessionPriced, delivery: &str) {
    let key = format!("{}/{delivery}", message.session_id);
    let meta = joule_testkit::publish::meta(&key, "PricedSession", &message.session_id, 1);
    let subject = format!("pricing.{}.priced", message.session_id);
    joule_testkit::publish(bus, subject, meta, message).await;
}

async fn client(running: &joule_runtime::Running) -> InvoicingServiceClient<Channel> {
    InvoicingServiceClient::connect(format!(
        "http://{}",
        running.addr("grpc").expect("grpc addr")
    ))
    .await
    .expect("connect gRPC")
}

async fn list_all(client: &mut InvoicingServiceClient<Channel>) -> Vec<v1::Invoice> {
    let request = v1::ListInvoicesRequest {
        page_size: 500,
        ..Default::default()
    };
    client
        .list_invoices(request)
        .await
        .expect("list invoices")
        .into_inner()
        .invoices
}

/// The read model's invoices, once it holds at least `want`.
async fn wait_for_invoices(
    client: &mut InvoicingServiceClient<Channel>,
    want: usize,
) -> Vec<v1::Invoice> {
    eventually(&format!("{want} invoices are issued"), || {
        let mut client = client.clone();
        async move {
            let invoices = list_all(&mut client).await;
            (invoices.len() >= want).then_some(invoices)
        }
    })
    .await
}

/// The invoices published in `InvoiceIssued`, with their subjects, once there are at least `want`.
async fn issued_messages(bus: &Bus, want: usize) -> Vec<(String, v1::Invoice)> {
    wait_for_events::<v1::InvoiceIssued>(bus, Domain::Invoice, want)
        .await
        .into_iter()
        .map(|(subject, m)| (subject, m.invoice.expect("invoice")))
        .collect()
}

/// Waits until the durable consumer has handled (acknowledged or terminated) every stored message.
async fn wait_until_drained(bus: &Bus, durable: &str) {
    let js = async_nats::jetstream::new(bus.client().clone());
    let stream = js
        .get_stream(bus.namespace().stream_name(Domain::Pricing))
        .await
        .expect("PRICING stream");
    let name = format!("{}_{durable}", bus.namespace());
    eventually(&format!("consumer {name} drained"), || async {
        let info = stream.consumer_info(&name).await.expect("consumer info");
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    })
    .await
}

/// The invoicing service alone on the test environment.
async fn spawn_invoicing(env: &TestEnv) -> joule_runtime::Running {
    joule_runtime::spawn(
        env.settings_running(&["invoicing"]),
        &[joule_invoicing::SERVICE],
    )
    .await
    .expect("start invoicing")
}

fn number(sequence: u64) -> String {
    format!("{}-{sequence:06}", Utc::now().year())
}

#[tokio::test]
async fn priced_sessions_become_gapless_numbered_receipts_once_each() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = spawn_invoicing(&env).await;
    let mut client = client(&running).await;

    let acme = AccountId::derived("acme");
    // 10.004999 -> 10.00 (VAT 1.90); 0.125 -> 0.13 (VAT 19 % = 0.0247 -> 0.02): 10.13 + 1.92 = 12.05.
    let s1 = priced(
        "cp1/1",
        Some(acme),
        vec![
            line("ENERGY", "10.004999", "19"),
            line("TIME", "0.125", "19"),
        ],
    );
    // No VAT percent: 5.555 -> 5.56 and no VAT.
    let s2 = priced("cp1/2", Some(acme), vec![line("ENERGY", "5.555", "")]);
    // No account: issued all the same, flagged.
    let s3 = priced("cp2/1", None, vec![line("FLAT", "1.00", "21")]);
    publish(&bus, &s1, "first").await;
    publish(&bus, &s2, "first").await;
    publish(&bus, &s1, "redelivered").await;
    publish(&bus, &s3, "first").await;

    // One consumer handles messages in stream order, so once s3's invoice exists the redelivery of s1
    // has been handled too.
    let invoices = wait_for_invoices(&mut client, 3).await;
    assert_eq!(
        invoices.len(),
        3,
        "a redelivered SessionPriced must not give a second invoice"
    );
    let numbers: Vec<&str> = invoices.iter().map(|i| i.number.as_str()).collect();
    assert_eq!(numbers, vec![number(1), number(2), number(3)]);

    let by_session = |m: &v1::SessionPriced| {
        let id = InvoiceId::derived(&m.session_id).to_string();
        invoices
            .iter()
            .find(|i| i.id == id)
            .cloned()
            .expect("invoice for session")
    };
    let first = by_session(&s1);
    assert_eq!(first.number, number(1));
    assert_eq!(first.status, "issued");
    assert_eq!(first.account_id, acme.to_string());
    assert_eq!(first.currency, "EUR");
    assert_eq!(first.session_ids, vec![s1.session_id.clone()]);
    assert_eq!(
        (
            first.total_excl_vat.as_str(),
            first.total_vat.as_str(),
            first.total_incl_vat.as_str()
        ),
        ("10.13", "1.92", "12.05")
    );
    let lines: Vec<(&str, &str, &str)> = first
        .lines
        .iter()
        .map(|l| {
            (
                l.amount_excl_vat.as_str(),
                l.vat.as_str(),
                l.amount_incl_vat.as_str(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![("10.00", "1.90", "11.90"), ("0.13", "0.02", "0.15")]
    );
    let second = by_session(&s2);
    assert_eq!(
        (
            second.total_excl_vat.as_str(),
            second.total_vat.as_str(),
            second.total_incl_vat.as_str()
        ),
        ("5.56", "0.00", "5.56")
    );
    assert_eq!(second.lines[0].vat_percent, "");
    let third = by_session(&s3);
    assert_eq!(third.number, number(3));
    assert_eq!(third.account_id, "");
    assert_eq!(third.total_incl_vat, "1.21");

    // The same invoices went out on the INVOICE stream, one message each.
    let published = issued_messages(&bus, 3).await;
    assert_eq!(published.len(), 3);
    for (subject, invoice) in &published {
        assert_eq!(
            subject,
            &format!("{}.invoice.{}.issued", env.namespace, invoice.id)
        );
        assert!(
            invoices.contains(invoice),
            "published {invoice:?} differs from the read model"
        );
    }

    // Reads: by account, by page, by id.
    let acme_only = client
        .list_invoices(v1::ListInvoicesRequest {
            account_id: acme.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        acme_only
            .invoices
            .iter()
            .map(|i| i.number.clone())
            .collect::<Vec<_>>(),
        vec![number(1), number(2)]
    );
    assert_eq!(acme_only.next_cursor, "");

    let mut pages = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client
            .list_invoices(v1::ListInvoicesRequest {
                page_size: 2,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages.push(
            page.invoices
                .iter()
                .map(|i| i.number.clone())
                .collect::<Vec<_>>(),
        );
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(pages, vec![vec![number(1), number(2)], vec![number(3)]]);

    // Filters: the invoice of a session, and issue times.
    let list = |request: v1::ListInvoicesRequest| {
        let mut client = client.clone();
        async move { client.list_invoices(request).await.unwrap().into_inner() }
    };
    let of_session = list(v1::ListInvoicesRequest {
        session_id: first.session_ids[0].clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(of_session.invoices.len(), 1);
    assert_eq!(of_session.invoices[0].id, first.id);
    let in_a_minute =
        joule_proto::time::to_proto(chrono::Utc::now() + chrono::Duration::minutes(1));
    let later = list(v1::ListInvoicesRequest {
        issued_after: Some(in_a_minute),
        ..Default::default()
    })
    .await;
    assert!(later.invoices.is_empty());
    let before = list(v1::ListInvoicesRequest {
        issued_before: Some(in_a_minute),
        ..Default::default()
    })
    .await;
    assert_eq!(before.invoices.len(), 3);

    let got = client
        .get_invoice(v1::GetInvoiceRequest {
            invoice_id: first.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, first);
    let missing = client
        .get_invoice(v1::GetInvoiceRequest {
            invoice_id: InvoiceId::new().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let malformed = client
        .get_invoice(v1::GetInvoiceRequest {
            invoice_id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::InvalidArgument);
    assert!(
        malformed.message().contains("invoice_id"),
        "{}",
        malformed.message()
    );
    let bad_cursor = client
        .list_invoices(v1::ListInvoicesRequest {
            cursor: "page-2".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_cursor.code(), tonic::Code::InvalidArgument);

    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_priced_session_that_breaks_the_contract_takes_no_number() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = spawn_invoicing(&env).await;
    let mut client = client(&running).await;

    let mut negative = priced("cp1/1", None, vec![line("ENERGY", "-3.00", "19")]);
    let mut bad_currency = priced("cp1/2", None, vec![line("ENERGY", "3.00", "19")]);
    bad_currency.currency = "EURO".into();
    publish(&bus, &negative, "first").await;
    publish(&bus, &bad_currency, "first").await;
    negative.session_id = SessionId::derived("cp1/3").to_string();
    negative.lines = vec![line("ENERGY", "3.00", "19")];
    publish(&bus, &negative, "first").await;

    let invoices = wait_for_invoices(&mut client, 1).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(
        invoices[0].number,
        number(1),
        "refused messages must not leave a gap"
    );
    assert_eq!(invoices[0].total_incl_vat, "3.57");

    running.stop().await.unwrap();
}

#[tokio::test]
async fn concurrent_priced_sessions_get_unique_gapless_numbers() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    // Two replicas share the durable consumer; JetStream hands each message to either of them.
    // (`racing_issuers_never_share_or_skip_a_number` forces the race on the series directly.)
    let first = spawn_invoicing(&env).await;
    let second = spawn_invoicing(&env).await;
    let mut client = client(&first).await;

    const SESSIONS: usize = 16;
    let messages: Vec<v1::SessionPriced> = (0..SESSIONS)
        .map(|i| {
            priced(
                &format!("cp{}/{i}", i % 4),
                Some(AccountId::derived("fleet")),
                vec![line("ENERGY", "2.50", "20")],
            )
        })
        .collect();
    futures::future::join_all(messages.iter().map(|m| publish(&bus, m, "first"))).await;
    // And each one again, concurrently, as a redelivery would.
    futures::future::join_all(messages.iter().map(|m| publish(&bus, m, "again"))).await;

    wait_for_invoices(&mut client, SESSIONS).await;
    wait_until_drained(&bus, "invoicing-priced").await;
    let invoices = list_all(&mut client).await;
    assert_eq!(
        invoices.len(),
        SESSIONS,
        "a redelivery must not issue a second invoice"
    );
    let numbers: BTreeSet<String> = invoices.iter().map(|i| i.number.clone()).collect();
    let expected: BTreeSet<String> = (1..=SESSIONS as u64).map(number).collect();
    assert_eq!(numbers, expected, "numbers must be unique and without gaps");
    let sessions: BTreeSet<String> = invoices
        .iter()
        .flat_map(|i| i.session_ids.clone())
        .collect();
    assert_eq!(
        sessions.len(),
        SESSIONS,
        "every session exactly one invoice"
    );
    assert!(invoices.iter().all(|i| i.total_incl_vat == "3.00"));
    assert_eq!(issued_messages(&bus, SESSIONS).await.len(), SESSIONS);

    first.stop().await.unwrap();
    second.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_issuers_never_share_or_skip_a_number() {
    use joule_invoicing::issuer::{IssueError, Issued, Issuer, ReceiptRequest};
    use joule_invoicing::receipt::PricedLine;
    use std::sync::Arc;

    let env = TestEnv::new().await;
    // The service migrates the schema and relays what the issuers commit.
    let running = spawn_invoicing(&env).await;
    let mut client = client(&running).await;
    let pool = env.pool().await;
    // Two issuers stand for two replicas; every session is issued twice at the same time.
    let issuers = [
        Arc::new(Issuer::new(pool.clone(), "invoicing")),
        Arc::new(Issuer::new(pool, "invoicing")),
    ];

    const SESSIONS: usize = 12;
    let requests: Vec<ReceiptRequest> = (0..SESSIONS)
        .map(|i| ReceiptRequest {
            tenant_id: "default".parse().unwrap(),
            session_id: SessionId::derived(&format!("race/{i}")),
            account_id: Some(AccountId::derived("fleet")),
            currency: "EUR".parse().unwrap(),
            lines: vec![PricedLine {
                description: "Energy".into(),
                quantity: None,
                unit: "kWh".into(),
                unit_price: None,
                vat_percent: Some(20.into()),
                amount_excl_vat: 2.into(),
            }],
            issued_at: Utc::now(),
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, request) in requests.iter().enumerate() {
        for copy in 0..2 {
            let issuer = issuers[(i + copy) % 2].clone();
            let request = request.clone();
            // Like the consumer: infrastructure trouble (here, losing the race too often) is retried.
            tasks.spawn(async move {
                loop {
                    match issuer.issue(request.clone(), Default::default()).await {
                        Err(IssueError::Infrastructure(_)) => tokio::task::yield_now().await,
                        other => return other,
                    }
                }
            });
        }
    }
    let mut new = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap().expect("issue") {
            Issued::New(_) => new += 1,
            Issued::Existing(_) => {}
        }
    }
    assert!(new >= SESSIONS);

    let invoices = wait_for_invoices(&mut client, SESSIONS).await;
    assert_eq!(invoices.len(), SESSIONS, "each session exactly one invoice");
    let numbers: BTreeSet<String> = invoices.iter().map(|i| i.number.clone()).collect();
    let expected: BTreeSet<String> = (1..=SESSIONS as u64).map(number).collect();
    assert_eq!(numbers, expected, "numbers must be unique and without gaps");
    assert!(invoices.iter().all(|i| i.total_incl_vat == "2.40"));

    running.stop().await.unwrap();
}

#[tokio::test]
async fn numbering_continues_across_series_snapshots() {
    use joule_invoicing::issuer::{Issued, Issuer, ReceiptRequest};

    let env = TestEnv::new().await;
    let running = spawn_invoicing(&env).await;
    let mut client = client(&running).await;
    let issuer = Issuer::new(env.pool().await, "invoicing");

    // More numbers than one snapshot interval, so later allocations load the series from a snapshot.
    const SESSIONS: u64 = 130;
    let request = |i: u64| ReceiptRequest {
        tenant_id: "default".parse().unwrap(),
        session_id: SessionId::derived(&format!("long/{i}")),
        account_id: None,
        currency: "EUR".parse().unwrap(),
        lines: vec![],
        issued_at: Utc::now(),
    };
    for i in 1..=SESSIONS {
        assert_eq!(
            issuer.issue(request(i), Default::default()).await.unwrap(),
            Issued::New(number(i).parse().unwrap())
        );
    }
    let snapshots: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invoicing.snapshots WHERE aggregate_type = 'InvoiceSeries'",
    )
    .fetch_one(&env.pool().await)
    .await
    .unwrap();
    assert_eq!(
        snapshots, 1,
        "the series should be loaded from a snapshot by now"
    );
    // Issuing an early session again gives its number back and takes none.
    assert_eq!(
        issuer.issue(request(7), Default::default()).await.unwrap(),
        Issued::Existing(number(7).parse().unwrap())
    );

    let invoices = wait_for_invoices(&mut client, SESSIONS as usize).await;
    let numbers: Vec<String> = invoices.iter().map(|i| i.number.clone()).collect();
    assert_eq!(numbers, (1..=SESSIONS).map(number).collect::<Vec<_>>());

    running.stop().await.unwrap();
}
