//! Sessions that would never end (ADR 027) against real PostgreSQL and NATS: a 1.6 stop with an
//! unusable transaction id matched to the charger's open transaction, and the inactivity close.

mod support;

use joule_testkit::TestEnv;
use support::*;

#[tokio::test]
async fn a_minus_one_stop_closes_the_chargers_open_transaction() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let pool = env.pool().await;
    let _running = spawn_sessions(&env, |_| {}).await;

    // One open transaction on CPA with readings, then a stop with transactionId -1.
    publish(&bus, "a-start", &started_on("CPA", "1", 2, "TAG1", "1000")).await;
    publish(
        &bus,
        "a-meter",
        &meter("CPA", "1", &[("2026-11-21T10:30:00Z", "6000")]),
    )
    .await;
    let stop = unusable_stop("CPA", "TAG1", "13500", "2026-11-21T11:00:00Z");
    publish(&bus, "a-stop", &stop).await;
    // The same stop again beyond JetStream's duplicate window (another message id), and the
    // session's own stop, late.
    publish(&bus, "a-stop-again", &stop).await;
    publish(&bus, "a-stop-real", &stopped("CPA", "1", "14000")).await;

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
    let _running = spawn_sessions(&env, |_| {}).await;

    // Two open transactions on CPB: connector 1 for TAG1 at 1000 Wh, connector 2 for TAG2 at
    // 50000 Wh.
    publish(
        &bus,
        "b-start-1",
        &started_on("CPB", "10", 1, "TAG1", "1000"),
    )
    .await;
    publish(
        &bus,
        "b-start-2",
        &started_on("CPB", "11", 2, "TAG2", "50000"),
    )
    .await;
    // A -1 stop for TAG3 fits neither: a session of its own, flagged as before.
    publish(
        &bus,
        "b-stop-3",
        &unusable_stop("CPB", "TAG3", "60000", "2026-11-21T10:50:00Z"),
    )
    .await;
    // A -1 stop for TAG1 at 5000 Wh is connector 1's; one for TAG2 at 60000 Wh connector 2's.
    publish(
        &bus,
        "b-stop-1",
        &unusable_stop("CPB", "TAG1", "5000", "2026-11-21T11:00:00Z"),
    )
    .await;
    publish(
        &bus,
        "b-stop-2",
        &unusable_stop("CPB", "TAG2", "60000", "2026-11-21T11:05:00Z"),
    )
    .await;
    // No open transaction on CPC: the -1 stop is a session of its own.
    publish(
        &bus,
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
    let _running = spawn_sessions(&env, |s| s.session_inactivity_secs = 2).await;

    // A session with two readings, then silence.
    publish(&bus, "i-start", &started_on("CPI", "7", 1, "TAG1", "1000")).await;
    publish(
        &bus,
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
    publish(
        &bus,
        "i-stop-minus-one",
        &unusable_stop("CPI", "TAG1", "9600", "2026-11-21T12:00:00Z"),
    )
    .await;
    publish(&bus, "i-stop", &stopped("CPI", "7", "9600")).await;
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
