//! The running cost against real PostgreSQL and NATS: `SessionStarted` and `SessionMetered` in,
//! `SessionCostUpdated` out (once per reading, whatever is redelivered), `GetRunningCost` (the final
//! price once the session is priced) and `EstimateSessionCost` over gRPC.

mod support;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use joule_domain::{ChargerId, SessionId};
use joule_proto::time::to_proto;
use joule_proto::v1::{
    self, SessionCompleted, SessionCostUpdated, SessionMetered, SessionPriceAdjusted,
    SessionPriced, SessionStarted,
};
use joule_testkit::eventually;
use support::Harness;
use tonic::Code;

const TARIFF: &str = r#"{
  "country_code": "NL", "party_id": "JOU", "id": "idle", "currency": "EUR",
  "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 20, "step_size": 1 }] }],
  "joule": { "idle_fee": { "price_per_hour": 12, "vat": 20, "grace_period_seconds": 600, "step_size": 60 } }
}"#;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, h, m, 0).unwrap()
}

/// A charger with `TARIFF` as its registry tariff, in UTC.
async fn charger_with_tariff(h: &mut Harness) -> ChargerId {
    let tariff = h.create_tariff(TARIFF).await.expect("tariff created");
    let charger = ChargerId::new();
    h.register_charger(charger, "", &tariff.id, "UTC").await;
    charger
}

async fn running_cost(h: &Harness, session: &str) -> Result<v1::RunningCost, tonic::Status> {
    h.client
        .clone()
        .get_running_cost(v1::GetRunningCostRequest {
            tenant_id: String::new(),
            session_id: session.into(),
        })
        .await
        .map(|r| r.into_inner())
}

fn started(session: SessionId, charger: ChargerId) -> SessionStarted {
    SessionStarted {
        session_id: session.to_string(),
        charger_id: charger.to_string(),
        charge_point_id: "CP-1".into(),
        connector_id: 2,
        transaction_id: "77".into(),
        token_uid: "TAG-1".into(),
        account_id: String::new(),
        started_at: Some(to_proto(at(10, 0))),
        meter_start_wh: "1000".into(),
        ..Default::default()
    }
}

fn metered(
    session: SessionId,
    charger: ChargerId,
    sequence: u64,
    readings: &[(DateTime<Utc>, &str)],
    energy_wh: &str,
) -> SessionMetered {
    SessionMetered {
        session_id: session.to_string(),
        charger_id: charger.to_string(),
        charge_point_id: "CP-1".into(),
        connector_id: 2,
        transaction_id: "77".into(),
        token_uid: "TAG-1".into(),
        account_id: String::new(),
        started_at: Some(to_proto(at(10, 0))),
        meter_start_wh: "1000".into(),
        samples: readings
            .iter()
            .map(|(t, wh)| v1::EnergyReading {
                at: Some(to_proto(*t)),
                register_wh: (*wh).into(),
            })
            .collect(),
        energy_wh: energy_wh.into(),
        as_of: readings.last().map(|(t, _)| to_proto(*t)),
        sequence,
    }
}

fn totals(m: &SessionCostUpdated) -> (&str, &str) {
    (m.total_excl_vat.as_str(), m.total_incl_vat.as_str())
}

#[tokio::test]
async fn every_reading_publishes_the_cost_so_far_once_and_grpc_answers_it() {
    let mut h = Harness::start().await;
    let charger = charger_with_tariff(&mut h).await;
    let session = SessionId::new();
    let subject = |kind: &str| format!("session.{session}.{kind}");

    h.publish_as(subject("started"), "start-1", &started(session, charger))
        .await;
    // Before the first reading: the cost of stopping at once.
    let at_start = eventually("the start is recorded", || async {
        match running_cost(&h, &session.to_string()).await {
            Ok(c) => Some(c),
            Err(s) if s.code() == Code::NotFound => None,
            Err(s) => panic!("{s:?}"),
        }
    })
    .await;
    let cost = at_start.cost.unwrap();
    assert_eq!((totals(&cost), cost.sequence), (("0", "0"), 0));

    // 10 kWh by 10:30: 3.00 (3.60).
    let first = metered(session, charger, 3, &[(at(10, 30), "11000")], "10000");
    h.publish_as(subject("metered"), "metered-3", &first).await;
    let updates = h.wait_published::<SessionCostUpdated>(session, 1).await;
    let (subject_seen, update) = &updates[0];
    assert_eq!(
        subject_seen,
        &format!("{}.pricing.{session}.cost_updated", h.env.namespace)
    );
    assert_eq!(totals(update), ("3", "3.6"));
    assert_eq!(
        (
            update.sequence,
            update.energy_wh.as_str(),
            update.currency.as_str(),
            update.charge_point_id.as_str(),
            update.connector_id,
            update.transaction_id.as_str(),
            update.tariff_version,
            update.token_uid.as_str()
        ),
        (3, "10000", "EUR", "CP-1", 2, "77", 1, "TAG-1")
    );
    assert_eq!(update.as_of, Some(to_proto(at(10, 30))));

    // The running state as it was before the next reading, to replay a crash below.
    let pool = h.env.pool().await;
    // (The state is stored right after the publish: wait for it.)
    let before = eventually("the state of reading 3 is stored", || async {
        let row: (serde_json::Value, serde_json::Value, i64) = sqlx::query_as(
            "SELECT readings, latest, sequence FROM pricing.running_costs WHERE session_id = $1",
        )
        .bind(session.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
        (row.2 == 3).then_some(row)
    })
    .await;
    assert_eq!(before.2, 3);

    // The same reading again under a new message id, and an older one: nothing new is published.
    h.publish_as(subject("metered"), "metered-3-again", &first)
        .await;
    let older = metered(session, charger, 2, &[(at(10, 20), "8000")], "7000");
    h.publish_as(subject("metered"), "metered-2", &older).await;
    // 20 kWh by 11:00, then nothing more by 11:20: charging ended at 11:00; 20 min idle - 10 min
    // grace = 10 min at 12/h = 2.00 (2.40), plus 6.00 (7.20) of energy.
    let second = metered(
        session,
        charger,
        5,
        &[(at(11, 0), "21000"), (at(11, 20), "21000")],
        "20000",
    );
    h.publish_as(subject("metered"), "metered-5", &second).await;
    let updates = h.wait_published::<SessionCostUpdated>(session, 2).await;
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(
        (updates[1].1.sequence, totals(&updates[1].1)),
        (5, ("8", "9.6"))
    );
    // A redelivery of the latest publishes nothing either.
    h.publish_as(subject("metered"), "metered-5-again", &second)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        h.published::<SessionCostUpdated>(session).await.len(),
        2,
        "no second message"
    );
    // A crash after the publish but before the state was stored: the redelivered reading is
    // estimated again from the same state, and JetStream drops the identical message by its id.
    sqlx::query(
        "UPDATE pricing.running_costs SET readings = $2, latest = $3, sequence = $4 WHERE session_id = $1",
    )
    .bind(session.to_string())
    .bind(&before.0)
    .bind(&before.1)
    .bind(before.2)
    .execute(&pool)
    .await
    .unwrap();
    h.publish_as(subject("metered"), "metered-5-after-crash", &second)
        .await;
    let stored = eventually("the replayed reading is stored", || async {
        let stored = sqlx::query_scalar::<_, i64>(
            "SELECT sequence FROM pricing.running_costs WHERE session_id = $1",
        )
        .bind(session.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
        (stored == 5).then_some(stored)
    })
    .await;
    assert_eq!(stored, 5, "the replayed reading is stored");
    assert_eq!(
        h.published::<SessionCostUpdated>(session).await.len(),
        2,
        "and not published twice"
    );

    let running = running_cost(&h, &session.to_string()).await.unwrap();
    let cost = running.cost.clone().unwrap();
    assert_eq!((cost.sequence, totals(&cost)), (5, ("8", "9.6")));
    let dimensions: Vec<&str> = running.lines.iter().map(|l| l.dimension.as_str()).collect();
    assert_eq!(dimensions, ["ENERGY", "IDLE_FEE"]);

    // The cost if it stopped at 11:40 on 21000 Wh: 6.00 + 30 min idle 6.00 = 12.00 (14.40).
    let estimate = h
        .client
        .estimate_session_cost(v1::EstimateSessionCostRequest {
            tenant_id: String::new(),
            session_id: session.to_string(),
            ended_at: Some(to_proto(at(11, 40))),
            meter_stop_wh: "21000".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let cost = estimate.cost.unwrap();
    assert_eq!(
        (totals(&cost), cost.energy_wh.as_str(), cost.as_of),
        (("12", "14.4"), "20000", Some(to_proto(at(11, 40))))
    );
    // Without a stop register: the latest energy known.
    let estimate = h
        .client
        .estimate_session_cost(v1::EstimateSessionCostRequest {
            tenant_id: String::new(),
            session_id: session.to_string(),
            ended_at: Some(to_proto(at(11, 20))),
            meter_stop_wh: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(totals(&estimate.cost.unwrap()), ("8", "9.6"));
}

#[tokio::test]
async fn unknown_sessions_and_bad_input_are_refused() {
    let mut h = Harness::start().await;
    let unknown = running_cost(&h, &SessionId::new().to_string()).await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    let bad = running_cost(&h, "not-a-session").await;
    assert_eq!(bad.unwrap_err().code(), Code::InvalidArgument);

    let charger = charger_with_tariff(&mut h).await;
    let session = SessionId::new();
    h.publish_as(
        format!("session.{session}.started"),
        "start",
        &started(session, charger),
    )
    .await;
    eventually("the start is recorded", || async {
        running_cost(&h, &session.to_string()).await.ok()
    })
    .await;
    let estimate = |ended_at: Option<DateTime<Utc>>, stop: &str| v1::EstimateSessionCostRequest {
        tenant_id: String::new(),
        session_id: session.to_string(),
        ended_at: ended_at.map(to_proto),
        meter_stop_wh: stop.into(),
    };
    for (request, field) in [
        (estimate(None, "2000"), "ended_at"),
        (estimate(Some(at(11, 0)), "12,5"), "meter_stop_wh"),
        (estimate(Some(at(11, 0)), "-5"), "meter_stop_wh"),
        (estimate(Some(at(9, 0)), "2000"), "ended_at"),
    ] {
        let status = h.client.estimate_session_cost(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with(field), "{status:?}");
    }
    // Another tenant does not see it.
    let other = h
        .client
        .get_running_cost(v1::GetRunningCostRequest {
            tenant_id: "other-tenant".into(),
            session_id: session.to_string(),
        })
        .await;
    assert_eq!(other.unwrap_err().code(), Code::NotFound);
}

/// Housekeeping: running state of sessions completed over a week ago, or silent for a month, is
/// deleted; the rest stays.
#[tokio::test]
async fn running_state_of_long_finished_sessions_is_purged() {
    let h = Harness::start().await;
    let pool = h.env.pool().await;
    let now = Utc::now();
    for (id, completed, age_days) in [
        ("done-old", true, 8),
        ("done-recent", true, 1),
        ("silent-old", false, 31),
        ("running", false, 2),
    ] {
        sqlx::query(
            "INSERT INTO pricing.running_costs (session_id, tenant_id, charger_id, charge_point_id,
                 connector_id, transaction_id, token_uid, account_id, started_at, completed, updated_at)
             VALUES ($1, 'default', 'c', 'CP', 1, '1', 'T', '', $2, $3, $2)",
        )
        .bind(id)
        .bind(now - chrono::Duration::days(age_days))
        .bind(completed)
        .execute(&pool)
        .await
        .expect("row inserted");
    }
    let shutdown = joule_runtime::CancellationToken::new();
    let purge = tokio::spawn(joule_pricing::running::run_purge(
        pool.clone(),
        shutdown.clone(),
    ));
    let left: Vec<String> = eventually("the old rows are purged", || async {
        let left: Vec<String> =
            sqlx::query_scalar("SELECT session_id FROM pricing.running_costs ORDER BY 1")
                .fetch_all(&pool)
                .await
                .expect("rows");
        (left.len() == 2).then_some(left)
    })
    .await;
    shutdown.cancel();
    purge.await.expect("purge task").expect("ends at shutdown");
    assert_eq!(left, ["done-recent", "running"]);
}

#[tokio::test]
async fn a_priced_session_answers_its_final_price_and_after_a_re_rating_the_adjusted_one() {
    let mut h = Harness::start().await;
    let charger = charger_with_tariff(&mut h).await;
    let session = SessionId::new();
    let subject = |kind: &str| format!("session.{session}.{kind}");
    h.publish(
        subject("started"),
        &session.to_string(),
        &started(session, charger),
    )
    .await;
    let reading = metered(session, charger, 2, &[(at(10, 30), "11000")], "10000");
    h.publish(subject("metered"), &session.to_string(), &reading)
        .await;
    let estimate = eventually("the estimate at the reading", || async {
        let r = running_cost(&h, &session.to_string()).await.ok()?;
        (r.cost.as_ref()?.sequence == 2).then_some(r)
    })
    .await;
    assert!(!estimate.r#final, "an estimate");

    let completed = SessionCompleted {
        session_id: session.to_string(),
        charger_id: charger.to_string(),
        charge_point_id: "CP-1".into(),
        connector_id: 2,
        transaction_id: "77".into(),
        token_uid: "TAG-1".into(),
        started_at: Some(to_proto(at(10, 0))),
        stopped_at: Some(to_proto(at(11, 0))),
        meter_start_wh: "1000".into(),
        meter_stop_wh: "21000".into(),
        energy_wh: "20000".into(),
        ..Default::default()
    };
    h.complete_session(&completed).await;
    let priced = h.wait::<SessionPriced>(session, 1).await.remove(0);
    let answer = eventually("the final price", || async {
        let r = running_cost(&h, &session.to_string()).await.ok()?;
        r.r#final.then_some(r)
    })
    .await;
    let cost = answer.cost.clone().unwrap();
    assert_eq!(
        (totals(&cost), cost.energy_wh.as_str()),
        (
            (
                priced.total_excl_vat.as_str(),
                priced.total_incl_vat.as_str()
            ),
            "20000"
        )
    );
    assert_eq!(
        (cost.as_of, cost.started_at),
        (priced.stopped_at, priced.started_at)
    );
    // Where it ran, from the running state; its lines are the priced ones.
    assert_eq!(
        (cost.charge_point_id.as_str(), cost.transaction_id.as_str()),
        ("CP-1", "77")
    );
    assert_eq!(answer.lines, priced.lines);

    // A meter correction re-rates it: the cost follows the adjusted price.
    h.client
        .rerate(v1::RerateRequest {
            session_ids: vec![session.to_string()],
            corrected_energy_wh: "15000".into(),
            reason: "meter replaced".into(),
            ..Default::default()
        })
        .await
        .expect("re-rated");
    let adjusted = h.wait::<SessionPriceAdjusted>(session, 1).await.remove(0);
    let answer = eventually("the adjusted price", || async {
        let r = running_cost(&h, &session.to_string()).await.ok()?;
        (r.cost.as_ref()?.energy_wh == "15000").then_some(r)
    })
    .await;
    let cost = answer.cost.unwrap();
    assert!(answer.r#final);
    assert_eq!(
        totals(&cost),
        (
            adjusted.total_excl_vat.as_str(),
            adjusted.total_incl_vat.as_str()
        )
    );
}
