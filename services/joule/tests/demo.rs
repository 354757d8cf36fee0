//! `joule demo`'s tour against a real platform (every service, fresh database and NATS namespace):
//! what it prints comes from the API's answers, and what it leaves the user with works: the key it
//! made reads both `curl` examples with 200.

use joule_cli::demo;
use joule_testkit::TestEnv;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_tells_what_happened_and_its_key_and_curl_examples_work() {
    let env = TestEnv::new().await;
    let settings = env.settings();
    let running = joule_runtime::spawn(settings.clone(), &joule_cli::services::ALL)
        .await
        .expect("services start");
    let mut out = Vec::new();
    let next = demo::tour(&running, &settings, 2, 1, &mut out)
        .await
        .expect("the tour runs");
    let out = String::from_utf8(out).expect("utf-8");

    assert!(out.contains("Charged 2 sessions"), "{out}");
    assert!(next.key.starts_with("jk_test_"), "{}", next.key);
    assert!(
        next.curl(&next.reads[0]).starts_with(&format!(
            "curl -sH \"Authorization: Bearer {}\" \"http://",
            next.key
        )),
        "{}",
        next.curl(&next.reads[0])
    );
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for path in &next.reads {
        let response = http
            .get(format!("{}{path}", next.api))
            .bearer_auth(&next.key)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        answers.push(response.json::<Value>().await.expect("JSON"));
    }
    // The session read is one the tour printed, with the invoice it printed for it.
    let session = &answers[0];
    let invoice_id = session["invoice_id"].as_str().expect("invoiced");
    let invoice: Value = http
        .get(format!("{}/v1/invoices/{invoice_id}", next.api))
        .bearer_auth(&next.key)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let number = invoice["number"].as_str().expect("numbered");
    let line = out
        .lines()
        .find(|l| l.contains(&format!("invoice {number}")))
        .unwrap_or_else(|| panic!("invoice {number} not in the tour:\n{out}"));
    assert!(
        line.contains(session["charge_point_id"].as_str().expect("charger")),
        "{line}"
    );
    assert!(
        line.contains(invoice["total_incl_vat"].as_str().expect("total")),
        "{line}"
    );
    // The invoices read lists the second account's receipts.
    assert!(!answers[1]["data"].as_array().expect("a list").is_empty());
    // The trial balance printed is the ledger's.
    let tb: Value = http
        .get(format!("{}/v1/ledger/trial-balance", next.api))
        .bearer_auth(&next.key)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let total = tb["total_debit"].as_str().expect("total");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("total") && l.contains(total)),
        "{out}"
    );
    running.stop().await.expect("stop");
}
