//! Opening, authorising and extending the hold, and stopping the charge of an exhausted one.

use super::*;

#[test]
fn opening_asks_for_a_hold_once() {
    Intent::with(())
        .given_no_previous_events()
        .when(IntentCommand::Open(Open {
            context: context(),
            amount: eur(dec!(50)),
            at: at(),
        }))
        .then_expect_events(opened());
    Intent::with(())
        .given(opened())
        .when(IntentCommand::Open(Open {
            context: context(),
            amount: eur(dec!(50)),
            at: at(),
        }))
        .then_expect_events(vec![]);
}

#[test]
fn an_approval_places_the_hold_and_a_second_record_changes_nothing() {
    let approval = || IntentCommand::RecordAuthorization {
        attempt: 1,
        result: Ok(Approval {
            reference: "h1".into(),
            amount: dec!(50),
            incremental: true,
        }),
        at: at(),
    };
    Intent::with(())
        .given(opened())
        .when(approval())
        .then_expect_events(authorized()[2..].to_vec());
    Intent::with(())
        .given(authorized())
        .when(approval())
        .then_expect_events(vec![]);
}

#[test]
fn a_decline_fails_the_intent_keeping_the_provider_code() {
    Intent::with(())
        .given(opened())
        .when(IntentCommand::RecordAuthorization {
            attempt: 1,
            result: Err(Decline::new(
                "insufficient_funds",
                "Your card has insufficient funds.",
            )),
            at: at(),
        })
        .then_expect_events(vec![IntentEvent::PaymentFailed {
            context: context(),
            amount: eur(dec!(50)),
            code: "insufficient_funds".into(),
            message: "Your card has insufficient funds.".into(),
            at: at(),
        }]);
}

#[test]
fn an_extension_raises_the_hold_or_reports_it_exhausted() {
    Intent::with(())
        .given(authorized())
        .when(IntentCommand::RequestExtension {
            new_total: dec!(50),
        })
        .then_expect_error(IntentError::ExtensionNotAbove {
            requested: dec!(50),
            held: dec!(50),
        });
    let mut history = authorized();
    history.push(IntentEvent::ExtensionRequested {
        attempt: 1,
        new_total: dec!(80),
    });
    Intent::with(())
        .given(history.clone())
        .when(IntentCommand::RecordExtension {
            attempt: 1,
            result: Ok(Extension {
                mode: ExtensionMode::SecondHold,
                reference: "h2".into(),
                added: dec!(30),
            }),
            at: at(),
        })
        .then_expect_events(vec![IntentEvent::HoldExtended {
            context: context(),
            mode: ExtensionMode::SecondHold,
            reference: "h2".into(),
            added: eur(dec!(30)),
            total: eur(dec!(80)),
            at: at(),
        }]);
    Intent::with(())
        .given(history)
        .when(IntentCommand::RecordExtension {
            attempt: 1,
            result: Err(Decline::new("insufficient_funds", "no")),
            at: at(),
        })
        .then_expect_events(vec![IntentEvent::HoldExhausted {
            context: context(),
            requested_total: eur(dec!(80)),
            total: eur(dec!(50)),
            reason: "insufficient_funds".into(),
            code: "insufficient_funds".into(),
            at: at(),
        }]);
}

#[test]
fn a_stop_is_recorded_for_an_exhausted_hold_until_the_charger_took_it() {
    let stop = |delivered| StopRequest {
        charge_point_id: "CP-1".into(),
        transaction_id: "7".into(),
        running_cost: eur(dec!(45)),
        delivered,
        answer: "RemoteStopTransaction: Accepted".into(),
        attempts: 1,
    };
    let record = |delivered| IntentCommand::RecordStopRequest {
        stop: stop(delivered),
        at: at(),
    };
    // A hold that is not exhausted has no charge to stop.
    Intent::with(())
        .given(authorized())
        .when(record(true))
        .then_expect_events(vec![]);
    let mut history = authorized();
    history.push(IntentEvent::ExtensionRequested {
        attempt: 1,
        new_total: dec!(80),
    });
    history.push(IntentEvent::HoldExhausted {
        context: context(),
        requested_total: eur(dec!(80)),
        total: eur(dec!(50)),
        reason: "insufficient_funds".into(),
        code: "insufficient_funds".into(),
        at: at(),
    });
    let stopped = IntentEvent::ChargeStopRequested {
        context: context(),
        stop: stop(false),
        reason: "insufficient_funds".into(),
        code: "insufficient_funds".into(),
        at: at(),
    };
    Intent::with(())
        .given(history.clone())
        .when(record(false))
        .then_expect_events(vec![stopped.clone()]);
    // Not delivered: asked and recorded again; delivered: nothing more.
    history.push(stopped);
    Intent::with(())
        .given(history.clone())
        .when(record(true))
        .then_expect_events(vec![IntentEvent::ChargeStopRequested {
            context: context(),
            stop: stop(true),
            reason: "insufficient_funds".into(),
            code: "insufficient_funds".into(),
            at: at(),
        }]);
    history.push(IntentEvent::ChargeStopRequested {
        context: context(),
        stop: stop(true),
        reason: "insufficient_funds".into(),
        code: "insufficient_funds".into(),
        at: at(),
    });
    Intent::with(())
        .given(history)
        .when(record(true))
        .then_expect_events(vec![]);
}
