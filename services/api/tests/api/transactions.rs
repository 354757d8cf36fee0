//! `GET /v1/transactions` (issue 13): a tenant's customer transactions, read from the ledger,
//! filtered, paged, and never another tenant's.

use joule_domain::{AccountId, InvoiceId};
use joule_proto::v1;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::App;
use crate::identity::{PLATFORM, key, tenant_with_admin};

async fn invoice(app: &App, tenant: &str, key: &str, account: AccountId, gross: &str) {
    let invoice = v1::Invoice {
        id: InvoiceId::derived(key).to_string(),
        number: format!("2026-{key}"),
        status: "issued".into(),
        account_id: account.to_string(),
        currency: "EUR".into(),
        total_incl_vat: gross.into(),
        total_excl_vat: gross.into(),
        total_vat: "0.00".into(),
        ..Default::default()
    };
    let subject = format!("invoice.{}.issued", invoice.id);
    let mut meta = joule_testkit::publish::meta(&subject, "Invoice", &invoice.id, 1);
    meta.tenant_id = tenant.into();
    let message = v1::InvoiceIssued {
        invoice: Some(invoice),
    };
    let bus = app.env.bus().await;
    joule_testkit::publish::publish(&bus, subject, meta, &message).await;
}

#[tokio::test]
async fn a_tenant_lists_its_own_customers_transactions_with_filters() {
    let app = App::spawn_adjusted(&[joule_api::SERVICE, joule_ledger::SERVICE], |s| {
        s.platform_token = PLATFORM.into();
    })
    .await;
    let admin = tenant_with_admin(&app, "acme").await;
    let (_, finance) = key(&app, &admin, &["finance"]).await;
    let (_, operator) = key(&app, &admin, &["operator"]).await;
    let (a, b) = (AccountId::new(), AccountId::new());
    invoice(&app, "acme", "i1", a, "11.90").await;
    invoice(&app, "acme", "i2", b, "3.00").await;
    invoice(&app, "default", "i3", a, "99.00").await;

    let listed = joule_testkit::eventually("acme's two charges are listed", || async {
        let reply = app.get_as(&finance, "/v1/transactions").await;
        let data = reply.body["data"].as_array().cloned().unwrap_or_default();
        (data.len() >= 2).then_some(data)
    })
    .await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let amounts: Vec<&Value> = listed.iter().map(|t| &t["amount"]).collect();
    assert!(amounts.contains(&&Value::from("11.90")) && amounts.contains(&&Value::from("3.00")));
    assert!(
        listed
            .iter()
            .all(|t| t["type"] == "charge" && t["source_type"] == "invoice")
    );

    let of_a = app
        .get_as(
            &finance,
            &format!("/v1/transactions?account_id={a}&type=charge,refund"),
        )
        .await;
    assert_eq!(of_a.status, StatusCode::OK, "{}", of_a.body);
    assert_eq!(of_a.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(of_a.body["data"][0]["amount"], "11.90");
    let paged = app.get_as(&finance, "/v1/transactions?limit=1").await;
    assert_eq!(paged.body["data"].as_array().unwrap().len(), 1);
    let cursor = paged.body["next_cursor"].as_str().expect("a next page");
    let next = app
        .get_as(
            &finance,
            &format!("/v1/transactions?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(next.body["data"].as_array().unwrap().len(), 1);
    assert_ne!(next.body["data"][0]["id"], paged.body["data"][0]["id"]);
    let none = app
        .get_as(
            &finance,
            "/v1/transactions?created_after=2999-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(none.body["data"], Value::Array(vec![]));

    // Bad filters name the parameter; a role without the scope is refused.
    for (query, field) in [
        ("type=gift", "type"),
        ("created_before=yesterday", "created_before"),
        ("account_id=nope", "account_id"),
        ("colour=red", "colour"),
    ] {
        let reply = app
            .get_as(&finance, &format!("/v1/transactions?{query}"))
            .await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{query}"
        );
    }
    let refused = app.get_as(&operator, "/v1/transactions").await;
    refused.problem(StatusCode::FORBIDDEN);
    assert_eq!(refused.body["missing_scope"], "transactions:read");
}
