//! The inactivity close (ADR 027), late stops after it, and which sessions an unusable 1.6 stop
//! may still go to.

use super::*;

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

/// A started session whose last message (readings up to 6000 Wh) arrived at 10:30:05.
fn idle_session() -> Vec<SessionEvent> {
    vec![
        SessionEvent::SessionStarted(start(dec!(1000))),
        SessionEvent::ReadingsRecorded {
            readings: vec![
                reading("2026-11-21T10:15:00Z", dec!(3000)),
                reading("2026-11-21T10:30:00Z", dec!(6000)),
            ],
            seq_no: None,
            token: None,
            running: None,
            received_at: Some(t("2026-11-21T10:30:05Z")),
        },
    ]
}

fn close_at(now: &str) -> SessionCommand {
    SessionCommand::CloseInactive {
        now: t(now),
        limit: hours(24),
    }
}

fn inactivity_close(given: Vec<SessionEvent>, now: &str) -> Vec<SessionEvent> {
    Given::with(rules())
        .given(given)
        .when(close_at(now))
        .inspect_result()
        .unwrap()
}

#[test]
fn an_open_session_is_left_alone_until_the_inactivity_limit() {
    // Given a session whose last message came at 10:30:05,
    // when the sweeper asks a second before 24 h have passed, then nothing happens.
    Given::with(rules())
        .given(idle_session())
        .when(close_at("2026-11-22T10:30:04Z"))
        .then_expect_events(vec![]);
}

#[test]
fn an_idle_session_is_closed_from_its_last_reading_flagged() {
    // Given a session whose last message came at 10:30:05,
    // when 24 h have passed,
    let events = inactivity_close(idle_session(), "2026-11-22T10:30:05Z");
    // then it is flagged and completes with the energy up to its last reading, stopped then.
    assert!(matches!(
        &events[0],
        SessionEvent::SessionFlagged { flag, .. } if flag == flags::CLOSED_FOR_INACTIVITY
    ));
    let (energy, f, token) = completion_of(&events);
    assert_eq!(energy, Energy::from_wh(dec!(5000)));
    assert_eq!(f, [flags::CLOSED_FOR_INACTIVITY, flags::NO_METER_STOP]);
    assert_eq!(token.unwrap().account_id, "acc");
    let Some(SessionEvent::SessionCompleted {
        stop, meter_stop, ..
    }) = events.last()
    else {
        unreachable!()
    };
    assert_eq!(stop.stopped_at, t("2026-11-21T10:30:00Z"));
    assert_eq!(stop.received_at, t("2026-11-22T10:30:05Z"));
    assert_eq!(stop.transaction_id, "7");
    assert_eq!(*meter_stop, Some(Energy::from_wh(dec!(6000))));
}

#[test]
fn an_idle_session_without_readings_closes_at_its_start_with_no_energy() {
    // Given a session started (received 10:00:01) that never sent a reading,
    let events = inactivity_close(
        vec![SessionEvent::SessionStarted(start(dec!(1000)))],
        "2026-11-22T10:00:01Z",
    );
    // then it closes at its start, billing nothing it cannot show.
    let (energy, f, _) = completion_of(&events);
    assert_eq!(energy, Energy::ZERO);
    assert!(
        f.contains(&flags::CLOSED_FOR_INACTIVITY.to_owned()),
        "{f:?}"
    );
    let Some(SessionEvent::SessionCompleted { stop, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(stop.stopped_at, t("2026-11-21T10:00:00Z"));
}

#[test]
fn only_open_sessions_are_closed_for_inactivity() {
    // A completed session, a stopped 2.0.1 session waiting for its gap, and readings without
    // a start are not closed, however old.
    let completed_session = run([
        SessionCommand::Start(start(dec!(1000)), Extras::default()),
        SessionCommand::Stop(stop(dec!(2000)), Extras::default()),
    ]);
    let commands = transaction_201();
    let waiting = run([commands[0].clone(), commands[3].clone()]);
    let no_start = run([SessionCommand::RecordReadings {
        seq_no: None,
        token: None,
        extras: Extras {
            received_at: Some(t("2026-11-21T10:00:00Z")),
            ..with_readings(vec![reading("2026-11-21T10:00:00Z", dec!(10))])
        },
    }]);
    for given in [completed_session, waiting, no_start] {
        Given::with(rules())
            .given(given)
            .when(close_at("2027-01-01T00:00:00Z"))
            .then_expect_events(vec![]);
    }
}

#[test]
fn a_late_reading_keeps_the_session_open_and_readings_before_the_start_do_not() {
    // Given the idle session, a reading received a day later resets the clock.
    let mut given = idle_session();
    given.push(SessionEvent::ReadingsRecorded {
        readings: vec![reading("2026-11-22T09:00:00Z", dec!(7000))],
        seq_no: None,
        token: None,
        running: None,
        received_at: Some(t("2026-11-22T09:00:01Z")),
    });
    Given::with(rules())
        .given(given)
        .when(close_at("2026-11-22T10:30:05Z"))
        .then_expect_events(vec![]);
    // Readings before the start do not count: the start's arrival does.
    let before = vec![
        SessionEvent::ReadingsRecorded {
            readings: vec![reading("2026-11-21T09:00:00Z", dec!(900))],
            seq_no: None,
            token: None,
            running: None,
            received_at: Some(t("2026-11-23T00:00:00Z")),
        },
        SessionEvent::SessionStarted(start(dec!(1000))),
    ];
    let events = inactivity_close(before, "2026-11-22T10:00:01Z");
    assert!(matches!(
        events.last(),
        Some(SessionEvent::SessionCompleted { .. })
    ));
}

fn closed_for_inactivity() -> Vec<SessionEvent> {
    let mut events = idle_session();
    events.extend(inactivity_close(idle_session(), "2026-11-22T10:30:05Z"));
    events
}

#[test]
fn a_stop_after_an_inactivity_close_is_flagged_once_and_bills_nothing() {
    // Given a session closed for inactivity,
    // when its stop arrives late (matched from a -1 stop, with the gateway's flag),
    let extras = Extras {
        flags: vec![
            "invalid_transaction_id".into(),
            "stop_matched_to_open_transaction:transactionId \"-1\" matched".into(),
        ],
        ..Default::default()
    };
    // then it is flagged, with what the stop said, and nothing completes again.
    Given::with(rules())
        .given(closed_for_inactivity())
        .when(SessionCommand::Stop(stop(dec!(9000)), extras.clone()))
        .then_expect_events(vec![
            flagged(
                flags::STOP_AFTER_INACTIVITY_CLOSE,
                "transactionId 7, meterStop 9000 Wh, at 2026-11-21T11:00:00+00:00",
            ),
            flagged("invalid_transaction_id", ""),
            flagged(
                flags::STOP_MATCHED_TO_OPEN_TRANSACTION,
                "transactionId \"-1\" matched",
            ),
        ]);
    // The same stop again changes nothing.
    let mut given = closed_for_inactivity();
    given.push(flagged(flags::STOP_AFTER_INACTIVITY_CLOSE, ""));
    Given::with(rules())
        .given(given)
        .when(SessionCommand::Stop(stop(dec!(9000)), Extras::default()))
        .then_expect_events(vec![]);
}

fn state(events: Vec<SessionEvent>) -> ChargingSession {
    let mut session = ChargingSession::default();
    for event in events {
        session.apply(event);
    }
    session
}

#[test]
fn a_session_takes_an_unusable_stop_while_open_or_closed_for_inactivity() {
    // An open session is a candidate with its last register,
    let open = state(idle_session()).stop_candidate().unwrap();
    assert_eq!(open.last_register, Some(Energy::from_wh(dec!(6000))));
    assert_eq!((open.connector_id, open.id_tag.as_str()), (1, "TAG"));
    assert!(!open.closed_for_inactivity);
    // so is one closed for inactivity until its late stop came,
    let idle = state(closed_for_inactivity()).stop_candidate().unwrap();
    assert!(idle.closed_for_inactivity);
    let mut late = closed_for_inactivity();
    late.push(flagged(flags::STOP_AFTER_INACTIVITY_CLOSE, ""));
    assert_eq!(state(late).stop_candidate(), None);
    // and a session that stopped, or never started, is not.
    let stopped = run([
        SessionCommand::Start(start(dec!(1000)), Extras::default()),
        SessionCommand::Stop(stop(dec!(2000)), Extras::default()),
    ]);
    assert_eq!(state(stopped).stop_candidate(), None);
    assert_eq!(ChargingSession::default().stop_candidate(), None);
    assert!(ChargingSession::default().is_blank());
    assert!(!state(idle_session()).is_blank());
}

#[test]
fn a_matched_stop_completes_the_open_session_with_its_flags() {
    // Given an open session, when the intake sends it a -1 stop it matched (carrying the
    // session's transaction id), then the session completes and the audit shows the match.
    let extras = Extras {
        flags: vec![
            "invalid_transaction_id".into(),
            "stop_matched_to_open_transaction:transactionId \"-1\" matched to transaction 7".into(),
        ],
        ..Default::default()
    };
    let events = Given::with(rules())
        .given(idle_session())
        .when(SessionCommand::Stop(stop(dec!(8000)), extras))
        .inspect_result()
        .unwrap();
    let (energy, f, _) = completion_of(&events);
    assert_eq!(energy, Energy::from_wh(dec!(7000)));
    assert_eq!(
        f,
        [
            "invalid_transaction_id",
            flags::STOP_MATCHED_TO_OPEN_TRANSACTION
        ]
    );
}
