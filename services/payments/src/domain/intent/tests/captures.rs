//! Capturing (the priced amount, at most what is held), voiding, retrying, and observations.

use super::*;

#[test]
fn a_capture_takes_the_priced_amount_and_releases_the_rest() {
    Intent::with(())
        .given(authorized())
        .when(IntentCommand::RequestCapture {
            amount: Money::new(dec!(12.34), Currency::EUR),
        })
        .then_expect_events(vec![IntentEvent::CaptureRequested {
            attempt: 1,
            amount: dec!(12.34),
            uncollected: dec!(0),
        }]);
    Intent::with(())
        .given(capture_requested(dec!(12.34)))
        .when(IntentCommand::RecordCapture {
            attempt: 1,
            result: Ok(()),
            at: at(),
            policy: policy(),
        })
        .then_expect_events(vec![IntentEvent::PaymentCaptured {
            context: context(),
            amount: eur(dec!(12.34)),
            released: eur(dec!(37.66)),
            uncollected: eur(dec!(0)),
            at: at(),
        }]);
}

#[test]
fn capturing_more_than_held_takes_the_hold_and_leaves_the_rest_uncollected() {
    Intent::with(())
        .given(authorized())
        .when(IntentCommand::RequestCapture {
            amount: Money::new(dec!(61), Currency::EUR),
        })
        .then_expect_events(vec![IntentEvent::CaptureRequested {
            attempt: 1,
            amount: dec!(50),
            uncollected: dec!(11),
        }]);
}

#[test]
fn a_zero_amount_voids_the_hold() {
    Intent::with(())
        .given(authorized())
        .when(IntentCommand::RequestCapture {
            amount: Money::new(dec!(0), Currency::EUR),
        })
        .then_expect_events(vec![IntentEvent::VoidRequested {
            attempt: 1,
            reason: VoidReason::ZeroAmount,
        }]);
}

#[test]
fn capturing_a_voided_intent_is_refused() {
    Intent::with(())
        .given(voided())
        .when(IntentCommand::RequestCapture {
            amount: Money::new(dec!(5), Currency::EUR),
        })
        .then_expect_error(IntentError::Voided);
}

#[test]
fn a_currency_mismatch_is_refused() {
    Intent::with(())
        .given(authorized())
        .when(IntentCommand::RequestCapture {
            amount: Money::new(dec!(5), "USD".parse().unwrap()),
        })
        .then_expect_error(IntentError::CurrencyMismatch {
            expected: Currency::EUR,
            got: "USD".parse().unwrap(),
        });
}

#[test]
fn capturing_again_with_the_same_amount_is_a_no_op_and_another_amount_is_refused() {
    Intent::with(())
        .given(captured(dec!(10)))
        .when(IntentCommand::RequestCapture {
            amount: Money::new(dec!(10), Currency::EUR),
        })
        .then_expect_events(vec![]);
    Intent::with(())
        .given(captured(dec!(10)))
        .when(IntentCommand::RequestCapture {
            amount: Money::new(dec!(11), Currency::EUR),
        })
        .then_expect_error(IntentError::AlreadyCaptured { captured: dec!(10) });
}

#[test]
fn a_failed_capture_is_retried_with_a_doubling_delay_then_goes_to_dunning() {
    let fail = |attempt| IntentCommand::RecordCapture {
        attempt,
        result: Err(Decline::new("processing_error", "try later")),
        at: at(),
        policy: policy(),
    };
    let failed = |attempt: u32, delay: i64| IntentEvent::CaptureFailed {
        context: context(),
        attempt,
        amount: eur(dec!(10)),
        code: "processing_error".into(),
        message: "try later".into(),
        next_attempt_at: at() + Duration::seconds(delay),
        at: at(),
    };
    Intent::with(())
        .given(capture_requested(dec!(10)))
        .when(fail(1))
        .then_expect_events(vec![failed(1, 60)]);

    let mut history = capture_requested(dec!(10));
    history.push(failed(1, 60));
    Intent::with(())
        .given(history.clone())
        .when(IntentCommand::RetryCapture {
            at: at() + Duration::seconds(59),
        })
        .then_expect_events(vec![]);
    Intent::with(())
        .given(history.clone())
        .when(IntentCommand::RetryCapture {
            at: at() + Duration::seconds(60),
        })
        .then_expect_events(vec![IntentEvent::CaptureRequested {
            attempt: 2,
            amount: dec!(10),
            uncollected: dec!(0),
        }]);

    history.push(IntentEvent::CaptureRequested {
        attempt: 2,
        amount: dec!(10),
        uncollected: dec!(0),
    });
    Intent::with(())
        .given(history.clone())
        .when(fail(2))
        .then_expect_events(vec![failed(2, 120)]);
    history.push(failed(2, 120));
    history.push(IntentEvent::CaptureRequested {
        attempt: 3,
        amount: dec!(10),
        uncollected: dec!(0),
    });
    Intent::with(())
        .given(history)
        .when(fail(3))
        .then_expect_events(vec![
            IntentEvent::DunningStarted {
                context: context(),
                amount_due: eur(dec!(10)),
                attempts: 3,
                code: "processing_error".into(),
                at: at(),
            },
            IntentEvent::VoidRequested {
                attempt: 1,
                reason: VoidReason::Dunning,
            },
        ]);
}

#[test]
fn a_second_operation_waits_for_the_first() {
    Intent::with(())
        .given(capture_requested(dec!(5)))
        .when(IntentCommand::RequestVoid {
            reason: VoidReason::Requested,
        })
        .then_expect_error(IntentError::InProgress("capture"));
}

#[test]
fn observations_apply_in_any_order_and_only_forward() {
    // The capture webhook arrives before the engine recorded the capture: it resolves it.
    Intent::with(())
        .given(capture_requested(dec!(12)))
        .when(IntentCommand::Reconcile {
            observed: Observed::Captured {
                reference: "h1".into(),
                amount: eur(dec!(12)),
            },
            at: at(),
        })
        .then_expect_events(vec![IntentEvent::PaymentCaptured {
            context: context(),
            amount: eur(dec!(12)),
            released: eur(dec!(38)),
            uncollected: eur(dec!(0)),
            at: at(),
        }]);
    // A stale "authorized" after the capture, or the capture seen twice: nothing.
    Intent::with(())
        .given(captured(dec!(12)))
        .when(IntentCommand::Reconcile {
            observed: Observed::Authorized {
                reference: "h1".into(),
                amount: eur(dec!(50)),
            },
            at: at(),
        })
        .then_expect_events(vec![]);
    Intent::with(())
        .given(captured(dec!(12)))
        .when(IntentCommand::Reconcile {
            observed: Observed::Captured {
                reference: "h1".into(),
                amount: eur(dec!(12)),
            },
            at: at(),
        })
        .then_expect_events(vec![]);
    // With a second hold, one hold's capture is not the intent's: nothing.
    let mut two_holds = authorized();
    two_holds.push(IntentEvent::ExtensionRequested {
        attempt: 1,
        new_total: dec!(80),
    });
    two_holds.push(IntentEvent::HoldExtended {
        context: context(),
        mode: ExtensionMode::SecondHold,
        reference: "h2".into(),
        added: eur(dec!(30)),
        total: eur(dec!(80)),
        at: at(),
    });
    Intent::with(())
        .given(two_holds)
        .when(IntentCommand::Reconcile {
            observed: Observed::Captured {
                reference: "h2".into(),
                amount: eur(dec!(10)),
            },
            at: at(),
        })
        .then_expect_events(vec![]);
    // The recorded capture after the webhook resolved it: nothing.
    Intent::with(())
        .given(captured(dec!(12)))
        .when(IntentCommand::RecordCapture {
            attempt: 1,
            result: Ok(()),
            at: at(),
            policy: policy(),
        })
        .then_expect_events(vec![]);
}
