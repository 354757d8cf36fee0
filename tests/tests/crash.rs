//! A process killed mid-flow and restarted: exactly one invoice per session, a balanced ledger, and
//! every integration event on NATS exactly once.

use std::time::Duration;

use joule_bus::Domain;
use joule_e2e::{Api, JouleProcess, register, wait_until_charger_known};
use joule_testkit::TestEnv;

async fn count(bus: &joule_bus::Bus, domain: Domain, event_type: &str) -> usize {
    bus.read_stream(domain)
        .await
        .unwrap()
        .iter()
        .filter(|(_, e)| e.event_type == event_type)
        .count()
}

#[tokio::test]
async fn a_crash_between_commit_and_publish_loses_nothing_and_counts_nothing_twice() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let pool = env.pool().await;
    let mut joule = JouleProcess::new(env!("CARGO_BIN_EXE_joule-under-test"));

    // 1. Sessions commits SessionCompleted, then the process dies before publishing it.
    joule
        .start(
            &env,
            &[("JOULE_FAULT_CRASH_BEFORE_PUBLISH", "SessionCompleted")],
        )
        .await
        .unwrap();
    let api = Api::new(&joule.api_addr);
    let ocpp = format!("ws://{}/ocpp", joule.ocpp_addr);
    let fx = register(&api, "crash").await.unwrap();
    wait_until_charger_known(&ocpp, &fx.charge_point_id)
        .await
        .unwrap();
    let mut charger = joule_sim::Charger::connect(&ocpp, &fx.charge_point_id)
        .await
        .unwrap();
    charger.boot().await.unwrap();
    let run = charger.charge(&fx.token_uid, 11_000, 60, 2).await.unwrap();
    assert_eq!(
        joule.wait_exit(Duration::from_secs(60)).await.unwrap(),
        Some(137)
    );

    let committed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions.events WHERE event_type = 'SessionCompleted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        committed, 1,
        "the completion was committed before the crash"
    );
    assert_eq!(
        count(&bus, Domain::Session, "joule.v1.SessionCompleted").await,
        0,
        "and not yet published"
    );

    // 2. Restarted, the relay catches up; then invoicing dies after publishing InvoiceIssued but
    //    before recording that it did, so its restart publishes it again. Nothing here talks to
    //    the process, and the crash may come before its API listens: no wait for that.
    joule
        .spawn(
            &env,
            &[("JOULE_FAULT_CRASH_AFTER_PUBLISH", "InvoiceIssued")],
        )
        .unwrap();
    assert_eq!(
        joule.wait_exit(Duration::from_secs(60)).await.unwrap(),
        Some(137)
    );
    assert_eq!(
        count(&bus, Domain::Invoice, "joule.v1.InvoiceIssued").await,
        1
    );

    // 3. A clean restart finishes the flow.
    joule.start(&env, &[]).await.unwrap();
    let api = Api::new(&joule.api_addr);
    let sessions = api
        .wait_for(&format!("/v1/sessions?charger_id={}", fx.charger_id), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1 && d[0]["invoice_id"].is_string())
        })
        .await
        .unwrap();
    let expected_kwh = rust_decimal::Decimal::from(run.meter_stop_wh - run.meter_start_wh)
        / rust_decimal::Decimal::from(1000);
    assert_eq!(
        sessions["data"][0]["energy_kwh"],
        expected_kwh.normalize().to_string()
    );
    // Let the ledger catch up with the invoice.
    let tb = api
        .wait_for("/v1/ledger/trial-balance", |tb| {
            tb["accounts"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let invoices = api
        .get(&format!("/v1/invoices?account_id={}", fx.account_id))
        .await
        .unwrap();
    assert_eq!(
        invoices["data"].as_array().unwrap().len(),
        1,
        "exactly one invoice"
    );
    assert_eq!(
        count(&bus, Domain::Session, "joule.v1.SessionCompleted").await,
        1
    );
    assert_eq!(
        count(&bus, Domain::Pricing, "joule.v1.SessionPriced").await,
        1
    );
    assert_eq!(
        count(&bus, Domain::Invoice, "joule.v1.InvoiceIssued").await,
        1,
        "the re-publish was de-duplicated"
    );
    assert_eq!(
        count(&bus, Domain::Ledger, "joule.v1.JournalEntryPosted").await,
        1
    );
    let tb_now = api.get("/v1/ledger/trial-balance").await.unwrap();
    assert_eq!(tb_now, tb);
    assert_eq!(tb["total_debit"], tb["total_credit"]);
    assert_eq!(tb["total_debit"], invoices["data"][0]["total_incl_vat"]);
    joule.kill();
}
