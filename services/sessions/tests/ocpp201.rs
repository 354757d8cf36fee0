//! OCPP 2.0.1 sessions against real PostgreSQL and NATS: events out of order or with gaps converge,
//! and signed meter values are kept byte-exact.

mod support;

use std::time::Duration;

use chrono::Utc;
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_testkit::TestEnv;
use support::*;

/// A 2.0.1 transaction as the gateway maps it: Started (seq 0), Updated (seq 1, with a signed
/// reading), Ended (seq 2). Returns the three events to publish, by subject kind.
fn transaction_201(
    tx: &str,
) -> (
    v1::TransactionStarted,
    v1::MeterValuesSampled,
    v1::TransactionStopped,
) {
    let ocmf = r#"OCMF|{"FV":"1.0","RD":[{"RV":"13.5","RU":"kWh"}]}|{"SD":"304502"}"#;
    let mut end = sample("2026-11-21T11:00:00Z", "Transaction.End", "13500");
    end.signed = Some(v1::SignedMeterValue {
        signed_meter_data: ocmf.into(),
        signing_method: "ECDSA-secp256r1-SHA256".into(),
        encoding_method: "OCMF".into(),
        public_key: "3059301306072A8648CE3D020106082A8648CE3D03010703420004".into(),
    });
    let started = v1::TransactionStarted {
        ocpp_version: "2.0.1".into(),
        seq_no: Some(0),
        samples: vec![sample("2026-11-21T10:00:00Z", "Transaction.Begin", "1000")],
        ..started("CP201", tx, "1000")
    };
    let updated = v1::MeterValuesSampled {
        charger_id: "charger-1".into(),
        charge_point_id: "CP201".into(),
        connector_id: 1,
        transaction_id: tx.into(),
        samples: vec![sample("2026-11-21T10:30:00Z", "Sample.Periodic", "7000")],
        received_at: Some(to_proto(Utc::now())),
        ocpp_version: "2.0.1".into(),
        seq_no: Some(1),
        ..Default::default()
    };
    let ended = v1::TransactionStopped {
        ocpp_version: "2.0.1".into(),
        seq_no: Some(2),
        transaction_data: vec![end],
        ..stopped("CP201", tx, "13500")
    };
    (started, updated, ended)
}

#[tokio::test]
async fn ocpp_201_events_out_of_order_or_with_gaps_converge_and_keep_signed_values() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = spawn_sessions(&env, |s| s.session_event_wait_secs = 2).await;

    // Ended first, then Updated, then Started, each twice: one session, as if in order.
    let (started, updated, ended) = transaction_201("T-ORDER");
    for attempt in ["a", "b"] {
        publish(&bus, &format!("order-end-{attempt}"), &ended).await;
        publish(&bus, &format!("order-upd-{attempt}"), &updated).await;
        publish(&bus, &format!("order-start-{attempt}"), &started).await;
    }
    // Started and Ended of another transaction; its Updated (seq 1) never comes: after the wait it
    // completes all the same, flagged.
    let (started, _, ended) = transaction_201("T-GAP");
    publish(&bus, "gap-start", &started).await;
    publish(&bus, "gap-end", &ended).await;

    let completed = completed_sessions(&bus, 2).await;
    let ordered = completed
        .iter()
        .find(|c| c.transaction_id == "T-ORDER")
        .unwrap();
    assert_eq!(ordered.energy_wh, "12500");
    assert!(ordered.flags.is_empty(), "{:?}", ordered.flags);
    let gap = completed
        .iter()
        .find(|c| c.transaction_id == "T-GAP")
        .unwrap();
    assert_eq!(gap.energy_wh, "12500");
    assert!(
        gap.flags.contains(&"sequence_gap".to_string()),
        "{:?}",
        gap.flags
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        completed_sessions(&bus, 2).await.len(),
        2,
        "each completes once"
    );

    // The signed End value, byte-exact with its key, tied to the session.
    let channel = tonic::transport::Endpoint::from_shared(format!(
        "http://{}",
        running.addr("grpc").unwrap()
    ))
    .unwrap()
    .connect()
    .await
    .unwrap();
    let mut evidence =
        v1::session_evidence_service_client::SessionEvidenceServiceClient::new(channel);
    let values = evidence
        .list_signed_meter_values(v1::ListSignedMeterValuesRequest {
            session_id: ordered.session_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .values;
    assert_eq!(values.len(), 1, "kept once though delivered twice");
    let signed = values[0].signed.as_ref().unwrap();
    assert_eq!(
        signed.signed_meter_data,
        r#"OCMF|{"FV":"1.0","RD":[{"RV":"13.5","RU":"kWh"}]}|{"SD":"304502"}"#
    );
    assert_eq!(
        signed.public_key,
        "3059301306072A8648CE3D020106082A8648CE3D03010703420004"
    );
    assert_eq!(values[0].context, "Transaction.End");
    assert_eq!(values[0].transaction_id, "T-ORDER");
    running.stop().await.unwrap();
}
