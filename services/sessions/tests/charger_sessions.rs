//! Sessions from 1.6 charger events against real PostgreSQL and NATS: charger events in, session
//! events and read model out; duplicates, stops without starts, regressions; readings of a running
//! session published as they come.

mod support;

use std::time::Duration;

use joule_proto::v1;
use joule_proto::v1::sessions_service_client::SessionsServiceClient;
use joule_testkit::TestEnv;
use support::*;

#[tokio::test]
async fn charger_events_become_one_completed_session_each_even_when_duplicated() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = spawn_sessions(&env, |_| {}).await;

    // A normal session, with the start and the stop each delivered twice (distinct message ids,
    // as when a charger retries with a new OCPP message id).
    for attempt in ["a", "b"] {
        publish(
            &bus,
            &format!("start-{attempt}"),
            &started("CP1", "1", "1000"),
        )
        .await;
    }
    for attempt in ["a", "b"] {
        publish(
            &bus,
            &format!("stop-{attempt}"),
            &stopped("CP1", "1", "13500"),
        )
        .await;
    }
    // A stop without a start, and a session whose meter ran backwards.
    publish(&bus, "orphan", &stopped("CP1", "99", "5000")).await;
    publish(&bus, "regress-start", &started("CP1", "2", "9000")).await;
    publish(&bus, "regress-stop", &stopped("CP1", "2", "8000")).await;

    let completed = completed_sessions(&bus, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let completed_again = completed_sessions(&bus, 3).await;
    assert_eq!(
        completed_again.len(),
        3,
        "duplicates must not complete a session twice"
    );

    let normal = completed.iter().find(|c| c.transaction_id == "1").unwrap();
    assert_eq!(normal.energy_wh, "12500");
    assert_eq!(normal.account_id, "acc-1");
    assert!(normal.flags.is_empty());
    let orphan = completed.iter().find(|c| c.transaction_id == "99").unwrap();
    assert_eq!(orphan.energy_wh, "0");
    assert!(orphan.flags.contains(&"stop_without_start".to_string()));
    let regressed = completed.iter().find(|c| c.transaction_id == "2").unwrap();
    assert_eq!(regressed.energy_wh, "0");
    assert!(regressed.flags.contains(&"meter_regression".to_string()));

    // The read model over gRPC.
    let mut client =
        SessionsServiceClient::connect(format!("http://{}", running.addr("grpc").unwrap()))
            .await
            .unwrap();
    let list = client
        .list_sessions(v1::ListSessionsRequest {
            account_id: "acc-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.sessions.len(), 2);
    let one = client
        .get_session(v1::GetSessionRequest {
            session_id: normal.session_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.status, "completed");
    assert_eq!(one.energy_wh, "12500");
    let missing = client
        .get_session(v1::GetSessionRequest {
            session_id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    running.stop().await.unwrap();
}

#[tokio::test]
async fn readings_of_a_running_session_are_published_and_completion_carries_them_all() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let _running = spawn_sessions(&env, |_| {}).await;

    publish(&bus, "m-start", &started("CPM", "5", "1000")).await;
    publish(
        &bus,
        "m-1",
        &meter(
            "CPM",
            "5",
            &[
                ("2026-11-21T10:10:00Z", "4000"),
                ("2026-11-21T10:20:00Z", "9000"),
            ],
        ),
    )
    .await;
    publish(
        &bus,
        "m-2",
        &meter(
            "CPM",
            "5",
            &[
                ("2026-11-21T10:30:00Z", "13500"),
                ("2026-11-21T10:40:00Z", "13500"),
            ],
        ),
    )
    .await;

    let metered = session_messages::<v1::SessionMetered>(&bus, 2).await;
    assert_eq!(metered.len(), 2);
    let (subject, envelope_sequence, first) = &metered[0];
    assert_eq!(
        subject,
        &format!("{}.session.{}.metered", env.namespace, first.session_id)
    );
    assert_eq!(first.energy_wh, "8000", "9000 - 1000");
    assert_eq!(first.meter_start_wh, "1000");
    assert_eq!(first.account_id, "acc-1");
    assert_eq!(first.samples.len(), 2);
    assert_eq!(first.samples[1].register_wh, "9000");
    assert_eq!(
        joule_proto::time::from_proto(first.as_of.as_ref()),
        Some("2026-11-21T10:20:00Z".parse().unwrap())
    );
    assert_eq!(*envelope_sequence, first.sequence);
    let second = &metered[1].2;
    assert!(
        second.sequence > first.sequence,
        "the aggregate version grows"
    );
    assert_eq!(second.energy_wh, "12500");

    publish(&bus, "m-stop", &stopped("CPM", "5", "13500")).await;
    let completed = completed_sessions(&bus, 1).await;
    let c = &completed[0];
    let registers: Vec<&str> = c.samples.iter().map(|s| s.register_wh.as_str()).collect();
    assert_eq!(registers, ["4000", "9000", "13500", "13500"]);
    assert_eq!(
        joule_proto::time::from_proto(c.charging_ended_at.as_ref()),
        Some("2026-11-21T10:30:00Z".parse().unwrap()),
        "the car stopped drawing energy at the first reading at the final register"
    );
    // A completed session publishes no more readings.
    publish(
        &bus,
        "m-late",
        &meter("CPM", "5", &[("2026-11-21T11:05:00Z", "13500")]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        session_messages::<v1::SessionMetered>(&bus, 2).await.len(),
        2
    );
}
