//! The gateway's throughput machinery against real PostgreSQL and NATS: transaction ids allocated
//! in batches stay unique and stable per start, however the starts interleave; connector states
//! kept per connection still raise and clear alarms across reconnects; the registry copy falls
//! back to the projection for what it does not hold.

mod support;

use std::collections::{HashMap, HashSet};

use chrono::{TimeZone, Utc};
use joule_domain::ChargePointId;
use joule_gateway::transactions::{StartKey, TransactionIds};
use joule_proto::EventName;
use joule_proto::v1::ChargerAlarm;
use joule_testkit::eventually;
use rust_decimal::Decimal;
use serde_json::json;
use support::{CP, Harness, KNOWN_TAG, of_type};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn batched_starts_get_unique_ids_and_a_repeated_start_its_first_id() {
    let h = Harness::start().await;
    let pool = h.env.pool().await;
    let (ids, allocator) = TransactionIds::new(pool.clone());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(allocator.run(shutdown.clone()));
    let cps: Vec<ChargePointId> = (0..40)
        .map(|i| format!("CP-B{i}").parse().unwrap())
        .collect();
    let at = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();

    // 40 chargers × 5 starts, each sent three times concurrently (duplicates land in one batch).
    let mut asks = Vec::new();
    for round in 0..3 {
        for (c, cp) in cps.iter().enumerate() {
            for n in 0..5u32 {
                let ids = ids.clone();
                let cp = cp.clone();
                asks.push(tokio::spawn(async move {
                    let tenant = joule_domain::TenantId::default_tenant();
                    let key = StartKey {
                        tenant: &tenant,
                        charge_point_id: &cp,
                        connector_id: 1 + n % 2,
                        id_tag: "TAG",
                        meter_start_wh: Decimal::from(1000 * n),
                        charger_time: at + chrono::Duration::minutes(i64::from(n)),
                    };
                    let id = ids.id_for(&key, Utc::now()).await.unwrap();
                    ((c, n), id, round)
                }));
            }
        }
    }
    let mut by_start: HashMap<(usize, u32), HashSet<i32>> = HashMap::new();
    for ask in asks {
        let (start, id, _) = ask.await.unwrap();
        by_start.entry(start).or_default().insert(id);
    }
    assert_eq!(by_start.len(), 200);
    assert!(
        by_start.values().all(|ids| ids.len() == 1),
        "a repeated start gets its first id"
    );
    let distinct: HashSet<i32> = by_start.values().flatten().copied().collect();
    assert_eq!(distinct.len(), 200, "every start its own id");
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM gateway.transactions WHERE charge_point_id LIKE 'CP-B%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rows, 200);

    shutdown.cancel();
    task.await.unwrap().unwrap();
    pool.close().await;
    h.stop().await;
}

/// Connector states live in the connection and are stored on change: a fault raised before a
/// reconnect is still known after it, so its clearing raises the recovery alarm.
#[tokio::test]
async fn a_fault_survives_a_reconnect_and_its_recovery_is_alarmed() {
    let h = Harness::start().await;
    let status = |s: &str, e: &str| json!({"connectorId": 1, "errorCode": e, "status": s, "timestamp": "2026-11-21T10:00:00Z"});
    let mut charger = h.connect(CP).await;
    charger
        .ok("StatusNotification", status("Available", "NoError"))
        .await;
    charger
        .ok("StatusNotification", status("Faulted", "GroundFailure"))
        .await;
    charger.close().await;
    let pool = h.env.pool().await;
    faulted_is(&pool, true, "the fault is stored").await;

    let mut charger = h.connect(CP).await;
    charger
        .ok("StatusNotification", status("Available", "NoError"))
        .await;
    charger
        .ok("StatusNotification", status("Available", "NoError"))
        .await;
    let events = h.charger_events().await;
    let alarms: Vec<(bool, String)> = of_type(&events, ChargerAlarm::NAME)
        .iter()
        .map(|e| e.decode::<ChargerAlarm>())
        .filter(|a| a.kind == "connector_fault")
        .map(|a| (a.raised, a.code))
        .collect();
    assert_eq!(
        alarms,
        [
            (true, "GroundFailure".to_owned()),
            (false, "Available".to_owned())
        ]
    );
    faulted_is(&pool, false, "the recovery is stored").await;
    pool.close().await;
    charger.close().await;
    h.stop().await;
}

/// Waits until the stored state of `CP`'s connector says `faulted`.
async fn faulted_is(pool: &sqlx::PgPool, faulted: bool, what: &str) {
    eventually(what, || async {
        let stored: Option<bool> = sqlx::query_scalar(
            "SELECT faulted FROM gateway.connector_status WHERE charge_point_id = $1",
        )
        .bind(CP)
        .fetch_optional(pool)
        .await
        .unwrap();
        (stored == Some(faulted)).then_some(())
    })
    .await;
}

/// The registry copy answers from memory, and a token registered after the start (through any
/// replica) is found by the fallback query.
#[tokio::test]
async fn tokens_issued_after_start_are_found_and_case_is_ignored() {
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    let authorize = |tag: &str| json!({"idTag": tag});
    let known = charger.ok("Authorize", authorize(KNOWN_TAG)).await;
    assert_eq!(known["idTagInfo"]["status"], "Accepted");
    assert_eq!(
        charger.ok("Authorize", authorize("BEEF01")).await["idTagInfo"]["status"],
        "Invalid"
    );
    // Written straight into the projection, as another replica's consumer would.
    let pool = h.env.pool().await;
    sqlx::query(
        "INSERT INTO gateway.tokens (tenant_id, uid, token_id, account_id) VALUES ('default', $1, $2, $3)",
    )
    .bind("BEEF01")
        .bind(joule_domain::TokenId::new().to_string())
        .bind(joule_domain::AccountId::new().to_string())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(
        charger.ok("Authorize", authorize("beef01")).await["idTagInfo"]["status"],
        "Accepted"
    );
    charger.close().await;
    h.stop().await;
}

/// At shutdown the replica clears its presence in one statement instead of one per connection; a
/// charger's row ends up gone either way, and its disconnection is still published.
#[tokio::test]
async fn a_stopping_gateway_clears_its_presence_and_publishes_each_disconnection() {
    let mut h = Harness::start().await;
    let pool = h.env.pool().await;
    let mut charger = h.connect(CP).await;
    charger
        .ok(
            "BootNotification",
            json!({"chargePointVendor": "V", "chargePointModel": "M"}),
        )
        .await;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway.presence")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held, 1);
    h.stop_running().await;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway.presence")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held, 0, "the stopped replica left presence rows");
    let events = h.charger_events().await;
    let gone = of_type(&events, "joule.v1.ChargerDisconnected");
    assert_eq!(gone.len(), 1);
    assert_eq!(
        gone[0]
            .decode::<joule_proto::v1::ChargerDisconnected>()
            .reason,
        "shutdown"
    );
}
