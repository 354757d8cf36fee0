//! Sessions against real PostgreSQL and NATS: charger events in, session events and read model out.

use std::time::Duration;

use chrono::Utc;
use joule_bus::{Bus, Domain, EventMeta, Outgoing, envelope};
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_proto::v1::sessions_service_client::SessionsServiceClient;
use joule_testkit::TestEnv;

async fn publish_charger_event<M: joule_proto::Message + joule_proto::EventName>(
    bus: &Bus,
    cp: &str,
    kind: &str,
    key: &str,
    message: &M,
) {
    let meta = EventMeta {
        event_id: joule_domain::EventId::derived(key).to_string(),
        tenant_id: "default".into(),
        aggregate_type: "Charger".into(),
        aggregate_id: cp.into(),
        sequence: 0,
        occurred_at: Utc::now(),
        correlation_id: String::new(),
        causation_id: String::new(),
    };
    bus.publish(Outgoing {
        subject: format!("charger.{cp}.{kind}"),
        envelope: envelope(message, meta),
        trace_headers: Default::default(),
    })
    .await
    .expect("publish");
}

fn started(cp: &str, tx: &str, meter_start: &str) -> v1::TransactionStarted {
    v1::TransactionStarted {
        charger_id: "charger-1".into(),
        charge_point_id: cp.into(),
        connector_id: 1,
        transaction_id: tx.into(),
        id_tag: "TAG1".into(),
        account_id: "acc-1".into(),
        meter_start_wh: meter_start.into(),
        charger_time: Some(to_proto("2026-11-21T10:00:00Z".parse().unwrap())),
        received_at: Some(to_proto(Utc::now())),
        ..Default::default()
    }
}

fn stopped(cp: &str, tx: &str, meter_stop: &str) -> v1::TransactionStopped {
    v1::TransactionStopped {
        charger_id: "charger-1".into(),
        charge_point_id: cp.into(),
        transaction_id: tx.into(),
        meter_stop_wh: meter_stop.into(),
        id_tag: "TAG1".into(),
        reason: "Local".into(),
        charger_time: Some(to_proto("2026-11-21T11:00:00Z".parse().unwrap())),
        received_at: Some(to_proto(Utc::now())),
        transaction_data: vec![],
        ..Default::default()
    }
}

async fn completed_sessions(bus: &Bus, want: usize) -> Vec<v1::SessionCompleted> {
    for _ in 0..100 {
        let completed: Vec<v1::SessionCompleted> = bus
            .read_stream(Domain::Session)
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, e)| e.event_type == "joule.v1.SessionCompleted")
            .map(|(_, e)| joule_bus::decode_payload(&e).unwrap())
            .collect();
        if completed.len() >= want {
            return completed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {want} SessionCompleted events arrived");
}

#[tokio::test]
async fn charger_events_become_one_completed_session_each_even_when_duplicated() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = joule_runtime::spawn(env.settings(), &[joule_sessions::SERVICE])
        .await
        .unwrap();

    // A normal session, with the start and the stop each delivered twice (distinct message ids,
    // as when a charger retries with a new OCPP message id).
    for attempt in ["a", "b"] {
        publish_charger_event(
            &bus,
            "CP1",
            "started",
            &format!("start-{attempt}"),
            &started("CP1", "1", "1000"),
        )
        .await;
    }
    for attempt in ["a", "b"] {
        publish_charger_event(
            &bus,
            "CP1",
            "stopped",
            &format!("stop-{attempt}"),
            &stopped("CP1", "1", "13500"),
        )
        .await;
    }
    // A stop without a start, and a session whose meter ran backwards.
    publish_charger_event(
        &bus,
        "CP1",
        "stopped",
        "orphan",
        &stopped("CP1", "99", "5000"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CP1",
        "started",
        "regress-start",
        &started("CP1", "2", "9000"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CP1",
        "stopped",
        "regress-stop",
        &stopped("CP1", "2", "8000"),
    )
    .await;

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

fn sample(at: &str, context: &str, wh: &str) -> v1::MeterSample {
    v1::MeterSample {
        charger_time: Some(to_proto(at.parse().unwrap())),
        measurand: "Energy.Active.Import.Register".into(),
        value: wh.into(),
        unit: "Wh".into(),
        context: context.into(),
        ..Default::default()
    }
}

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
    let mut settings = env.settings();
    settings.session_event_wait_secs = 2;
    let running = joule_runtime::spawn(settings, &[joule_sessions::SERVICE])
        .await
        .unwrap();

    // Ended first, then Updated, then Started, each twice: one session, as if in order.
    let (started, updated, ended) = transaction_201("T-ORDER");
    for attempt in ["a", "b"] {
        publish_charger_event(
            &bus,
            "CP201",
            "stopped",
            &format!("order-end-{attempt}"),
            &ended,
        )
        .await;
        publish_charger_event(
            &bus,
            "CP201",
            "meter",
            &format!("order-upd-{attempt}"),
            &updated,
        )
        .await;
        publish_charger_event(
            &bus,
            "CP201",
            "started",
            &format!("order-start-{attempt}"),
            &started,
        )
        .await;
    }
    // Started and Ended of another transaction; its Updated (seq 1) never comes: after the wait it
    // completes all the same, flagged.
    let (started, _, ended) = transaction_201("T-GAP");
    publish_charger_event(&bus, "CP201", "started", "gap-start", &started).await;
    publish_charger_event(&bus, "CP201", "stopped", "gap-end", &ended).await;

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

fn meter(cp: &str, tx: &str, readings: &[(&str, &str)]) -> v1::MeterValuesSampled {
    v1::MeterValuesSampled {
        charger_id: "charger-1".into(),
        charge_point_id: cp.into(),
        connector_id: 1,
        transaction_id: tx.into(),
        samples: readings
            .iter()
            .map(|(at, wh)| sample(at, "Sample.Periodic", wh))
            .collect(),
        received_at: Some(to_proto(Utc::now())),
        ocpp_version: "1.6".into(),
        ..Default::default()
    }
}

async fn messages_of<M: joule_proto::Message + joule_proto::EventName + Default>(
    bus: &Bus,
    want: usize,
) -> Vec<(String, u64, M)> {
    for _ in 0..100 {
        let found: Vec<(String, u64, M)> = bus
            .read_stream(Domain::Session)
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, e)| e.event_type == M::NAME)
            .map(|(subject, e)| (subject, e.sequence, joule_bus::decode_payload(&e).unwrap()))
            .collect();
        if found.len() >= want {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {want} {} arrived", M::NAME);
}

#[tokio::test]
async fn readings_of_a_running_session_are_published_and_completion_carries_them_all() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let _running = joule_runtime::spawn(env.settings(), &[joule_sessions::SERVICE])
        .await
        .unwrap();

    publish_charger_event(
        &bus,
        "CPM",
        "started",
        "m-start",
        &started("CPM", "5", "1000"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CPM",
        "meter",
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
    publish_charger_event(
        &bus,
        "CPM",
        "meter",
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

    let metered = messages_of::<v1::SessionMetered>(&bus, 2).await;
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

    publish_charger_event(
        &bus,
        "CPM",
        "stopped",
        "m-stop",
        &stopped("CPM", "5", "13500"),
    )
    .await;
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
    publish_charger_event(
        &bus,
        "CPM",
        "meter",
        "m-late",
        &meter("CPM", "5", &[("2026-11-21T11:05:00Z", "13500")]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(messages_of::<v1::SessionMetered>(&bus, 2).await.len(), 2);
}

/// Containment (ADR 022): a charger event sessions cannot decode, and bytes that are not an envelope
/// at all, are parked in the dead-letter stream; the consumer and the process go on and bill the
/// honest charge after them.
#[tokio::test]
async fn a_poisoned_charger_event_is_parked_and_the_next_session_is_still_billed() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = joule_runtime::spawn(env.settings(), &[joule_sessions::SERVICE])
        .await
        .unwrap();

    let mut poisoned = envelope(
        &started("CPBAD", "1", "1000"),
        EventMeta {
            event_id: joule_domain::EventId::derived("poison").to_string(),
            tenant_id: "default".into(),
            aggregate_type: "Charger".into(),
            aggregate_id: "CPBAD".into(),
            sequence: 0,
            occurred_at: Utc::now(),
            correlation_id: String::new(),
            causation_id: String::new(),
        },
    );
    poisoned.payload = vec![0xff; 16];
    bus.publish(Outgoing {
        subject: "charger.CPBAD.started".into(),
        envelope: poisoned,
        trace_headers: Default::default(),
    })
    .await
    .expect("publish");
    // Core NATS: the stream stores it; the honest events below follow on the same connection.
    bus.client()
        .publish(
            format!("{}.charger.CPBAD.meter", env.namespace),
            vec![0xde, 0xad].into(),
        )
        .await
        .unwrap();
    bus.client().flush().await.unwrap();

    publish_charger_event(
        &bus,
        "CP2",
        "started",
        "honest-start",
        &started("CP2", "7", "0"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CP2",
        "stopped",
        "honest-stop",
        &stopped("CP2", "7", "4200"),
    )
    .await;
    let completed = completed_sessions(&bus, 1).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].charge_point_id, "CP2");

    let parked = bus.dead_letters().await.unwrap();
    let reasons: Vec<_> = parked
        .iter()
        .map(|e| (e.record.consumer.as_str(), e.record.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("sessions-charger", joule_bus::ParkReason::Rejected),
            ("sessions-charger", joule_bus::ParkReason::Undecodable),
        ]
    );
    assert!(!running.shutdown.is_cancelled(), "the process is up");
    running.stop().await.unwrap();
}

/// A 1.6 stop as the gateway publishes it when `transactionId` identifies nothing: keyed by its
/// own content, flagged `invalid_transaction_id`.
fn unusable_stop(cp: &str, id_tag: &str, meter_stop: &str, at: &str) -> v1::TransactionStopped {
    v1::TransactionStopped {
        transaction_id: "-1".into(),
        id_tag: id_tag.into(),
        charger_time: Some(to_proto(at.parse().unwrap())),
        session_key: format!("-1@{at}/{meter_stop}"),
        flags: vec!["invalid_transaction_id".into()],
        ocpp_version: "1.6".into(),
        ..stopped(cp, "-1", meter_stop)
    }
}

fn started_on(
    cp: &str,
    tx: &str,
    connector: u32,
    id_tag: &str,
    meter: &str,
) -> v1::TransactionStarted {
    v1::TransactionStarted {
        connector_id: connector,
        id_tag: id_tag.into(),
        ocpp_version: "1.6".into(),
        ..started(cp, tx, meter)
    }
}

/// Completions of the test's sessions, after a marker session (completed last) shows that every
/// charger event published before it was handled.
async fn completions_after_marker(bus: &Bus, marker: &str) -> Vec<v1::SessionCompleted> {
    publish_charger_event(
        bus,
        marker,
        "started",
        &format!("{marker}-start"),
        &started(marker, "1", "0"),
    )
    .await;
    publish_charger_event(
        bus,
        marker,
        "stopped",
        &format!("{marker}-stop"),
        &stopped(marker, "1", "1"),
    )
    .await;
    for _ in 0..100 {
        let completed: Vec<v1::SessionCompleted> = bus
            .read_stream(Domain::Session)
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, e)| e.event_type == "joule.v1.SessionCompleted")
            .map(|(_, e)| joule_bus::decode_payload(&e).unwrap())
            .collect::<Vec<v1::SessionCompleted>>();
        if completed.iter().any(|c| c.charge_point_id == marker) {
            return completed
                .into_iter()
                .filter(|c| !c.charge_point_id.starts_with("MARK"))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the marker session {marker} did not complete");
}

/// The read model's flags of a session, once they contain `flag`.
async fn flags_once_containing(pool: &sqlx::PgPool, session_id: &str, flag: &str) -> Vec<String> {
    let mut flags = vec![];
    for _ in 0..100 {
        flags = sqlx::query_scalar("SELECT flags FROM sessions.session_view WHERE id = $1")
            .bind(session_id)
            .fetch_optional(pool)
            .await
            .unwrap()
            .unwrap_or_default();
        if flags.iter().any(|f| f == flag) {
            return flags;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("session {session_id} never got flag {flag}: {flags:?}");
}

fn session_id(cp: &str, tx: &str) -> String {
    joule_sessions::consumers::charger_events::session_id("default", cp, tx).to_string()
}

#[tokio::test]
async fn a_minus_one_stop_closes_the_chargers_open_transaction() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let pool = env.pool().await;
    let _running = joule_runtime::spawn(env.settings(), &[joule_sessions::SERVICE])
        .await
        .unwrap();

    // One open transaction on CPA with readings, then a stop with transactionId -1.
    publish_charger_event(
        &bus,
        "CPA",
        "started",
        "a-start",
        &started_on("CPA", "1", 2, "TAG1", "1000"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CPA",
        "meter",
        "a-meter",
        &meter("CPA", "1", &[("2026-11-21T10:30:00Z", "6000")]),
    )
    .await;
    let stop = unusable_stop("CPA", "TAG1", "13500", "2026-11-21T11:00:00Z");
    publish_charger_event(&bus, "CPA", "stopped", "a-stop", &stop).await;
    // The same stop again beyond JetStream's duplicate window (another message id), and the
    // session's own stop, late.
    publish_charger_event(&bus, "CPA", "stopped", "a-stop-again", &stop).await;
    publish_charger_event(
        &bus,
        "CPA",
        "stopped",
        "a-stop-real",
        &stopped("CPA", "1", "14000"),
    )
    .await;

    let completed = completions_after_marker(&bus, "MARKA").await;
    assert_eq!(
        completed.len(),
        1,
        "one session, completed once: {completed:?}"
    );
    let c = &completed[0];
    assert_eq!(c.session_id, session_id("CPA", "1"));
    assert_eq!(c.transaction_id, "1");
    assert_eq!(c.connector_id, 2);
    assert_eq!(c.energy_wh, "12500", "13500 - 1000, from the -1 stop");
    assert!(
        c.flags.contains(&"invalid_transaction_id".to_owned()),
        "{:?}",
        c.flags
    );
    assert!(
        c.flags
            .contains(&"stop_matched_to_open_transaction".to_owned()),
        "{:?}",
        c.flags
    );
    assert!(
        !c.flags.contains(&"stop_without_start".to_owned()),
        "{:?}",
        c.flags
    );
    // The late real stop is on the audit trail, not billed.
    flags_once_containing(&pool, &c.session_id, "duplicate_end").await;
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions.session_view WHERE charge_point_id = 'CPA'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sessions, 1, "no second session for the -1 stop");
}

#[tokio::test]
async fn among_several_open_transactions_the_idtag_and_meter_decide_and_no_match_stays_flagged() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let _running = joule_runtime::spawn(env.settings(), &[joule_sessions::SERVICE])
        .await
        .unwrap();

    // Two open transactions on CPB: connector 1 for TAG1 at 1000 Wh, connector 2 for TAG2 at
    // 50000 Wh.
    publish_charger_event(
        &bus,
        "CPB",
        "started",
        "b-start-1",
        &started_on("CPB", "10", 1, "TAG1", "1000"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CPB",
        "started",
        "b-start-2",
        &started_on("CPB", "11", 2, "TAG2", "50000"),
    )
    .await;
    // A -1 stop for TAG3 fits neither: a session of its own, flagged as before.
    publish_charger_event(
        &bus,
        "CPB",
        "stopped",
        "b-stop-3",
        &unusable_stop("CPB", "TAG3", "60000", "2026-11-21T10:50:00Z"),
    )
    .await;
    // A -1 stop for TAG1 at 5000 Wh is connector 1's; one for TAG2 at 60000 Wh connector 2's.
    publish_charger_event(
        &bus,
        "CPB",
        "stopped",
        "b-stop-1",
        &unusable_stop("CPB", "TAG1", "5000", "2026-11-21T11:00:00Z"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CPB",
        "stopped",
        "b-stop-2",
        &unusable_stop("CPB", "TAG2", "60000", "2026-11-21T11:05:00Z"),
    )
    .await;
    // No open transaction on CPC: the -1 stop is a session of its own.
    publish_charger_event(
        &bus,
        "CPC",
        "stopped",
        "c-stop",
        &unusable_stop("CPC", "TAG1", "3000", "2026-11-21T11:00:00Z"),
    )
    .await;

    let completed = completions_after_marker(&bus, "MARKB").await;
    assert_eq!(completed.len(), 4, "{completed:?}");
    let of = |tx: &str, cp: &str| {
        completed
            .iter()
            .find(|c| c.session_id == session_id(cp, tx))
            .unwrap_or_else(|| panic!("no completion for {cp}/{tx}"))
    };
    assert_eq!(of("10", "CPB").energy_wh, "4000");
    assert_eq!(of("10", "CPB").connector_id, 1);
    assert_eq!(of("11", "CPB").energy_wh, "10000");
    assert_eq!(of("11", "CPB").connector_id, 2);
    for own in [
        of("-1@2026-11-21T10:50:00Z/60000", "CPB"),
        of("-1@2026-11-21T11:00:00Z/3000", "CPC"),
    ] {
        assert_eq!(own.energy_wh, "0");
        assert!(
            own.flags.contains(&"stop_without_start".to_owned()),
            "{:?}",
            own.flags
        );
        assert!(
            own.flags.contains(&"invalid_transaction_id".to_owned()),
            "{:?}",
            own.flags
        );
        assert!(
            !own.flags
                .contains(&"stop_matched_to_open_transaction".to_owned())
        );
    }
}

#[tokio::test]
async fn an_idle_session_closes_from_its_last_reading_and_a_late_stop_bills_nothing() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let pool = env.pool().await;
    let mut settings = env.settings();
    settings.session_inactivity_secs = 2;
    let _running = joule_runtime::spawn(settings, &[joule_sessions::SERVICE])
        .await
        .unwrap();

    // A session with two readings, then silence.
    publish_charger_event(
        &bus,
        "CPI",
        "started",
        "i-start",
        &started_on("CPI", "7", 1, "TAG1", "1000"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CPI",
        "meter",
        "i-meter",
        &meter(
            "CPI",
            "7",
            &[
                ("2026-11-21T10:20:00Z", "4000"),
                ("2026-11-21T10:40:00Z", "9000"),
            ],
        ),
    )
    .await;

    let completed = completed_sessions(&bus, 1).await;
    let c = &completed[0];
    assert_eq!(c.session_id, session_id("CPI", "7"));
    assert_eq!(c.energy_wh, "8000", "9000 - 1000: up to the last reading");
    assert_eq!(c.meter_stop_wh, "9000");
    assert_eq!(
        joule_proto::time::from_proto(c.stopped_at.as_ref()),
        Some("2026-11-21T10:40:00Z".parse().unwrap())
    );
    assert!(
        c.flags.contains(&"closed_for_inactivity".to_owned()),
        "{:?}",
        c.flags
    );
    assert_eq!(c.account_id, "acc-1");

    // The stop arrives after all, as -1 (then again with its id): matched to the closed session,
    // flagged, nothing new.
    publish_charger_event(
        &bus,
        "CPI",
        "stopped",
        "i-stop-minus-one",
        &unusable_stop("CPI", "TAG1", "9600", "2026-11-21T12:00:00Z"),
    )
    .await;
    publish_charger_event(
        &bus,
        "CPI",
        "stopped",
        "i-stop",
        &stopped("CPI", "7", "9600"),
    )
    .await;
    let flags = flags_once_containing(&pool, &c.session_id, "stop_after_inactivity_close").await;
    assert!(
        flags.contains(&"closed_for_inactivity".to_owned()),
        "{flags:?}"
    );
    assert!(
        flags.contains(&"stop_matched_to_open_transaction".to_owned()),
        "the -1 stop found the closed session: {flags:?}"
    );
    let completed = completions_after_marker(&bus, "MARKI").await;
    assert_eq!(
        completed.len(),
        1,
        "the late stops complete nothing: {completed:?}"
    );
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions.session_view WHERE charge_point_id = 'CPI'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sessions, 1, "no session for the late -1 stop");
}

/// A database data exception (here a price that is not a number, cast to `numeric`) fails the same
/// way on every delivery: the billing copy is rejected and parked (ADR 022) instead of retried for
/// ever, and the consumer goes on with the next message.
#[tokio::test]
async fn a_billing_event_the_database_cannot_take_is_parked_not_retried_for_ever() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let _running = joule_runtime::spawn(env.settings(), &[joule_sessions::SERVICE])
        .await
        .unwrap();
    publish_charger_event(
        &bus,
        "CPDX",
        "started",
        "dx-start",
        &started("CPDX", "1", "0"),
    )
    .await;
    let session =
        joule_sessions::consumers::charger_events::session_id("default", "CPDX", "1").to_string();
    let priced = |total: &str| v1::SessionPriced {
        session_id: session.clone(),
        total_excl_vat: total.into(),
        total_incl_vat: total.into(),
        currency: "EUR".into(),
        ..Default::default()
    };
    let publish_priced = |key: &'static str, m: v1::SessionPriced| {
        let bus = bus.clone();
        let session = session.clone();
        async move {
            let meta = EventMeta {
                event_id: joule_domain::EventId::derived(key).to_string(),
                tenant_id: "default".into(),
                aggregate_type: "PricedSession".into(),
                aggregate_id: session.clone(),
                sequence: 1,
                occurred_at: Utc::now(),
                correlation_id: String::new(),
                causation_id: String::new(),
            };
            bus.publish(Outgoing {
                subject: format!("pricing.{session}.priced"),
                envelope: envelope(&m, meta),
                trace_headers: Default::default(),
            })
            .await
            .expect("publish");
        }
    };
    // Wait until the session exists, so that the UPDATE has a row to cast for.
    let pool = env.pool().await;
    for _ in 0..100 {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions.session_view WHERE id = $1")
            .bind(&session)
            .fetch_one(&pool)
            .await
            .unwrap();
        if n == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    publish_priced("dx-bad", priced("not-a-number")).await;
    publish_priced("dx-good", priced("7.62")).await;

    let mut parked = Vec::new();
    let mut cost: Option<String> = None;
    for _ in 0..150 {
        parked = bus
            .dead_letters()
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.record.consumer == "sessions-pricing")
            .collect();
        cost = sqlx::query_scalar(
            "SELECT cost_excl_vat::text FROM sessions.session_view WHERE id = $1",
        )
        .bind(&session)
        .fetch_one(&pool)
        .await
        .unwrap();
        if !parked.is_empty() && cost.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(
        parked[0].record.reason,
        joule_bus::deadletter::ParkReason::Rejected
    );
    assert!(
        parked[0].record.error.contains("numeric"),
        "{}",
        parked[0].record.error
    );
    // The next message was handled: the consumer did not stall on the bad one.
    assert_eq!(cost.as_deref(), Some("7.62"));
}
