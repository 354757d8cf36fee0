//! Commands through the REST API to a charger on another gateway replica: two gateway replicas on
//! one database and NATS namespace, the api in the first, the charger (Python `ocpp`, OCPP 2.0.1)
//! connected to the second. A remote stop issued through the API ends the charge, which is then
//! priced and invoiced.

use std::time::Duration;

use joule_e2e::{Api, CHARGE, charge_until_remote_stop, invoiced_sessions, register};
use joule_testkit::TestEnv;
use serde_json::json;

#[tokio::test]
async fn a_remote_stop_through_the_api_reaches_the_charger_on_the_other_replica() {
    let env = TestEnv::new().await;
    let replica_a = joule_runtime::spawn(env.settings(), &joule_cli::services::ALL)
        .await
        .unwrap();
    let replica_b = joule_runtime::spawn(env.settings(), &[joule_gateway::SERVICE])
        .await
        .unwrap();
    let api = Api::new(replica_a.addr("api").unwrap());
    let ocpp_b = format!("ws://{}/ocpp", replica_b.addr("ocpp").unwrap());
    let fx = register(&api, "remote").await.unwrap();
    joule_e2e::wait_until_charger_known(&ocpp_b, &fx.charge_point_id)
        .await
        .unwrap();
    let commands = format!("/v1/chargers/{}/commands", fx.charger_id);

    // Offline: a clear refusal, not a wait.
    let (status, problem) = api
        .post_raw(
            &format!("{commands}/remote_stop"),
            json!({"transaction_id": "7"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not connected"),
        "{problem}"
    );
    let (status, _) = api
        .post_raw(&format!("{commands}/launch_rocket"), json!({}))
        .await
        .unwrap();
    assert_eq!(status, 404);

    // The charger starts charging on replica B and waits for the operator's stop.
    let charger = charge_until_remote_stop(&ocpp_b, &fx, CHARGE, "remote-tx-1");
    api.wait_for(&format!("/v1/sessions?charger_id={}", fx.charger_id), |v| {
        v["data"].as_array().is_some_and(|d| d.len() == 1)
    })
    .await
    .unwrap();
    let mut answer = None;
    // The session is known before the charger's start answer is read; retry while the charger is
    // still busy with it (its connection is up: a refusal here would be a 409 "not connected" only
    // if presence were wrong).
    for _ in 0..50 {
        let (status, body) = api
            .post_raw(
                &format!("{commands}/remote_stop"),
                json!({"transaction_id": "remote-tx-1"}),
            )
            .await
            .unwrap();
        if status == 200 {
            answer = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = answer.expect("the remote stop was answered");
    assert_eq!(answer["status"], "Accepted");
    assert_eq!(answer["action"], "RequestStopTransaction");
    assert_eq!(answer["ocpp_version"], "2.0.1");
    let out = charger.await.unwrap().unwrap();
    assert_eq!(out["remote_stop_request"]["transaction_id"], "remote-tx-1");

    let sessions = invoiced_sessions(&api, &fx.charger_id, 1).await.unwrap();
    assert_eq!(sessions[0]["energy_kwh"], "12.5");
    replica_b.stop().await.unwrap();
    replica_a.stop().await.unwrap();
}
