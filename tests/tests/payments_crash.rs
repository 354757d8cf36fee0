//! Money never moves twice: `joule` is killed right after the provider placed a hold and before the
//! hold was recorded, and again right after the provider captured and before the capture was recorded.
//! After each restart the same calls are repeated with the same idempotency keys: one hold, one
//! capture, Joule's state matches the provider's books (the sandbox provider's tables), and the ledger
//! balances with the invoice's receivable cleared.

use std::time::Duration;

use joule_e2e::{ADMIN_TOKEN, Api, JouleProcess, register, wait_until_charger_known};
use joule_testkit::TestEnv;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const FAULT: &str = "JOULE_FAULT_PAYMENTS_CRASH_AFTER_PROVIDER";

/// A UTC time as RFC 3339 (the e2e crate has no date library).
fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn payment_of(api: &Api, account: &str, status: &str) -> Value {
    let list = api
        .wait_for(&format!("/v1/payments?account_id={account}"), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1 && d[0]["status"] == status)
        })
        .await
        .unwrap();
    list["data"][0].clone()
}

#[tokio::test]
async fn a_crash_between_the_provider_call_and_its_record_neither_holds_nor_captures_twice() {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let mut joule = JouleProcess::new(env!("CARGO_BIN_EXE_joule-under-test"));

    // 1. The hold is placed at the provider; the process dies before recording it.
    joule.start(&env, &[(FAULT, "authorize")]).await.unwrap();
    let api = Api::new(&joule.api_addr);
    let ocpp = format!("ws://{}/ocpp", joule.ocpp_addr);
    let fx = register(&api, "pay-crash").await.unwrap();
    let saved = reqwest::Client::new()
        .post(format!("{}/v1/payment_methods", api.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", "card")
        .json(&json!({"account_id": fx.account_id, "provider": "sandbox", "provider_token": "tok_sandbox_ok", "make_default": true}))
        .send()
        .await
        .unwrap();
    assert!(saved.status().is_success());
    wait_until_charger_known(&ocpp, &fx.charge_point_id)
        .await
        .unwrap();
    let mut charger = joule_sim::Charger::connect(&ocpp, &fx.charge_point_id)
        .await
        .unwrap();
    charger.boot().await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let started_at = now - 45 * 60;
    let start_payload = json!({"connectorId": 1, "idTag": fx.token_uid, "meterStart": 1000, "timestamp": rfc3339(started_at)});
    // With the gateway's payment check (`ocpp_payment_check`) the start waits for the hold, so the
    // process dies before answering it; without, it answers first. Either way the charger sends the
    // same start again after the restart and the gateway gives it the same transaction id.
    let answered = charger
        .call("StartTransaction", start_payload.clone())
        .await
        .ok()
        .and_then(|start| start["transactionId"].as_i64());
    assert_eq!(
        joule.wait_exit(Duration::from_secs(60)).await.unwrap(),
        Some(137)
    );
    drop(charger);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM payments.sandbox_holds").await,
        1,
        "the provider holds"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM payments.events WHERE event_type = 'PaymentAuthorized'"
        )
        .await,
        0,
        "Joule had not recorded it"
    );

    // 2. Restarted, the redelivered session start asks again with the same key: the same hold is
    //    recorded. Then the session ends, is priced, captured at the provider, and the process dies
    //    before recording the capture.
    joule.start(&env, &[(FAULT, "capture")]).await.unwrap();
    let api = Api::new(&joule.api_addr);
    let held = payment_of(&api, &fx.account_id, "authorized").await;
    assert_eq!(held["amount_authorized"], "50.00");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM payments.sandbox_holds").await,
        1,
        "no second hold"
    );
    let ocpp = format!("ws://{}/ocpp", joule.ocpp_addr);
    let mut charger = loop {
        if let Ok(c) = joule_sim::Charger::connect(&ocpp, &fx.charge_point_id).await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    charger.boot().await.unwrap();
    let transaction_id = match answered {
        Some(id) => id,
        None => {
            let start = charger
                .call("StartTransaction", start_payload)
                .await
                .unwrap();
            start["transactionId"].as_i64().unwrap()
        }
    };
    let stopped_at = started_at + 45 * 60;
    charger
        .call(
            "StopTransaction",
            json!({"transactionId": transaction_id, "idTag": fx.token_uid, "meterStop": 13500, "timestamp": rfc3339(stopped_at), "reason": "Local"}),
        )
        .await
        .unwrap();
    assert_eq!(
        joule.wait_exit(Duration::from_secs(60)).await.unwrap(),
        Some(137)
    );
    drop(charger);
    let (captured_at_provider, status): (Decimal, String) =
        sqlx::query_as("SELECT captured, status FROM payments.sandbox_holds")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "captured");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM payments.events WHERE event_type = 'PaymentCaptured'"
        )
        .await,
        0
    );

    // 3. A clean restart repeats the capture with the same key and records the provider's answer.
    joule.start(&env, &[]).await.unwrap();
    let api = Api::new(&joule.api_addr);
    let payment = payment_of(&api, &fx.account_id, "captured").await;
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_795_281_480), "2026-11-21T17:18:00Z");
    assert_eq!(
        payment["amount_captured"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        captured_at_provider
    );
    assert_eq!(
        payment["amount_captured"], "7.62",
        "FLAT 0.50 + 12.5 kWh + 45 min, with VAT"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM payments.sandbox_holds").await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM payments.sandbox_calls WHERE operation = 'capture'"
        )
        .await,
        1,
        "one capture at the provider"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM payments.events WHERE event_type IN ('PaymentAuthorized', 'PaymentCaptured')").await,
        2
    );
    let tb = api
        .wait_for("/v1/ledger/trial-balance", |tb| {
            tb["accounts"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|r| r["account"] == "cash_clearing" && r["balance"] == "7.62")
                    && a.iter()
                        .any(|r| r["account"] == "accounts_receivable" && r["balance"] == "0.00")
            })
        })
        .await
        .unwrap();
    assert_eq!(tb["total_debit"], tb["total_credit"]);
    joule.kill();
}
