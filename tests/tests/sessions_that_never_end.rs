//! Sessions that would never end (ADR 027), end to end with the Python `ocpp` 1.6 charger: a
//! StopTransaction with `transactionId = -1` closes the charger's open session instead of becoming a
//! second one, and a session whose charger goes silent is closed from its last reading after the
//! inactivity limit, priced, invoiced, and its card hold captured.

use joule_e2e::{
    ADMIN_TOKEN, Api, CHARGE, Joule, flags, init_tracing, invoice_total, invoiced_sessions,
    python_charge_point, register, wait_until_charger_known,
};
use joule_testkit::TestEnv;
use serde_json::json;

#[tokio::test]
async fn a_minus_one_stop_closes_the_chargers_open_session_and_is_billed_once() {
    init_tracing();
    let j = Joule::spawn().await;
    let fx = j.register("minus-one").await;

    // The charger starts (and gets transaction id N), meters, and stops with transactionId -1.
    let out = python_charge_point(&fx.charge(&j.ocpp, CHARGE, &["--stop-transaction-id", "-1"]))
        .await
        .unwrap();
    assert_eq!(out["start_status"], "Accepted", "{out}");
    // The stop is acknowledged as any other.
    assert_eq!(out["stop_status"], json!(["Accepted"]), "{out}");

    // One session, the started one, completed by the -1 stop and billed once.
    let sessions = invoiced_sessions(&j.api, &fx.charger_id, 1).await.unwrap();
    let session = &sessions[0];
    assert_eq!(
        session["transaction_id"],
        out["transaction_id"].to_string().as_str()
    );
    assert_eq!(session["energy_kwh"], "12.5");
    let flags = flags(session);
    assert!(
        flags.contains(&"invalid_transaction_id".to_owned()),
        "{flags:?}"
    );
    assert!(
        flags.contains(&"stop_matched_to_open_transaction".to_owned()),
        "{flags:?}"
    );
    assert!(
        !flags.contains(&"stop_without_start".to_owned()),
        "{flags:?}"
    );
    // The same tariff and charge as the plain 1.6 flow.
    assert_eq!(invoice_total(&j.api, session).await, "7.62");
    j.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_card_paid_session_whose_charger_goes_silent_is_closed_priced_and_captured() {
    init_tracing();
    let env = TestEnv::new().await;
    let mut settings = env.settings();
    // Short enough for a test; the charger's messages come milliseconds apart.
    settings.session_inactivity_secs = 5;
    let running = joule_runtime::spawn(settings, &joule_cli::services::ALL)
        .await
        .unwrap();
    let api = Api::new(running.addr("api").unwrap());
    let ocpp = format!("ws://{}/ocpp", running.addr("ocpp").unwrap());
    let fx = register(&api, "silent").await.unwrap();
    let method = reqwest::Client::new()
        .post(format!("{}/v1/payment_methods", api.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", "save-card")
        .json(&json!({"account_id": fx.account_id, "provider": "sandbox", "provider_token": "tok_sandbox_ok", "make_default": true}))
        .send()
        .await
        .unwrap();
    assert!(method.status().is_success(), "{method:?}");
    wait_until_charger_known(&ocpp, &fx.charge_point_id)
        .await
        .unwrap();

    // The charger starts at 1000 Wh, sends one reading of 7250 Wh half-way, and is never heard of
    // again: no StopTransaction.
    let out = python_charge_point(&fx.charge(&ocpp, CHARGE, &["--no-stop"]))
        .await
        .unwrap();
    assert_eq!(out["start_status"], "Accepted", "{out}");
    assert!(out["stop_status"].is_null(), "{out}");

    // Closed from its last reading, flagged, priced and invoiced,
    let sessions = invoiced_sessions(&api, &fx.charger_id, 1).await.unwrap();
    let session = &sessions[0];
    assert_eq!(session["energy_kwh"], "6.25", "7250 - 1000 Wh");
    assert!(
        flags(session).contains(&"closed_for_inactivity".to_owned()),
        "{session}"
    );
    let total = invoice_total(&api, session).await;
    // and the hold placed at the start is captured for the receipt's gross.
    let payments = api
        .wait_for(
            &format!(
                "/v1/payments?session_id={}",
                session["id"].as_str().unwrap()
            ),
            |v| {
                v["data"]
                    .as_array()
                    .is_some_and(|d| d.len() == 1 && d[0]["status"] == "captured")
            },
        )
        .await
        .unwrap();
    let payment = &payments["data"][0];
    assert_eq!(payment["amount_authorized"], "50.00");
    assert_eq!(payment["amount_captured"], total.as_str());
    running.stop().await.unwrap();
}
