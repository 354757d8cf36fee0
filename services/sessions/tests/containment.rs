//! Containment (ADR 022) against real PostgreSQL and NATS: what sessions cannot take is parked, and
//! the consumers go on.

mod support;

use joule_bus::{Outgoing, envelope};
use joule_proto::v1;
use joule_testkit::{TestEnv, eventually};
use support::*;

/// Containment (ADR 022): a charger event sessions cannot decode, and bytes that are not an envelope
/// at all, are parked in the dead-letter stream; the consumer and the process go on and bill the
/// honest charge after them.
#[tokio::test]
async fn a_poisoned_charger_event_is_parked_and_the_next_session_is_still_billed() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let running = spawn_sessions(&env, |_| {}).await;

    let mut poisoned = envelope(
        &started("CPBAD", "1", "1000"),
        meta("poison", "Charger", "CPBAD", 0),
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

    publish(&bus, "honest-start", &started("CP2", "7", "0")).await;
    publish(&bus, "honest-stop", &stopped("CP2", "7", "4200")).await;
    let completed = completed_sessions(&bus, 1).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].charge_point_id, "CP2");

    let parked = bus
        .dead_letters(&joule_bus::DeadLetterQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .entries;
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

/// A database data exception (here a price that is not a number, cast to `numeric`) fails the same
/// way on every delivery: the billing copy is rejected and parked (ADR 022) instead of retried for
/// ever, and the consumer goes on with the next message.
#[tokio::test]
async fn a_billing_event_the_database_cannot_take_is_parked_not_retried_for_ever() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let _running = spawn_sessions(&env, |_| {}).await;
    publish(&bus, "dx-start", &started("CPDX", "1", "0")).await;
    let session = session_id("CPDX", "1");
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
            bus.publish(Outgoing {
                subject: format!("pricing.{session}.priced"),
                envelope: envelope(&m, meta(key, "PricedSession", &session, 1)),
                trace_headers: Default::default(),
            })
            .await
            .expect("publish");
        }
    };
    // Wait until the session exists, so that the UPDATE has a row to cast for.
    let pool = env.pool().await;
    eventually("the session is in the read model", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions.session_view WHERE id = $1")
            .bind(&session)
            .fetch_one(&pool)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
    publish_priced("dx-bad", priced("not-a-number")).await;
    publish_priced("dx-good", priced("7.62")).await;

    let (parked, cost) = eventually("the bad price parked and the good one copied", || async {
        let parked: Vec<_> = bus
            .dead_letters(&joule_bus::DeadLetterQuery {
                consumer: Some("sessions-pricing".into()),
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .entries
            .into_iter()
            .filter(|e| e.record.consumer == "sessions-pricing")
            .collect();
        let cost: Option<String> = sqlx::query_scalar(
            "SELECT cost_excl_vat::text FROM sessions.session_view WHERE id = $1",
        )
        .bind(&session)
        .fetch_one(&pool)
        .await
        .unwrap();
        (!parked.is_empty() && cost.is_some()).then_some((parked, cost))
    })
    .await;
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
