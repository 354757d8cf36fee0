//! Commands to chargers across replicas: two gateway replicas on one database and NATS namespace;
//! a command given to either reaches the charger on the other, in its OCPP version.

mod support;

use std::net::SocketAddr;

use futures::SinkExt;

use joule_proto::v1::charger_command_request::Command;
use joule_proto::v1::charger_commands_client::ChargerCommandsClient;
use joule_proto::v1::{
    ChargerCommandRequest, ChargerCommandResult, CostUpdate, RemoteStart, RemoteStop,
};
use serde_json::json;
use support::{CP, Charger, Harness};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn connect_at(addr: SocketAddr, cp: &str, protocol: &str) -> Charger {
    let mut request = format!("ws://{addr}/ocpp/{cp}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    Charger {
        ws,
        next_id: 0,
        protocol: protocol.into(),
    }
}

async fn client(
    running: &joule_runtime::Running,
) -> ChargerCommandsClient<tonic::transport::Channel> {
    ChargerCommandsClient::connect(format!("http://{}", running.addr("grpc").unwrap()))
        .await
        .unwrap()
}

fn request(cp: &str, command: Command) -> ChargerCommandRequest {
    ChargerCommandRequest {
        tenant_id: "default".into(),
        charge_point_id: cp.into(),
        command: Some(command),
    }
}

/// Sends `command` through `commands` and plays the charger: checks the CALL, answers it.
async fn round_trip(
    commands: &ChargerCommandsClient<tonic::transport::Channel>,
    charger: &mut Charger,
    command: ChargerCommandRequest,
    expect_action: &str,
    answer: serde_json::Value,
) -> (serde_json::Value, ChargerCommandResult) {
    let mut c = commands.clone();
    let call = tokio::spawn(async move { c.execute(command).await });
    let frame = charger.next_frame().await;
    assert_eq!(frame[0], 2, "a CALL: {frame}");
    assert_eq!(frame[2], expect_action);
    charger.answer(&frame[1], answer).await;
    let result = call.await.unwrap().expect("command answered").into_inner();
    (frame[3].clone(), result)
}

#[tokio::test]
async fn a_command_reaches_the_charger_connected_to_the_other_replica() {
    let h = Harness::start().await;
    let replica_b = joule_runtime::spawn(h.env.settings(), &[joule_gateway::SERVICE])
        .await
        .unwrap();
    let on_a = client(h.running.as_ref().unwrap()).await;

    // A 2.0.1 charger on replica B, commanded through replica A.
    let mut charger = connect_at(replica_b.addr("ocpp").unwrap(), CP, "ocpp2.0.1").await;
    charger.ok("Heartbeat", json!({})).await;
    let stop = request(
        CP,
        Command::RemoteStop(RemoteStop {
            transaction_id: "tx-9".into(),
        }),
    );
    let (payload, result) = round_trip(
        &on_a,
        &mut charger,
        stop,
        "RequestStopTransaction",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(payload, json!({"transactionId": "tx-9"}));
    assert_eq!(
        (
            result.status.as_str(),
            result.ocpp_version.as_str(),
            result.action.as_str()
        ),
        ("Accepted", "2.0.1", "RequestStopTransaction")
    );
    let start = request(
        CP,
        Command::RemoteStart(RemoteStart {
            id_token: "04A2B3C4".into(),
            connector_id: 1,
            remote_start_id: Some(31),
            ..Default::default()
        }),
    );
    let (payload, _) = round_trip(
        &on_a,
        &mut charger,
        start,
        "RequestStartTransaction",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(payload["remoteStartId"], 31);
    let cost = request(
        CP,
        Command::CostUpdate(CostUpdate {
            transaction_id: "tx-9".into(),
            total_cost: "4.20".into(),
            ..Default::default()
        }),
    );
    let (payload, result) = round_trip(&on_a, &mut charger, cost, "CostUpdated", json!({})).await;
    assert_eq!(payload, json!({"totalCost": 4.2, "transactionId": "tx-9"}));
    assert_eq!(result.status, "");

    // The charger refuses with a CALLERROR: the caller learns why.
    let mut c = on_a.clone();
    let call = tokio::spawn(async move {
        c.execute(request(
            CP,
            Command::RemoteStop(RemoteStop {
                transaction_id: "tx-x".into(),
            }),
        ))
        .await
    });
    let frame = charger.next_frame().await;
    charger
        .ws
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!([4, frame[1], "NotSupported", "no such transaction", {}]).to_string(),
        ))
        .await
        .unwrap();
    let refused = call.await.unwrap().unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("NotSupported"), "{refused:?}");

    // The charger reconnects to replica A (1.6 this time): B closes its stale connection and
    // commands now reach A's.
    let mut again = connect_at(h.addr, CP, "ocpp1.6").await;
    assert_eq!(charger.closed_by_gateway().await, Some(1008), "taken over");
    again.ok("Heartbeat", json!({})).await;
    let on_b = client(&replica_b).await;
    let stop16 = request(
        CP,
        Command::RemoteStop(RemoteStop {
            transaction_id: "17".into(),
        }),
    );
    let (payload, result) = round_trip(
        &on_b,
        &mut again,
        stop16,
        "RemoteStopTransaction",
        json!({"status": "Rejected"}),
    )
    .await;
    assert_eq!(payload, json!({"transactionId": 17}));
    assert_eq!(
        (result.status.as_str(), result.ocpp_version.as_str()),
        ("Rejected", "1.6")
    );

    // Offline and unknown chargers fail clearly, without waiting.
    again.close().await;
    joule_testkit::eventually("the charger is offline", || {
        let mut c = on_b.clone();
        async move {
            let stop = request(
                CP,
                Command::RemoteStop(RemoteStop {
                    transaction_id: "17".into(),
                }),
            );
            let offline = c.execute(stop).await.is_err_and(|e| {
                e.code() == tonic::Code::FailedPrecondition && e.message().contains("not connected")
            });
            offline.then_some(())
        }
    })
    .await;
    let mut c = on_b.clone();
    let unknown = c
        .execute(request(
            "CP-NOBODY",
            Command::RemoteStop(RemoteStop {
                transaction_id: "1".into(),
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    replica_b.stop().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn commands_that_the_charger_version_cannot_carry_are_refused_before_sending() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    charger.ok("Heartbeat", json!({})).await;
    let mut commands = client(h.running.as_ref().unwrap()).await;
    // 1.6 transaction ids are integers.
    let refused = commands
        .execute(request(
            CP,
            Command::RemoteStop(RemoteStop {
                transaction_id: "not-a-number".into(),
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("transaction_id"));
    // California Pricing on 1.6.
    let final_cost = request(
        CP,
        Command::CostUpdate(CostUpdate {
            transaction_id: "5".into(),
            total_cost: "7.62".into(),
            r#final: true,
            price_text: "EUR 7.62 incl. VAT".into(),
            ..Default::default()
        }),
    );
    let (payload, result) = round_trip(
        &commands,
        &mut charger,
        final_cost,
        "DataTransfer",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(payload["vendorId"], "org.openchargealliance.costmsg");
    assert_eq!(payload["messageId"], "FinalCost");
    let data: serde_json::Value = serde_json::from_str(payload["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        json!({"transactionId": 5, "cost": 7.62, "priceText": "EUR 7.62 incl. VAT"})
    );
    assert_eq!(result.status, "Accepted");
    charger.close().await;
    h.stop().await;
}
