//! A session of starts and stops (1.6 style): the register difference, repeats, regressions,
//! stops without starts, tokens, gateway flags and signed values.

use super::*;

#[test]
fn a_stop_completes_with_the_register_difference() {
    Given::with(rules())
        .given(vec![SessionEvent::SessionStarted(start(dec!(1000)))])
        .when(SessionCommand::Stop(stop(dec!(13500)), Extras::default()))
        .then_expect_events(vec![
            SessionEvent::StopReceived(stop(dec!(13500))),
            completed(
                Some(start(dec!(1000))),
                stop(dec!(13500)),
                dec!(1000),
                dec!(12500),
                &[],
            ),
        ]);
}

#[test]
fn a_repeated_start_or_stop_changes_nothing() {
    Given::with(rules())
        .given(vec![SessionEvent::SessionStarted(start(dec!(1000)))])
        .when(SessionCommand::Start(start(dec!(1000)), Extras::default()))
        .then_expect_events(vec![]);
    Given::with(rules())
        .given(vec![
            SessionEvent::SessionStarted(start(dec!(1000))),
            completed(
                Some(start(dec!(1000))),
                stop(dec!(1500)),
                dec!(1000),
                dec!(500),
                &[],
            ),
        ])
        .when(SessionCommand::Stop(stop(dec!(1500)), Extras::default()))
        .then_expect_events(vec![]);
}

#[test]
fn a_meter_regression_bills_nothing_and_is_flagged() {
    Given::with(rules())
        .given(vec![SessionEvent::SessionStarted(start(dec!(5000)))])
        .when(SessionCommand::Stop(stop(dec!(4000)), Extras::default()))
        .then_expect_events(vec![
            SessionEvent::StopReceived(stop(dec!(4000))),
            flagged(
                flags::METER_REGRESSION,
                "meter stop 4000 Wh is below meter start 5000 Wh",
            ),
            completed(
                Some(start(dec!(5000))),
                stop(dec!(4000)),
                dec!(5000),
                dec!(0),
                &[flags::METER_REGRESSION],
            ),
        ]);
}

#[test]
fn a_stop_without_start_uses_the_first_reading() {
    let readings = vec![
        Reading {
            at: t("2026-11-21T10:30:00Z"),
            register: Energy::from_wh(dec!(2500)),
        },
        Reading {
            at: t("2026-11-21T10:10:00Z"),
            register: Energy::from_wh(dec!(2000)),
        },
    ];
    let mut expected = completed(
        None,
        stop(dec!(3000)),
        dec!(2000),
        dec!(1000),
        &[flags::STOP_WITHOUT_START, flags::UNKNOWN_TOKEN],
    );
    if let SessionEvent::SessionCompleted { token, samples, .. } = &mut expected {
        *token = None;
        *samples = ordered(&readings);
    }
    Given::with(rules())
        .given(vec![SessionEvent::ReadingsRecorded {
            readings,
            seq_no: None,
            token: None,
            running: None,
            received_at: None,
        }])
        .when(SessionCommand::Stop(stop(dec!(3000)), Extras::default()))
        .then_expect_events(vec![
            SessionEvent::StopReceived(stop(dec!(3000))),
            flagged(
                flags::STOP_WITHOUT_START,
                "start register taken from the first meter reading",
            ),
            flagged(flags::UNKNOWN_TOKEN, ""),
            expected,
        ]);
}

#[test]
fn a_stop_with_nothing_before_bills_no_energy() {
    let events = Given::with(rules())
        .given_no_previous_events()
        .when(SessionCommand::Stop(stop(dec!(3000)), Extras::default()))
        .inspect_result()
        .unwrap();
    let (energy, f, _) = completion_of(&events);
    assert_eq!(energy, Energy::ZERO);
    assert!(f.contains(&flags::STOP_WITHOUT_START.to_string()));
}

#[test]
fn an_unknown_token_is_flagged_at_completion() {
    let mut unknown = start(dec!(0));
    unknown.account_id = String::new();
    let events = Given::with(rules())
        .given(vec![SessionEvent::SessionStarted(unknown)])
        .when(SessionCommand::Stop(stop(dec!(1000)), Extras::default()))
        .inspect_result()
        .unwrap();
    let (energy, f, _) = completion_of(&events);
    assert_eq!(energy, Energy::from_wh(dec!(1000)));
    assert_eq!(f, [flags::UNKNOWN_TOKEN]);
}

#[test]
fn a_late_start_after_a_stop_is_flagged_once() {
    let given = vec![completed(None, stop(dec!(3000)), dec!(3000), dec!(0), &[])];
    Given::with(rules())
        .given(given)
        .when(SessionCommand::Start(start(dec!(1000)), Extras::default()))
        .then_expect_events(vec![flagged(flags::START_AFTER_STOP, "")]);
}

#[test]
fn gateway_flags_and_signed_values_are_kept_once() {
    let signed = SignedValue {
        context: "Transaction.End".into(),
        measurand: "Energy.Active.Import.Register".into(),
        charger_time: Some(t("2026-11-21T11:00:00Z")),
        format: String::new(),
        signed_meter_data: "OCMF|{}|{}".into(),
        signing_method: String::new(),
        encoding_method: "OCMF".into(),
        public_key: "KEY".into(),
    };
    let extras = Extras {
        readings: vec![],
        signed: vec![signed.clone(), signed.clone()],
        flags: vec!["clock_drift:charger clock 600s ahead".into()],
        received_at: None,
    };
    Given::with(rules())
        .given(vec![SessionEvent::SessionStarted(start(dec!(0)))])
        .when(SessionCommand::RecordReadings {
            seq_no: None,
            token: None,
            extras: extras.clone(),
        })
        .then_expect_events(vec![
            SessionEvent::SignedValuesRecorded {
                values: vec![signed.clone()],
            },
            flagged("clock_drift", "charger clock 600s ahead"),
        ]);
    Given::with(rules())
        .given(vec![
            SessionEvent::SessionStarted(start(dec!(0))),
            SessionEvent::SignedValuesRecorded {
                values: vec![signed],
            },
            flagged("clock_drift", "charger clock 600s ahead"),
        ])
        .when(SessionCommand::RecordReadings {
            seq_no: None,
            token: None,
            extras,
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_kwh_stop_labelled_wh_is_read_as_kwh() {
    let events = Given::with(rules())
        .given(vec![SessionEvent::SessionStarted(start(dec!(1000)))])
        .when(SessionCommand::Stop(stop(dec!(13.5)), Extras::default()))
        .inspect_result()
        .unwrap();
    let (energy, f, _) = completion_of(&events);
    assert_eq!(energy, Energy::from_wh(dec!(12500)));
    assert_eq!(f, [flags::KWH_LABELLED_AS_WH]);
}

#[test]
fn a_different_second_16_stop_is_flagged_and_a_repeat_is_not() {
    let session = [
        SessionCommand::Start(start(dec!(1000)), Extras::default()),
        SessionCommand::Stop(stop(dec!(2000)), Extras::default()),
    ];
    // Given a completed session, the same stop again changes nothing,
    Given::with(rules())
        .given(run(session.clone()))
        .when(SessionCommand::Stop(stop(dec!(2000)), Extras::default()))
        .then_expect_events(vec![]);
    // and another stop is flagged, not applied.
    let events = Given::with(rules())
        .given(run(session))
        .when(SessionCommand::Stop(stop(dec!(2500)), Extras::default()))
        .inspect_result()
        .unwrap();
    assert!(matches!(
        &events[..],
        [SessionEvent::SessionFlagged { flag, .. }] if flag == flags::DUPLICATE_END
    ));
}
