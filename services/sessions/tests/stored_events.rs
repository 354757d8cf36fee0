//! Session events stored by the first release (version 1.0, without the fields added since) are
//! read by today's service, against real PostgreSQL and NATS: the relay projects and publishes
//! them, and the aggregate loads them to decide on a new charger event.

mod support;

use joule_bus::Domain;
use joule_proto::v1;
use joule_testkit::{TestEnv, wait_for_events};
use serde_json::{Value, json};
use support::*;

/// Stores `payload` as event `sequence` of session `id`, at version 1.0, as the first release did.
async fn store_1_0(pool: &sqlx::PgPool, id: &str, sequence: i64, event_type: &str, payload: Value) {
    sqlx::query(
        "INSERT INTO sessions.events
           (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('ChargingSession', $1, $2, $3, '1.0', $4::text::json, '{\"tenant_id\": \"default\"}')",
    )
    .bind(id)
    .bind(sequence)
    .bind(event_type)
    .bind(payload.to_string())
    .execute(pool)
    .await
    .expect("store an old event");
}

#[tokio::test]
async fn a_session_stored_by_the_first_release_is_relayed_and_loads() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let pool = env.pool().await;
    let _running = spawn_sessions(&env, |_| {}).await;

    // A session of the first release: started, one reading, completed; no seqNo, no token of its
    // own, no samples, no end of charging.
    let id = session_id("CPOLD", "1");
    let start = json!({
        "charger_id": "charger-1", "charge_point_id": "CPOLD", "connector_id": 1,
        "transaction_id": "1", "token_uid": "TAG1", "account_id": "acc-1",
        "meter_start": {"wh": "1000"}, "started_at": "2026-11-21T10:00:00Z",
        "received_at": "2026-11-21T10:00:01Z"
    });
    let stop = json!({
        "charger_id": "charger-1", "charge_point_id": "CPOLD", "transaction_id": "1",
        "meter_stop": {"wh": "13500"}, "stopped_at": "2026-11-21T11:00:00Z",
        "received_at": "2026-11-21T11:00:01Z", "reason": "Local"
    });
    store_1_0(
        &pool,
        &id,
        1,
        "SessionStarted",
        json!({"SessionStarted": start}),
    )
    .await;
    let readings = json!({"ReadingsRecorded": {"readings": [
        {"at": "2026-11-21T10:30:00Z", "register": {"wh": "6000"}}
    ]}});
    store_1_0(&pool, &id, 2, "ReadingsRecorded", readings).await;
    let completed = json!({"SessionCompleted": {
        "start": start, "stop": stop, "started_at": "2026-11-21T10:00:00Z",
        "meter_start": {"wh": "1000"}, "energy": {"wh": "12500"}, "flags": []
    }});
    store_1_0(&pool, &id, 3, "SessionCompleted", completed).await;

    // The relay reads them in today's shape: the completion is published with the defaults.
    let (_, c) = wait_for_events::<v1::SessionCompleted>(&bus, Domain::Session, 1)
        .await
        .remove(0);
    assert_eq!(c.session_id, id);
    assert_eq!(c.energy_wh, "12500");
    assert_eq!(
        c.meter_stop_wh, "13500",
        "the stop's register, there being no meter_stop"
    );
    assert_eq!(
        (c.token_uid.as_str(), c.account_id.as_str()),
        ("TAG1", "acc-1")
    );
    assert!(c.samples.is_empty());
    assert_eq!(c.charging_ended_at, None);

    // The aggregate loads them too: another stop for the completed session is flagged, not billed.
    publish(&bus, "old-second-stop", &stopped("CPOLD", "1", "14000")).await;
    flags_once_containing(&pool, &id, "duplicate_end").await;
}
