//! The ledger for finance through the REST API (issue 15): the chart of accounts, the general
//! ledger's postings with filters and cursors, a trial balance at a date and the CSV export, each
//! tenant's only its own; what bad input gets.

use joule_domain::{AccountId, InvoiceId, SessionId};
use joule_proto::v1;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::App;

async fn invoice(app: &App, tenant: &str, key: &str, gross: &str) -> String {
    let bus = app.env.bus().await;
    let invoice = v1::Invoice {
        id: InvoiceId::derived(key).to_string(),
        number: format!("2026-{key}"),
        status: "issued".into(),
        account_id: AccountId::derived(key).to_string(),
        currency: "EUR".into(),
        total_incl_vat: gross.into(),
        total_excl_vat: gross.into(),
        total_vat: "0.00".into(),
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
    let first = invoice(&app, "default", "gl-1", "11.90").await;
    let second = invoice(&app, "default", "gl-2", "5.00").await;
    invoice(&app, "globex", "gl-3", "99.00").await;
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
