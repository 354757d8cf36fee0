use chrono::{DateTime, TimeDelta};
use cqrs_es::test::TestFramework;
use joule_domain::{Currency, Money};
use joule_store::Decided;
use rust_decimal_macros::dec;

use super::*;

type Test = TestFramework<Decided<Reservation>>;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn id() -> ReservationId {
    ReservationId::derived("reservation-under-test")
}

fn requested() -> Requested {
    Requested {
        reservation_id: id(),
        ocpp_reservation_id: 7,
        charger_id: ChargerId::derived("default/CP-1"),
        charge_point_id: "CP-1".parse().unwrap(),
        connector_id: 1,
        token_id: TokenId::derived("default/CARD-1"),
        token_uid: "CARD-1".parse().unwrap(),
        tariff_id: TariffId::derived("tariff"),
        time_zone: "Europe/Berlin".into(),
        expires_at: at(3600),
    }
}

fn requested_event() -> ReservationEvent {
    ReservationEvent::ReservationRequested {
        reservation: requested(),
        requested_at: at(0),
    }
}

fn accepted_event() -> ReservationEvent {
    ReservationEvent::ReservationAccepted {
        reservation_id: id(),
        accepted_at: at(1),
    }
}

fn session() -> SessionId {
    SessionId::derived("CP-1/42")
}

fn fee() -> Fee {
    let eur: Currency = "EUR".parse().unwrap();
    Fee {
        excl_vat: Money::new(dec!(1.50), eur),
        incl_vat: Money::new(dec!(1.785), eur),
        tariff_id: TariffId::derived("tariff"),
        tariff_version: 1,
    }
}

#[test]
fn a_request_is_recorded_once() {
    Test::with(())
        .given_no_previous_events()
        .when(ReservationCommand::Request {
            reservation: requested(),
            at: at(0),
        })
        .then_expect_events(vec![requested_event()]);
    Test::with(())
        .given(vec![requested_event()])
        .when(ReservationCommand::Request {
            reservation: requested(),
            at: at(5),
        })
        .then_expect_events(vec![]);
}

#[test]
fn nothing_but_a_request_starts_a_reservation() {
    Test::with(())
        .given_no_previous_events()
        .when(ReservationCommand::Accept { at: at(1) })
        .then_expect_error(ReservationError::Unknown);
}

#[test]
fn the_chargers_answer_accepts_refuses_or_fails_it_once() {
    Test::with(())
        .given(vec![requested_event()])
        .when(ReservationCommand::Accept { at: at(1) })
        .then_expect_events(vec![accepted_event()]);
    let refused = ReservationEvent::ReservationRefused {
        reservation_id: id(),
        charger_status: "Occupied".into(),
        refused_at: at(1),
    };
    Test::with(())
        .given(vec![requested_event()])
        .when(ReservationCommand::Refuse {
            charger_status: "Occupied".into(),
            at: at(1),
        })
        .then_expect_events(vec![refused.clone()]);
    Test::with(())
        .given(vec![requested_event()])
        .when(ReservationCommand::Fail {
            reason: "charger CP-1 is not connected".into(),
            at: at(1),
        })
        .then_expect_events(vec![ReservationEvent::ReservationFailed {
            reservation_id: id(),
            reason: "charger CP-1 is not connected".into(),
            failed_at: at(1),
        }]);
    // The same answer again records nothing; another answer is refused.
    Test::with(())
        .given(vec![requested_event(), accepted_event()])
        .when(ReservationCommand::Accept { at: at(2) })
        .then_expect_events(vec![]);
    Test::with(())
        .given(vec![requested_event(), refused])
        .when(ReservationCommand::Accept { at: at(2) })
        .then_expect_error(ReservationError::Answered {
            id: id(),
            status: Status::Refused,
        });
}

#[test]
fn only_an_accepted_reservation_is_cancelled() {
    let cancelled = ReservationEvent::ReservationCancelled {
        reservation_id: id(),
        cancelled_at: at(60),
    };
    Test::with(())
        .given(vec![requested_event(), accepted_event()])
        .when(ReservationCommand::Cancel { at: at(60) })
        .then_expect_events(vec![cancelled.clone()]);
    Test::with(())
        .given(vec![requested_event(), accepted_event(), cancelled])
        .when(ReservationCommand::Cancel { at: at(70) })
        .then_expect_events(vec![]);
    Test::with(())
        .given(vec![requested_event()])
        .when(ReservationCommand::Cancel { at: at(60) })
        .then_expect_error(ReservationError::NotActive {
            id: id(),
            status: Status::Requested,
        });
}

#[test]
fn it_expires_at_its_expiry_time_not_when_noticed_and_only_once() {
    Test::with(())
        .given(vec![requested_event(), accepted_event()])
        .when(ReservationCommand::Expire { now: at(3599) })
        .then_expect_error(ReservationError::NotExpired {
            id: id(),
            expires_at: at(3600),
        });
    let expired = ReservationEvent::ReservationExpired {
        reservation_id: id(),
        expired_at: at(3600),
    };
    Test::with(())
        .given(vec![requested_event(), accepted_event()])
        .when(ReservationCommand::Expire { now: at(3700) })
        .then_expect_events(vec![expired.clone()]);
    // A second replica's sweep.
    Test::with(())
        .given(vec![requested_event(), accepted_event(), expired])
        .when(ReservationCommand::Expire { now: at(3710) })
        .then_expect_events(vec![]);
}

#[test]
fn a_session_uses_it_while_it_holds() {
    let used = ReservationEvent::ReservationUsed {
        reservation_id: id(),
        session_id: session(),
        used_at: at(600),
    };
    Test::with(())
        .given(vec![requested_event(), accepted_event()])
        .when(ReservationCommand::Use {
            session_id: session(),
            started_at: at(600),
        })
        .then_expect_events(vec![used.clone()]);
    // Redelivered: nothing more; another session: refused.
    Test::with(())
        .given(vec![requested_event(), accepted_event(), used.clone()])
        .when(ReservationCommand::Use {
            session_id: session(),
            started_at: at(600),
        })
        .then_expect_events(vec![]);
    Test::with(())
        .given(vec![requested_event(), accepted_event(), used])
        .when(ReservationCommand::Use {
            session_id: SessionId::derived("CP-1/43"),
            started_at: at(700),
        })
        .then_expect_error(ReservationError::UsedByAnother {
            id: id(),
            session_id: session(),
        });
    Test::with(())
        .given(vec![requested_event(), accepted_event()])
        .when(ReservationCommand::Use {
            session_id: session(),
            started_at: at(3600),
        })
        .then_expect_error(ReservationError::ExpiredBeforeUse {
            id: id(),
            expires_at: at(3600),
            started_at: at(3600),
        });
    Test::with(())
        .given(vec![requested_event()])
        .when(ReservationCommand::Use {
            session_id: session(),
            started_at: at(600),
        })
        .then_expect_error(ReservationError::NotActive {
            id: id(),
            status: Status::Requested,
        });
}

#[test]
fn an_ended_reservation_gets_its_fee_once() {
    let cancelled = ReservationEvent::ReservationCancelled {
        reservation_id: id(),
        cancelled_at: at(60),
    };
    let recorded = ReservationEvent::ReservationFeeRecorded {
        reservation_id: id(),
        fee: fee(),
        priced_at: at(61),
    };
    Test::with(())
        .given(vec![requested_event(), accepted_event(), cancelled.clone()])
        .when(ReservationCommand::RecordFee {
            fee: fee(),
            at: at(61),
        })
        .then_expect_events(vec![recorded.clone()]);
    Test::with(())
        .given(vec![
            requested_event(),
            accepted_event(),
            cancelled,
            recorded,
        ])
        .when(ReservationCommand::RecordFee {
            fee: fee(),
            at: at(90),
        })
        .then_expect_events(vec![]);
    Test::with(())
        .given(vec![requested_event(), accepted_event()])
        .when(ReservationCommand::RecordFee {
            fee: fee(),
            at: at(61),
        })
        .then_expect_error(ReservationError::NotEnded {
            id: id(),
            status: Status::Accepted,
        });
}

#[test]
fn the_held_time_runs_from_acceptance_to_the_end_and_is_never_negative() {
    let mut r = Reservation::default();
    for e in [requested_event(), accepted_event()] {
        r.evolve(e);
    }
    assert_eq!(r.held(), None);
    r.evolve(ReservationEvent::ReservationUsed {
        reservation_id: id(),
        session_id: session(),
        // The charger's clock lags.
        used_at: at(1) - TimeDelta::seconds(30),
    });
    assert_eq!(r.held(), Some((at(1), at(1))));
}

#[test]
fn events_are_stored_as_they_were_written() {
    let stored = serde_json::json!({"ReservationFeeRecorded": {
        "reservation_id": id().to_string(),
        "fee": {
            "excl_vat": {"amount": "1.50", "currency": "EUR"},
            "incl_vat": {"amount": "1.785", "currency": "EUR"},
            "tariff_id": TariffId::derived("tariff").to_string(),
            "tariff_version": 1
        },
        "priced_at": "2027-01-15T08:01:01Z"
    }});
    let event: ReservationEvent = crate::domain::reads_as_stored(stored, "1.0");
    assert!(matches!(
        event,
        ReservationEvent::ReservationFeeRecorded { .. }
    ));
}
