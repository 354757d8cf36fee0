//! The internal plane as `k8s/` deploys it (ADR 028, 029): each service in a process of its own, as
//! its own NATS user under `deploy/nats/joule.conf`, with mutual TLS and per-caller grants on gRPC.
//! An operator's remote stop goes api → (gRPC) gateway replica A → (NATS, `joule.gateway.>`)
//! gateway replica B, which holds the charger (Python `ocpp`, OCPP 2.0.1), and nothing on the way
//! needs a permission the deployment does not grant.

use std::time::Duration;

use joule_config::Settings;
use joule_e2e::{Api, charge_until_remote_stop, register, wait_until_charger_known};
use joule_testkit::{NatsServer, TestEnv, TestPki, dev_nats_password};
use serde_json::json;

/// The settings of a process running `service` as the deployment would: its NATS user and
/// password, its certificate.
fn as_service(env: &TestEnv, nats: &NatsServer, pki: &TestPki, service: &str) -> Settings {
    let mut settings = env.settings();
    settings.nats_url = nats.url.clone();
    settings.namespace = "joule".into();
    settings.nats_user = service.into();
    settings.nats_password = dev_nats_password(service).into();
    pki.apply(service, &mut settings);
    settings
}

fn grpc_url(running: &joule_runtime::Running) -> String {
    format!("https://localhost:{}", running.addr("grpc").unwrap().port())
}

#[tokio::test]
async fn a_remote_stop_crosses_replicas_as_each_services_own_user_over_mtls() {
    let env = TestEnv::new().await;
    let nats = NatsServer::with_deploy_config().await;
    let pki = TestPki::new(&["api", "pricing", "gateway"]);

    let pricing = joule_runtime::spawn(
        as_service(&env, &nats, &pki, "pricing"),
        &[joule_pricing::SERVICE],
    )
    .await
    .expect("pricing starts as its user");
    let replica_a = joule_runtime::spawn(
        as_service(&env, &nats, &pki, "gateway"),
        &[joule_gateway::SERVICE],
    )
    .await
    .expect("gateway replica A starts");
    let replica_b = joule_runtime::spawn(
        as_service(&env, &nats, &pki, "gateway"),
        &[joule_gateway::SERVICE],
    )
    .await
    .expect("gateway replica B starts");
    let mut api_settings = as_service(&env, &nats, &pki, "api");
    api_settings.pricing_grpc_url = grpc_url(&pricing);
    api_settings.gateway_grpc_url = grpc_url(&replica_a);
    joule_testkit::absent_services(&mut api_settings, &["api"]);
    let api_process = joule_runtime::spawn(api_settings, &[joule_api::SERVICE])
        .await
        .expect("the api starts as its user");

    let api = Api::new(api_process.addr("api").unwrap());
    let ocpp_b = format!("ws://{}/ocpp", replica_b.addr("ocpp").unwrap());
    let fx = register(&api, "plane").await.unwrap();
    wait_until_charger_known(&ocpp_b, &fx.charge_point_id)
        .await
        .unwrap();

    let charger = charge_until_remote_stop(&ocpp_b, &fx, ["1000", "4000", "30"], "plane-tx-1");
    // Until the charger is connected to B, the command is refused: "not connected" (409), or, while
    // B still holds the 1.6 probe connection of `wait_until_charger_known` as the charger's, a 2.0.1
    // transaction id is not a 1.6 one (422).
    let path = format!("/v1/chargers/{}/commands/remote_stop", fx.charger_id);
    let mut answer = None;
    for _ in 0..300 {
        let (status, body) = api
            .post_raw(&path, json!({"transaction_id": "plane-tx-1"}))
            .await
            .unwrap();
        if status == 200 {
            answer = Some(body);
            break;
        }
        let probe_still_held = status == 422
            && body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("not an OCPP 1.6 transaction id"));
        assert!(
            status == 409 || probe_still_held,
            "only refusals of a charger not yet connected: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = answer.expect("the remote stop was answered");
    assert_eq!(answer["status"], "Accepted", "{answer}");
    assert_eq!(answer["action"], "RequestStopTransaction");
    let out = charger.await.unwrap().unwrap();
    assert_eq!(out["remote_stop_request"]["transaction_id"], "plane-tx-1");

    let log = nats.log();
    assert!(
        !log.contains("Violation"),
        "a service needed a permission the deployment does not grant:\n{log}"
    );
    for running in [api_process, replica_b, replica_a, pricing] {
        running.stop().await.unwrap();
    }
}
