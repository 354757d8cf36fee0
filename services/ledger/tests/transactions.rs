//! A customer's transactions (issue 13): invoices, captures, refunds and wallet top-ups in, one
//! filtered, paged list per account out over gRPC, each tenant's only its own.

use chrono::{Duration, Utc};
use joule_bus::{Bus, EventMeta};
use joule_domain::{AccountId, InvoiceId, SessionId};
use joule_proto::v1;
use joule_proto::v1::ledger_service_client::LedgerServiceClient;
use joule_testkit::{TestEnv, eventually};
use tonic::transport::Channel;

/// The message's metadata; the event id derives from its subject, so a message published twice
/// is a redelivery.
fn meta(subject: &str, tenant: &str, aggregate_type: &str) -> EventMeta {
    let mut meta = joule_testkit::publish::meta(subject, aggregate_type, subject, 1);
    meta.tenant_id = tenant.into();
    meta
}

async fn invoice(bus: &Bus, tenant: &str, key: &str, account: AccountId, gross: &str) {
    let session = SessionId::derived(key);
    let invoice = v1::Invoice {
        id: InvoiceId::derived(key).to_string(),
        number: format!("2026-{key}"),
        status: "issued".into(),
        account_id: account.to_string(),
        currency: "EUR".into(),
        total_incl_vat: gross.into(),
        total_excl_vat: gross.into(),
        total_vat: "0.00".into(),
        session_ids: vec![session.to_string()],
        ..Default::default()
    };
    let id = invoice.id.clone();
    let message = v1::InvoiceIssued {
        invoice: Some(invoice),
    };
    let subject = format!("invoice.{id}.issued");
    let meta = meta(&subject, tenant, "Invoice");
    joule_testkit::publish::publish(bus, subject, meta, &message).await;
}

async fn captured(bus: &Bus, key: &str, account: AccountId, amount: &str, kind: &str) {
    let message = v1::PaymentCaptured {
        intent_id: key.into(),
        session_id: SessionId::derived(key).to_string(),
        account_id: account.to_string(),
        provider: "sandbox".into(),
        kind: kind.into(),
        purpose: "session".into(),
        currency: "EUR".into(),
        amount: amount.into(),
        amount_released: "0.00".into(),
        ..Default::default()
    };
    let subject = format!("payment.{key}.captured");
    let meta = meta(&subject, "default", "PaymentIntent");
    joule_testkit::publish::publish(bus, subject, meta, &message).await;
}

async fn refunded(bus: &Bus, key: &str, account: AccountId, amount: &str) {
    let message = v1::PaymentRefunded {
        intent_id: key.into(),
        refund_id: format!("{key}-refund"),
        account_id: account.to_string(),
        provider: "sandbox".into(),
        kind: "card".into(),
        purpose: "session".into(),
        currency: "EUR".into(),
        amount: amount.into(),
        reason: "requested_by_customer".into(),
        ..Default::default()
    };
    let subject = format!("payment.{key}.refunded");
    let meta = meta(&subject, "default", "PaymentIntent");
    joule_testkit::publish::publish(bus, subject, meta, &message).await;
}

async fn topped_up(bus: &Bus, key: &str, account: AccountId, amount: &str) {
    let message = v1::WalletToppedUp {
        wallet_id: key.into(),
        account_id: account.to_string(),
        currency: "EUR".into(),
        amount: amount.into(),
        balance: amount.into(),
        funding: "external".into(),
        reference: "SEPA 42".into(),
        ..Default::default()
    };
    let subject = format!("payment.{key}.wallet_topped_up");
    let meta = meta(&subject, "default", "Wallet");
    joule_testkit::publish::publish(bus, subject, meta, &message).await;
}

async fn list(
    client: &mut LedgerServiceClient<Channel>,
    request: v1::ListTransactionsRequest,
) -> v1::ListTransactionsResponse {
    client
        .list_transactions(request)
        .await
        .expect("list transactions")
        .into_inner()
}

fn types(response: &v1::ListTransactionsResponse) -> Vec<(&str, &str)> {
    response
        .transactions
        .iter()
        .map(|t| (t.r#type.as_str(), t.amount.as_str()))
        .collect()
}

#[tokio::test]
async fn an_accounts_transactions_are_listed_once_in_order_filtered_and_paged() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = joule_runtime::spawn(env.settings(), &[joule_ledger::SERVICE])
        .await
        .unwrap();
    let mut client = LedgerServiceClient::connect(format!(
        "http://{}",
        running.addr("grpc").expect("grpc addr")
    ))
    .await
    .expect("connect gRPC");
    let (a, b) = (AccountId::new(), AccountId::new());

    let before = Utc::now() - Duration::seconds(1);
    invoice(&bus, "default", "s1", a, "11.90").await;
    eventually("the charge is listed", || {
        let mut client = client.clone();
        async move {
            let request = v1::ListTransactionsRequest {
                account_id: a.to_string(),
                ..Default::default()
            };
            (list(&mut client, request).await.transactions.len() == 1).then_some(())
        }
    })
    .await;
    captured(&bus, "pi-1", a, "11.90", "card").await;
    refunded(&bus, "pi-1", a, "2").await;
    topped_up(&bus, "w-1", a, "20.00").await;
    captured(&bus, "pi-2", a, "5.00", "wallet").await;
    // Delivered twice: counted once.
    refunded(&bus, "pi-1", a, "2").await;
    invoice(&bus, "default", "s2", b, "3.00").await;
    invoice(&bus, "other-tenant", "s3", a, "99.00").await;

    let all = eventually("every transaction of A is listed", || {
        let mut client = client.clone();
        async move {
            let request = v1::ListTransactionsRequest {
                account_id: a.to_string(),
                ..Default::default()
            };
            let response = list(&mut client, request).await;
            (response.transactions.len() >= 5).then_some(response)
        }
    })
    .await;
    assert_eq!(
        types(&all),
        [
            ("charge", "11.90"),
            ("payment", "11.90"),
            ("refund", "2.00"),
            ("wallet_top_up", "20.00"),
            ("wallet_payment", "5.00"),
        ]
    );
    assert_eq!(all.next_cursor, "");
    let charge = &all.transactions[0];
    assert_eq!(charge.source_type, "invoice");
    assert_eq!(charge.session_id, SessionId::derived("s1").to_string());
    assert_eq!(charge.account_id, a.to_string());

    // Pages of two, following the cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let request = v1::ListTransactionsRequest {
            account_id: a.to_string(),
            page_size: 2,
            cursor: cursor.clone(),
            ..Default::default()
        };
        let page = list(&mut client, request).await;
        assert!(page.transactions.len() <= 2);
        seen.extend(page.transactions.into_iter().map(|t| t.id));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    let ids: Vec<String> = all.transactions.iter().map(|t| t.id.clone()).collect();
    assert_eq!(seen, ids);

    // Filters: type, time, and every account of the tenant.
    let refunds = list(
        &mut client,
        v1::ListTransactionsRequest {
            types: vec!["refund".into(), "charge".into()],
            ..Default::default()
        },
    )
    .await;
    // Invoices and payments arrive on two streams: their order between them is the ledger's.
    let mut filtered = types(&refunds);
    filtered.sort_unstable();
    assert_eq!(
        filtered,
        [("charge", "11.90"), ("charge", "3.00"), ("refund", "2.00")]
    );
    let later = list(
        &mut client,
        v1::ListTransactionsRequest {
            account_id: a.to_string(),
            occurred_after: Some(joule_proto::time::to_proto(Utc::now())),
            ..Default::default()
        },
    )
    .await;
    assert!(later.transactions.is_empty());
    let earlier = list(
        &mut client,
        v1::ListTransactionsRequest {
            account_id: a.to_string(),
            occurred_before: Some(joule_proto::time::to_proto(before)),
            ..Default::default()
        },
    )
    .await;
    assert!(earlier.transactions.is_empty());

    // By fleet and cost centre: the sessions whose token they held at the start (ADR 037).
    let (vans, sales) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let started = v1::SessionStarted {
        session_id: SessionId::derived("s1").to_string(),
        fleet_id: vans.to_string(),
        cost_centre_id: sales.to_string(),
        ..Default::default()
    };
    let subject = format!("session.{}.started", started.session_id);
    let meta = meta(&subject, "default", "ChargingSession");
    joule_testkit::publish::publish(&bus, subject, meta, &started).await;
    let by_fleet =
        |fleet: String, cost_centre: String, within: Vec<String>| v1::ListTransactionsRequest {
            fleet_id: fleet,
            cost_centre_id: cost_centre,
            within_fleets: within,
            ..Default::default()
        };
    let of_vans = eventually("the session's fleet is known", || {
        let mut client = client.clone();
        let request = by_fleet(vans.to_string(), String::new(), vec![]);
        async move {
            let response = list(&mut client, request).await;
            (!response.transactions.is_empty()).then_some(response)
        }
    })
    .await;
    // The charge of session s1; not the transactions of other sessions.
    assert_eq!(types(&of_vans), [("charge", "11.90")]);
    let of_sales = list(
        &mut client,
        by_fleet(String::new(), sales.to_string(), vec![]),
    )
    .await;
    assert_eq!(types(&of_sales), [("charge", "11.90")]);
    let within = list(
        &mut client,
        by_fleet(String::new(), String::new(), vec![vans.to_string()]),
    )
    .await;
    assert_eq!(types(&within), [("charge", "11.90")]);
    let elsewhere = list(
        &mut client,
        by_fleet(
            String::new(),
            String::new(),
            vec![uuid::Uuid::new_v4().to_string()],
        ),
    )
    .await;
    assert!(elsewhere.transactions.is_empty());

    // Another tenant sees its own only.
    let other = list(
        &mut client,
        v1::ListTransactionsRequest {
            tenant_id: "other-tenant".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(types(&other), [("charge", "99.00")]);

    // Bad filters are refused naming the field.
    for (request, field) in [
        (
            v1::ListTransactionsRequest {
                types: vec!["gift".into()],
                ..Default::default()
            },
            "types",
        ),
        (
            v1::ListTransactionsRequest {
                account_id: "nope".into(),
                ..Default::default()
            },
            "account_id",
        ),
        (
            v1::ListTransactionsRequest {
                cursor: "-3".into(),
                ..Default::default()
            },
            "cursor",
        ),
    ] {
        let status = client.list_transactions(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().starts_with(field), "{}", status.message());
    }
}
