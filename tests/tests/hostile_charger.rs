//! A hostile charger does not stop Joule: the Python `ocpp` package plays an OCPP 1.6 and a 2.0.1
//! charger that send extreme and malformed values in every transaction message (issue 11's
//! reproducer, 1e300, NaN, Infinity, 10^30, years 0001 and 9999, strings of 20,000 characters,
//! 4000 samples in one message). Every message is acknowledged; a frame of 100,000 samples beyond
//! the gateway's frame limit is not. Afterwards `joule run --all` is still up, an honest charge on another charger is priced, invoiced and posted with a balanced
//! ledger, and the hostile sessions carry `value_out_of_range`.

use joule_e2e::{
    Api, CHARGE, JouleProcess, invoiced_sessions, python_charge_point, python_script, register,
    wait_until_charger_known,
};
use joule_testkit::TestEnv;
use serde_json::{Value, json};

fn flags(session: &Value) -> Vec<&str> {
    session["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Every transaction message got its CALLRESULT; a frame too deep to read got a CALLERROR with
/// its id.
fn assert_all_acknowledged(out: &Value) {
    let answers = out["answers"].as_array().expect("answers");
    assert!(answers.len() >= 8, "{out}");
    for answer in answers {
        assert_eq!(answer["acknowledged"], json!(true), "{answer}");
    }
    // Beyond the frame limit: the connection is closed or the frame refused, never acknowledged.
    let huge = &out["huge_frame"];
    assert!(*huge == json!("closed") || huge[0] == json!(4), "{huge}");
    let deep = &out["too_deep_answer"];
    // 1.6 spells it FormationViolation, 2.0.1 FormatViolation.
    assert_eq!(
        (&deep[0], &deep[1]),
        (&json!(4), &json!("too-deep")),
        "{deep}"
    );
    assert!(
        deep[2] == "FormationViolation" || deep[2] == "FormatViolation",
        "{deep}"
    );
}

#[tokio::test]
async fn a_hostile_charger_stops_neither_joule_nor_its_billing() {
    let env = TestEnv::new().await;
    let mut joule = JouleProcess::new(env!("CARGO_BIN_EXE_joule-under-test"));
    // The 2.0.1 charger's Ended event names the largest seqNo: its session completes overdue.
    joule
        .start(&env, &[("JOULE_SESSION_EVENT_WAIT_SECS", "2")])
        .await
        .unwrap();
    let api = Api::new(&joule.api_addr);
    let ocpp = format!("ws://{}/ocpp", joule.ocpp_addr);
    let hostile16 = register(&api, "hostile16").await.unwrap();
    let hostile201 = register(&api, "hostile201").await.unwrap();
    let honest = register(&api, "honest").await.unwrap();
    for fx in [&hostile16, &hostile201, &honest] {
        wait_until_charger_known(&ocpp, &fx.charge_point_id)
            .await
            .unwrap();
    }

    let out = python_script(
        "hostile_charger.py",
        &[
            &ocpp,
            &hostile16.charge_point_id,
            &hostile16.token_uid,
            "--v16",
        ],
    )
    .await
    .unwrap();
    assert_all_acknowledged(&out);
    let out = python_script(
        "hostile_charger.py",
        &[
            &ocpp,
            &hostile201.charge_point_id,
            &hostile201.token_uid,
            "--v201",
        ],
    )
    .await
    .unwrap();
    assert_all_acknowledged(&out);
    assert!(
        joule.is_running(),
        "joule exited after the hostile chargers"
    );

    // An honest charge on another charger: priced, invoiced, posted.
    python_charge_point(&honest.charge(&ocpp, CHARGE, &[]))
        .await
        .unwrap();
    let sessions = invoiced_sessions(&api, &honest.charger_id, 1)
        .await
        .unwrap();
    assert_eq!(sessions[0]["energy_kwh"], "12.5");
    assert!(
        !flags(&sessions[0]).contains(&"value_out_of_range"),
        "{}",
        sessions[0]
    );
    let invoice = api
        .get(&format!(
            "/v1/invoices/{}",
            sessions[0]["invoice_id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(invoice["total_incl_vat"], "7.62");

    // The hostile sessions are billed too, each flagged; four 1.6 transactions, two 2.0.1.
    for (fx, count) in [(&hostile16, 4), (&hostile201, 2)] {
        let sessions = invoiced_sessions(&api, &fx.charger_id, count)
            .await
            .unwrap();
        for session in &sessions {
            assert!(flags(session).contains(&"value_out_of_range"), "{session}");
            let energy: rust_decimal::Decimal =
                session["energy_kwh"].as_str().unwrap().parse().unwrap();
            assert!(energy >= rust_decimal::Decimal::ZERO, "{session}");
        }
    }

    // The ledger has posted every invoice and balances.
    let tb = api.get("/v1/ledger/trial-balance").await.unwrap();
    assert_eq!(tb["total_debit"], tb["total_credit"], "{tb}");
    assert!(joule.is_running(), "joule exited while billing");
    joule.kill();
}
