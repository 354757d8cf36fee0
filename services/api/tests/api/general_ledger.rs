//! The ledger for finance through the REST API (issue 15): the chart of accounts, the general
//! ledger's postings with filters and cursors, a trial balance at a date and the CSV export, each
//! tenant's only its own; what bad input gets.

use joule_domain::{AccountId, InvoiceId, SessionId};
use joule_proto::v1;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::App;

/// Publishes an `InvoiceIssued` of `tenant` as invoicing does: `gross` of which `vat` is VAT, for
/// `account` (default: one derived from `key`); its id.
async fn invoice(
    app: &App,
    tenant: &str,
    key: &str,
    account: Option<&str>,
    (gross, net, vat): (&str, &str, &str),
) -> String {
    let bus = app.env.bus().await;
    let invoice = v1::Invoice {
        id: InvoiceId::derived(key).to_string(),
        number: format!("2026-{key}"),
        status: "issued".into(),
        account_id: account.map_or_else(|| AccountId::derived(key).to_string(), str::to_owned),
        currency: "EUR".into(),
        total_incl_vat: gross.into(),
        total_excl_vat: net.into(),
        total_vat: vat.into(),
        session_ids: vec![SessionId::derived(key).to_string()],
        ..Default::default()
    };
    let id = invoice.id.clone();
    let subject = format!("invoice.{id}.issued");
    let mut meta = joule_testkit::publish::meta(&subject, "Invoice", &subject, 1);
    meta.tenant_id = tenant.into();
    let message = v1::InvoiceIssued {
        invoice: Some(invoice),
    };
    joule_testkit::publish::publish(&bus, subject, meta, &message).await;
    id
}

fn rows(reply: &Value) -> Vec<Value> {
    reply["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn finance_reads_the_general_ledger_filters_it_and_exports_it() {
    let app = App::spawn_adjusted(&[joule_api::SERVICE, joule_ledger::SERVICE], |_| {}).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let first = invoice(&app, "default", "gl-1", None, ("11.90", "11.90", "0.00")).await;
    let second = invoice(&app, "default", "gl-2", None, ("5.00", "5.00", "0.00")).await;
    invoice(&app, "globex", "gl-3", None, ("99.00", "99.00", "0.00")).await;
    let all = joule_testkit::eventually("both invoices posted", || async {
        let listed = app.get("/v1/ledger/postings?limit=500").await;
        let data = rows(&listed.body);
        let sources: std::collections::BTreeSet<String> = data
            .iter()
            .map(|p| p["source_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        (sources.len() == 2).then_some(data)
    })
    .await;
    assert!(all.iter().all(|p| p["source_type"] == "invoice"));
    assert!(
        !all.iter().any(|p| p["source_id"] == "gl-3"),
        "globex's are not ours"
    );

    // The chart names every account posted to.
    let chart = app.get("/v1/ledger/accounts").await;
    assert_eq!(chart.status, StatusCode::OK, "{}", chart.body);
    let codes: Vec<_> = rows(&chart.body)
        .iter()
        .map(|a| a["code"].clone())
        .collect();
    for p in &all {
        assert!(codes.contains(&p["account"]), "{} is charted", p["account"]);
    }
    let receivable = rows(&chart.body)
        .into_iter()
        .find(|a| a["code"] == "accounts_receivable")
        .unwrap();
    assert_eq!(receivable["kind"], "asset");
    assert_eq!(receivable["normal_balance"], "debit");

    // Filters: an account, a document, an entry; pages with a cursor.
    let receivables = app
        .get("/v1/ledger/postings?account=accounts_receivable")
        .await;
    let debits: Vec<_> = rows(&receivables.body)
        .iter()
        .map(|p| p["debit"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(debits, ["11.90", "5.00"]);
    let of_first = app
        .get(&format!(
            "/v1/ledger/postings?source_type=invoice&source_id={first}"
        ))
        .await;
    assert!(
        rows(&of_first.body)
            .iter()
            .all(|p| p["source_id"] == first.as_str())
    );
    let entry = rows(&of_first.body)[0]["entry_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_entry = app
        .get(&format!("/v1/ledger/postings?entry_id={entry}"))
        .await;
    assert_eq!(rows(&by_entry.body).len(), rows(&of_first.body).len());
    let page = app.get("/v1/ledger/postings?limit=1").await;
    let cursor = page.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = app
        .get(&format!("/v1/ledger/postings?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(rows(&next.body)[0], all[1]);

    // The trial balance now, and as it stood before the invoices.
    let now = app.get("/v1/ledger/trial-balance").await;
    assert_eq!(now.body["total_debit"], "16.90");
    let at = before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let then = app
        .get(&format!("/v1/ledger/trial-balance?as_of={at}"))
        .await;
    assert_eq!(then.status, StatusCode::OK, "{}", then.body);
    assert_eq!(then.body["accounts"], serde_json::json!([]));
    let later = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let at_later = app
        .get(&format!("/v1/ledger/trial-balance?as_of={later}"))
        .await;
    assert_eq!(at_later.body, now.body);

    // The CSV export: a header, then one row per posting.
    let csv = app
        .client
        .get(app.url("/v1/ledger/general-ledger.csv"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "posted_at,entry_id,line,account,debit,credit,currency,source_type,source_id"
    );
    assert_eq!(lines.len(), all.len() + 1);
    assert!(
        lines[1..].iter().all(|l| l.split(',').count() == 9),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            ",accounts_receivable,5.00,0.00,EUR,invoice,{second}"
        )),
        "{text}"
    );

    // Bad input names the parameter.
    for path in [
        "/v1/ledger/postings?posted_after=yesterday",
        "/v1/ledger/postings?entry_id=nope",
        "/v1/ledger/postings?colour=red",
        "/v1/ledger/trial-balance?as_of=soon",
        "/v1/ledger/general-ledger.csv?posted_before=x",
    ] {
        let refused = app.get(path).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            refused.body
        );
    }
}

async fn captured(app: &App, key: &str, account: &str, amount: &str) {
    let bus = app.env.bus().await;
    let message = v1::PaymentCaptured {
        intent_id: key.into(),
        session_id: SessionId::derived(key).to_string(),
        account_id: account.into(),
        provider: "sandbox".into(),
        kind: "card".into(),
        purpose: "session".into(),
        currency: "EUR".into(),
        amount: amount.into(),
        amount_released: "0.00".into(),
        ..Default::default()
    };
    let subject = format!("payment.{key}.captured");
    let meta = joule_testkit::publish::meta(&subject, "PaymentIntent", &subject, 1);
    joule_testkit::publish::publish(&bus, subject, meta, &message).await;
}

#[tokio::test]
async fn a_customers_statement_follows_its_receivable_and_adds_up_to_the_ledger() {
    let app = App::spawn_adjusted(&[joule_api::SERVICE, joule_ledger::SERVICE], |_| {}).await;
    let account = app.create_account().await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    invoice(
        &app,
        "default",
        "st-1",
        Some(&account),
        ("11.90", "10.00", "1.90"),
    )
    .await;
    let path = format!("/v1/accounts/{account}/statement");
    joule_testkit::eventually("the charge on the statement", || async {
        let s = app.get(&path).await;
        (s.body["lines"].as_array().map_or(0, Vec::len) == 1).then_some(())
    })
    .await;
    let between = chrono::Utc::now();
    captured(&app, "st-1", &account, "5.00").await;
    let statement = joule_testkit::eventually("the payment on the statement", || async {
        let s = app.get(&path).await;
        (s.body["lines"].as_array().map_or(0, Vec::len) == 2).then_some(s.body)
    })
    .await;
    let lines = statement["lines"].as_array().unwrap();
    assert_eq!(lines[0]["type"], "charge");
    assert_eq!(
        (lines[0]["debit"].as_str(), lines[0]["balance"].as_str()),
        (Some("11.90"), Some("11.90"))
    );
    assert_eq!(lines[1]["type"], "payment");
    assert_eq!(
        (lines[1]["credit"].as_str(), lines[1]["balance"].as_str()),
        (Some("5.00"), Some("6.90"))
    );
    assert_eq!(
        statement["balances"],
        serde_json::json!([{"currency": "EUR", "opening": "0.00", "closing": "6.90"}])
    );
    // The statements add up to the ledger's receivables (one customer here).
    let tb = app.get("/v1/ledger/trial-balance").await;
    let receivable = tb.body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == "accounts_receivable")
        .cloned()
        .unwrap();
    assert_eq!(receivable["balance"], "6.90");

    // A period: what was owed at its start is the opening balance.
    let from = between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let period = app
        .get(&format!("{path}?from={}", from.replace('+', "%2B")))
        .await;
    assert_eq!(period.status, StatusCode::OK, "{}", period.body);
    assert_eq!(period.body["lines"].as_array().unwrap().len(), 1);
    assert_eq!(period.body["balances"][0]["opening"], "11.90");
    assert_eq!(period.body["balances"][0]["closing"], "6.90");

    // Bad input.
    let unknown = app
        .get("/v1/accounts/6f1c1d8e-0000-4000-8000-000000000000/statement")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let backwards = app
        .get(&format!(
            "{path}?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(backwards.problem(StatusCode::UNPROCESSABLE_ENTITY), ["to"]);
}
