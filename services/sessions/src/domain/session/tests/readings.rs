//! Readings: the end of charging, and what a running session publishes.

use super::*;
use crate::domain::session::completion::charging_ended_at;

fn charging_end_of(events: &[SessionEvent]) -> (Option<DateTime<Utc>>, Vec<Reading>) {
    match events.last() {
        Some(SessionEvent::SessionCompleted {
            charging_ended_at,
            samples,
            ..
        }) => (*charging_ended_at, samples.clone()),
        other => panic!("expected a completion, got {other:?}"),
    }
}

#[test]
fn readings_that_stop_rising_before_the_stop_end_charging_at_the_first_final_reading() {
    // Given a session whose register reaches its final value at 10:20 and stays there,
    let given = vec![
        SessionEvent::SessionStarted(start(dec!(1000))),
        SessionEvent::ReadingsRecorded {
            readings: vec![
                reading("2026-11-21T10:40:00Z", dec!(13500)),
                reading("2026-11-21T10:10:00Z", dec!(7000)),
                reading("2026-11-21T10:20:00Z", dec!(13500)),
            ],
            seq_no: None,
            token: None,
            running: None,
            received_at: None,
        },
    ];
    // when it stops at 11:00 on that register,
    let events = Given::with(rules())
        .given(given)
        .when(SessionCommand::Stop(stop(dec!(13500)), Extras::default()))
        .inspect_result()
        .unwrap();
    // then charging ended at 10:20, and every reading is carried oldest first.
    let (ended, samples) = charging_end_of(&events);
    assert_eq!(ended, Some(t("2026-11-21T10:20:00Z")));
    let times: Vec<_> = samples.iter().map(|r| r.at).collect();
    assert_eq!(
        times,
        [
            t("2026-11-21T10:10:00Z"),
            t("2026-11-21T10:20:00Z"),
            t("2026-11-21T10:40:00Z")
        ]
    );
}

#[test]
fn energy_rising_until_the_last_reading_means_no_idle_time() {
    // Given readings that rise until the last one, which is at the stop register,
    let given = vec![
        SessionEvent::SessionStarted(start(dec!(1000))),
        SessionEvent::ReadingsRecorded {
            readings: vec![
                reading("2026-11-21T10:20:00Z", dec!(5000)),
                reading("2026-11-21T10:50:00Z", dec!(13500)),
            ],
            seq_no: None,
            token: None,
            running: None,
            received_at: None,
        },
    ];
    // when the session stops,
    let events = Given::with(rules())
        .given(given)
        .when(SessionCommand::Stop(stop(dec!(13500)), Extras::default()))
        .inspect_result()
        .unwrap();
    // then it charged until the stop.
    assert_eq!(charging_end_of(&events).0, None);
    // Nor does a session without readings, or one whose last reading is below the stop.
    let events = run([
        SessionCommand::Start(start(dec!(1000)), Extras::default()),
        SessionCommand::RecordReadings {
            seq_no: None,
            token: None,
            extras: with_readings(vec![
                reading("2026-11-21T10:20:00Z", dec!(9000)),
                reading("2026-11-21T10:30:00Z", dec!(9000)),
            ]),
        },
        SessionCommand::Stop(stop(dec!(13500)), Extras::default()),
    ]);
    assert_eq!(charging_end_of(&events).0, None);
}

#[test]
fn readings_after_the_stop_do_not_count_for_the_end_of_charging() {
    let readings = vec![
        reading("2026-11-21T10:20:00Z", dec!(13500)),
        reading("2026-11-21T11:30:00Z", dec!(13500)),
    ];
    assert_eq!(
        charging_ended_at(
            &readings,
            Energy::from_wh(dec!(13500)),
            t("2026-11-21T11:00:00Z")
        ),
        None
    );
}

#[test]
fn readings_of_a_running_session_carry_what_session_metered_publishes() {
    // Given a started session,
    let given = vec![SessionEvent::SessionStarted(start(dec!(1000)))];
    // when readings arrive,
    let events = Given::with(rules())
        .given(given)
        .when(SessionCommand::RecordReadings {
            seq_no: None,
            token: None,
            extras: with_readings(vec![
                reading("2026-11-21T10:30:00Z", dec!(6000)),
                reading("2026-11-21T10:15:00Z", dec!(3000)),
            ]),
        })
        .inspect_result()
        .unwrap();
    // then they carry the start, the payer and the energy up to the latest reading.
    let [
        SessionEvent::ReadingsRecorded {
            running: Some(running),
            ..
        },
    ] = &events[..]
    else {
        panic!("{events:?}");
    };
    assert_eq!(running.energy, Energy::from_wh(dec!(5000)));
    assert_eq!(running.as_of, t("2026-11-21T10:30:00Z"));
    assert_eq!(running.meter_start, Energy::from_wh(dec!(1000)));
    assert_eq!(running.token.as_ref().unwrap().account_id, "acc");
    // Readings before the start, or after the stop, are not a running session's.
    let events = run([SessionCommand::RecordReadings {
        seq_no: None,
        token: None,
        extras: with_readings(vec![reading("2026-11-21T10:15:00Z", dec!(3000))]),
    }]);
    assert!(matches!(
        &events[..],
        [SessionEvent::ReadingsRecorded { running: None, .. }]
    ));
    let mut ended = transaction_201();
    ended.swap(1, 3);
    let events = run(ended[..3].iter().cloned());
    assert!(
        events.iter().all(|e| !matches!(
            e,
            SessionEvent::ReadingsRecorded {
                running: Some(_),
                ..
            }
        )),
        "{events:?}"
    );
}
