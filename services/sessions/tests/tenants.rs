//! Tenants in the session read model (ADR 032): each row names the tenant its charger events
//! carried, and every gRPC read is within the request's tenant (empty: the deployment's), so
//! another tenant's session is NOT_FOUND and never listed, even with the same charge point id,
//! transaction id and account.

mod support;

use joule_bus::{Bus, Outgoing, envelope};
use joule_proto::v1;
use joule_proto::v1::session_evidence_service_client::SessionEvidenceServiceClient;
use joule_proto::v1::sessions_service_client::SessionsServiceClient;
use joule_testkit::TestEnv;
use support::*;
use tonic::Code;

const ACME: &str = "acme";

/// Publishes a charger event of `tenant`, as the gateway does for that tenant's charger.
async fn publish_in<M: ChargerEvent>(bus: &Bus, tenant: &str, key: &str, message: &M) {
    let cp = message.charge_point_id();
    let mut meta = meta(&format!("{tenant}/{key}"), "Charger", cp, 0);
    meta.tenant_id = tenant.into();
    bus.publish(Outgoing {
        subject: format!("charger.{cp}.{}", M::KIND),
        envelope: envelope(message, meta),
        trace_headers: Default::default(),
    })
    .await
    .expect("publish");
}

#[tokio::test]
async fn another_tenants_session_is_not_found_and_never_listed() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = spawn_sessions(&env, |_| {}).await;

    // The same charge point, transaction and account in two tenants.
    for tenant in ["default", ACME] {
        publish_in(&bus, tenant, "start", &started("CP1", "1", "1000")).await;
        publish_in(&bus, tenant, "stop", &stopped("CP1", "1", "2000")).await;
    }
    let completed = completed_sessions(&bus, 2).await;
    let ours = session_id("CP1", "1");
    let theirs =
        joule_sessions::consumers::charger_events::session_id(ACME, "CP1", "1").to_string();
    assert_ne!(ours, theirs);
    assert!(completed.iter().any(|c| c.session_id == theirs));

    let pool = env.pool().await;
    let tenants: Vec<(String, String)> =
        sqlx::query_as("SELECT id, tenant_id FROM sessions.session_view ORDER BY tenant_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        tenants,
        vec![
            (theirs.clone(), ACME.to_owned()),
            (ours.clone(), "default".to_owned())
        ]
    );

    let grpc = format!("http://{}", running.addr("grpc").unwrap());
    let mut sessions = SessionsServiceClient::connect(grpc.clone()).await.unwrap();
    let list = |tenant: &str| v1::ListSessionsRequest {
        tenant_id: tenant.into(),
        account_id: "acc-1".into(),
        ..Default::default()
    };
    for (tenant, want) in [("", &ours), ("default", &ours), (ACME, &theirs)] {
        let listed = sessions
            .list_sessions(list(tenant))
            .await
            .unwrap()
            .into_inner()
            .sessions;
        let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec![want.as_str()], "the sessions of {tenant:?}");
    }
    let unfiltered = sessions
        .list_sessions(v1::ListSessionsRequest {
            tenant_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(unfiltered.len(), 1, "only acme's, with no other filter");

    let get = |tenant: &str, id: &str| v1::GetSessionRequest {
        tenant_id: tenant.into(),
        session_id: id.into(),
    };
    let found = sessions.get_session(get(ACME, &theirs)).await.unwrap();
    assert_eq!(found.into_inner().energy_wh, "1000");
    sessions.get_session(get("", &ours)).await.unwrap();
    for (tenant, id) in [("", &theirs), ("default", &theirs), (ACME, &ours)] {
        let refused = sessions.get_session(get(tenant, id)).await.unwrap_err();
        assert_eq!(refused.code(), Code::NotFound, "{tenant:?} reading {id}");
    }
    let invalid = sessions
        .get_session(get("no.such", &ours))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);

    let mut evidence = SessionEvidenceServiceClient::connect(grpc).await.unwrap();
    let values = |tenant: &str, id: &str| v1::ListSignedMeterValuesRequest {
        tenant_id: tenant.into(),
        session_id: id.into(),
    };
    evidence
        .list_signed_meter_values(values(ACME, &theirs))
        .await
        .unwrap();
    let refused = evidence
        .list_signed_meter_values(values("", &theirs))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    pool.close().await;
    running.stop().await.unwrap();
}

/// Rows from before the read model named its tenant get the tenant of their session's events, or
/// the deployment's when those name none.
#[tokio::test]
async fn rows_from_before_tenants_get_their_events_tenant() {
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    let before: &[joule_store::Migration] = joule_store::migrations![
        1 => "001_session_read_model",
        2 => "002_sessions_waiting_for_events_signed_meter_values",
        3 => "003_inactivity_of_open_sessions_the_sessions_each_charger_started",
    ];
    joule_store::migrate(&pool, joule_sessions::SCHEMA, before)
        .await
        .unwrap();
    for (id, metadata) in [
        ("s-acme", r#"{"tenant_id": "acme"}"#),
        ("s-unnamed", r#"{}"#),
    ] {
        sqlx::query(
            "INSERT INTO sessions.session_view (id, charger_id, charge_point_id, transaction_id, status)
             VALUES ($1, 'c', 'CP1', $1, 'completed')",
        )
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO sessions.events
               (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('ChargingSession', $1, 1, 'SessionStarted', '1.0', '{}', $2::json)",
        )
        .bind(id)
        .bind(metadata)
        .execute(&pool)
        .await
        .unwrap();
    }
    let running = spawn_sessions(&env, |s| s.tenant = "old-deployment".into()).await;
    let tenants: Vec<(String, String)> =
        sqlx::query_as("SELECT id, tenant_id FROM sessions.session_view ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        tenants,
        vec![
            ("s-acme".to_owned(), ACME.to_owned()),
            ("s-unnamed".to_owned(), "old-deployment".to_owned()),
        ]
    );
    pool.close().await;
    running.stop().await.unwrap();
}

/// A session the sweeper closes keeps its tenant: the completion it publishes carries the
/// charger's tenant, not the deployment's.
#[tokio::test]
async fn a_session_closed_for_inactivity_keeps_its_tenant() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let _running = spawn_sessions(&env, |s| s.session_inactivity_secs = 2).await;
    publish_in(
        &bus,
        ACME,
        "i-start",
        &started_on("CPI", "7", 1, "TAG1", "1000"),
    )
    .await;
    completed_sessions(&bus, 1).await;
    let completed = bus.read_stream(joule_bus::Domain::Session).await.unwrap();
    let (_, envelope) = completed
        .iter()
        .find(|(_, e)| e.event_type == "joule.v1.SessionCompleted")
        .expect("the completion");
    assert_eq!(envelope.tenant_id, ACME);
}
