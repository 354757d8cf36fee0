//! Benchmark, not a test (`#[ignore]`; run by `make bench-pricing`): re-rating N stored sessions
//! (default 1,000,000, `JOULE_BENCH_RERATE_SESSIONS`) through the pricing service's re-rating path,
//! [`joule_pricing::rerate::rerate_tariff`], in a fresh database.
//!
//! Seeding writes what the service itself would have stored for N priced sessions of one tariff: a
//! `SessionPriced` event per session (a real breakdown from the engine, with its own session id) and
//! its `priced_sessions` row; the outbox rows the seeding produces are dropped, as if the relay had
//! published them. Then version 1 of the tariff is corrected and the run is timed: it reads every
//! session, prices it with the corrected version, and appends a `SessionRerated` event to each.
//! Publishing those events (the relay) happens after the run and is not part of the figure.

mod support;

use std::time::Instant;

use chrono::{TimeZone, Utc};
use joule_domain::{ChargerId, Energy, SessionId, TariffId};
use joule_pricing::priced_session::{PricedSessionEvent, wire_lines};
use joule_tariff::{SessionUsage, Tariff, Tz, price_session};
use support::Harness;

const TARIFF_V1: &str = r#"{ "id": "AC-BENCH", "currency": "EUR", "elements": [
  { "price_components": [{ "type": "FLAT", "price": 0.50, "vat": 19, "step_size": 1 }] },
  { "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 19, "step_size": 1 }],
    "restrictions": { "start_time": "22:00", "end_time": "06:00" } },
  { "price_components": [{ "type": "ENERGY", "price": 0.39, "vat": 19, "step_size": 1 },
                         { "type": "TIME", "price": 1.20, "vat": 19, "step_size": 60 }] } ] }"#;

#[tokio::test]
#[ignore = "benchmark: run with make bench-pricing"]
async fn rerate_stored_sessions() {
    let n: i64 = std::env::var("JOULE_BENCH_RERATE_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // Start and stop the service once: it migrates its schema.
    let Harness {
        running,
        pool,
        env: _env,
        ..
    } = Harness::start().await;
    running.stop().await.expect("pricing stops");
    let tariff_id = TariffId::new().to_string();
    let seeded = Instant::now();

    // One real priced session is the template of every stored one.
    let tariff = Tariff::parse(TARIFF_V1).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 20, 0, 0).unwrap();
    let usage = SessionUsage {
        start,
        end: start + chrono::TimeDelta::hours(3),
        energy: Energy::from_kwh(rust_decimal::Decimal::from(30)),
        time_zone: Tz::Europe__Berlin,
        samples: vec![],
        charging_end: None,
    };
    let breakdown = price_session(&tariff, &usage).unwrap();
    let template_id = SessionId::derived("bench-template");
    let event = PricedSessionEvent::SessionPriced {
        session_id: template_id,
        charger_id: ChargerId::derived("bench"),
        tariff_id: tariff_id.parse().unwrap(),
        account_id: String::new(),
        token_uid: "TAG".into(),
        energy_wh: usage.energy.wh(),
        started_at: usage.start,
        stopped_at: usage.end,
        priced_at: usage.end,
        breakdown: Box::new(breakdown.clone()),
        tariff_version: 1,
        tariff_source: "charger".into(),
        connector_id: 1,
        metering: Default::default(),
    };
    let payload = serde_json::to_string(&event).unwrap();
    let lines = serde_json::to_string(&wire_lines(&breakdown)).unwrap();
    let s = "pricing";
    let exec = |sql: String| {
        let pool = pool.clone();
        async move {
            // Several statements: the simple query protocol.
            sqlx::Executor::execute(&pool, sql.as_str())
                .await
                .expect("seed");
        }
    };
    exec(format!(
        "INSERT INTO {s}.tariffs (id, tenant_id, ocpi_id, currency, ocpi_json, created_at)
         VALUES ('{tariff_id}', 'default', 'AC-BENCH', 'EUR', '{TARIFF_V1}', now());
         INSERT INTO {s}.tariff_versions (tariff_id, version, valid_from, ocpi_json, published_at)
         VALUES ('{tariff_id}', 1, NULL, '{TARIFF_V1}', now());"
    ))
    .await;
    // Sessions of 1 to 4 hours with 5 to 60 kWh, spread over a year, some across 22:00.
    let chunk = 100_000;
    let mut from = 0;
    while from < n {
        let to = (from + chunk).min(n);
        sqlx::query(&format!(
            "WITH g AS (
                 SELECT i, md5('bench' || i)::uuid::text AS sid,
                        timestamptz '2026-01-01 00:00:00+00' + (i % 525600) * interval '1 minute' AS started,
                        (1 + i % 4) * interval '1 hour' AS dur, 5000 + (i * 7919) % 55000 AS wh
                   FROM generate_series($1::bigint, $2::bigint - 1) AS i
             ), ev AS (
                 INSERT INTO {s}.events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 SELECT 'PricedSession', sid, 1, 'SessionPriced', '1.0',
                        replace($3, '{template_id}', sid)::json, '{{\"tenant_id\":\"default\"}}'::json FROM g
             )
             INSERT INTO {s}.priced_sessions (session_id, tenant_id, status, charger_id, account_id, token_uid,
                 tariff_id, currency, energy_wh, started_at, stopped_at, total_excl_vat, total_incl_vat, breakdown,
                 recorded_at, tariff_version, tariff_source, connector_id, time_zone, current_total_excl_vat,
                 current_total_incl_vat, current_lines)
             SELECT sid, 'default', 'priced', '{charger}', '', 'TAG', '{tariff_id}', 'EUR', wh, started,
                    started + dur, {excl}, {incl}, NULL, now(), 1, 'charger', 1, 'Europe/Berlin', {excl}, {incl},
                    $4::jsonb FROM g",
            charger = ChargerId::derived("bench"),
            excl = breakdown.total_excl_vat,
            incl = breakdown.total_incl_vat,
        ))
        .bind(from)
        .bind(to)
        .bind(&payload)
        .bind(&lines)
        .execute(&pool)
        .await
        .expect("seed sessions");
        from = to;
    }
    // As if the relay had published what the seeding committed.
    exec(format!(
        "TRUNCATE {s}.outbox; ANALYZE {s}.events; ANALYZE {s}.priced_sessions;"
    ))
    .await;
    println!(
        "seed {n} sessions in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    // The correction: energy at 0.37 instead of 0.39 by day, so every session's price changes.
    let corrected = TARIFF_V1.replace("0.39", "0.37");
    exec(format!(
        "UPDATE {s}.tariff_versions SET ocpi_json = '{corrected}', corrected_at = now(),
                correction_reason = 'bench' WHERE tariff_id = '{tariff_id}'"
    ))
    .await;

    let started = Instant::now();
    let stats = joule_pricing::rerate::rerate_tariff(
        &pool,
        &tariff_id,
        None,
        None,
        "tariff correction",
        "default",
        uuid::Uuid::new_v4().to_string(),
        Utc::now(),
    )
    .await
    .expect("re-rating runs");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rerate {} sessions examined, {} adjusted, {} failed in {secs:.1} s ({:.0} sessions/s); target 1,000,000 in <= 60 s",
        stats.examined,
        stats.adjusted,
        stats.failed,
        stats.examined as f64 / secs
    );
    assert_eq!(stats.examined, n as u64);
    assert_eq!(stats.failed, 0);
    // A session priced wholly at night (0.25/kWh, not corrected) keeps its price: no adjustment.
    assert!(stats.adjusted * 100 >= stats.examined * 90, "{stats:?}");
    let appended: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {s}.events WHERE event_type = 'SessionRerated'"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(appended as u64, stats.adjusted);
}
