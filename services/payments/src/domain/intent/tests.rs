//! Given/when/then tests of the intent (no I/O).

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use joule_domain::{AccountId, Currency, Money, SessionId, TenantId};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::ids::{MethodId, RefundId};

type Intent = TestFramework<PaymentIntent>;

fn eur(amount: Decimal) -> Money {
    Money::new(amount, Currency::EUR)
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

fn context() -> IntentContext {
    IntentContext {
        tenant_id: TenantId::default_tenant(),
        account_id: AccountId::derived("jane"),
        session_id: Some(SessionId::derived("default/CP-1/1")),
        order_id: None,
        purpose: Purpose::Session,
        provider: ProviderKind::Sandbox,
        method_id: MethodId::derived("m"),
        token: "tok_sandbox_ok".into(),
        customer: "cus".into(),
        currency: Currency::EUR,
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        first_delay: Duration::seconds(60),
    }
}

fn opened() -> Vec<IntentEvent> {
    vec![
        IntentEvent::IntentOpened {
            context: context(),
            amount: eur(dec!(50)),
            opened_at: at(),
        },
        IntentEvent::AuthorizationRequested {
            attempt: 1,
            amount: dec!(50),
        },
    ]
}

fn authorized() -> Vec<IntentEvent> {
    let mut events = opened();
    events.push(IntentEvent::PaymentAuthorized {
        context: context(),
        reference: "h1".into(),
        amount: eur(dec!(50)),
        incremental: true,
        at: at(),
    });
    events
}

fn capture_requested(amount: Decimal) -> Vec<IntentEvent> {
    let mut events = authorized();
    events.push(IntentEvent::CaptureRequested {
        attempt: 1,
        amount,
        uncollected: dec!(0),
    });
    events
}

fn captured(amount: Decimal) -> Vec<IntentEvent> {
    let mut events = capture_requested(amount);
    events.push(IntentEvent::PaymentCaptured {
        context: context(),
        amount: eur(amount),
        released: eur(dec!(50) - amount),
        uncollected: eur(dec!(0)),
        at: at(),
    });
    events
}

fn voided() -> Vec<IntentEvent> {
    let mut events = authorized();
    events.push(IntentEvent::VoidRequested {
        attempt: 1,
        reason: VoidReason::ZeroAmount,
    });
    events.push(IntentEvent::PaymentVoided {
        context: context(),
        released: eur(dec!(50)),
        reason: VoidReason::ZeroAmount,
        at: at(),
    });
    events
}

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
fn a_refund_never_exceeds_what_was_captured() {
    let refund = |amount| IntentCommand::RequestRefund {
        refund_id: RefundId::derived("r1"),
        amount: eur(amount),
        reason: "requested_by_customer".into(),
    };
    Intent::with(())
        .given(captured(dec!(10)))
        .when(refund(dec!(10.01)))
        .then_expect_error(IntentError::RefundExceedsCaptured {
            requested: dec!(10.01),
            available: dec!(10),
        });
    Intent::with(())
        .given(captured(dec!(10)))
        .when(refund(dec!(0)))
        .then_expect_error(IntentError::InvalidAmount {
            field: "amount",
            reason: "must be greater than zero".into(),
        });
    Intent::with(())
        .given(authorized())
        .when(refund(dec!(1)))
        .then_expect_error(IntentError::InvalidState {
            status: "authorized".into(),
            action: "refunded",
        });
    Intent::with(())
        .given(captured(dec!(10)))
        .when(refund(dec!(4)))
        .then_expect_events(vec![IntentEvent::RefundRequested {
            refund_id: RefundId::derived("r1"),
            amount: dec!(4),
            reason: "requested_by_customer".into(),
        }]);
}

#[test]
fn refunds_move_the_status_to_partially_and_fully_refunded() {
    let mut history = captured(dec!(10));
    history.push(IntentEvent::RefundRequested {
        refund_id: RefundId::derived("r1"),
        amount: dec!(4),
        reason: "r".into(),
    });
    let mut intent = PaymentIntent::default();
    for e in history.iter().cloned() {
        intent.apply(e);
    }
    intent.apply(IntentEvent::PaymentRefunded {
        context: context(),
        refund_id: RefundId::derived("r1"),
        amount: eur(dec!(4)),
        total_refunded: eur(dec!(4)),
        captured: eur(dec!(10)),
        reason: "r".into(),
        reference: "re_1".into(),
        at: at(),
    });
    assert_eq!(intent.status, Some(Status::PartiallyRefunded));
    Intent::with(())
        .given(history.clone())
        .when(IntentCommand::RecordRefund {
            refund_id: RefundId::derived("r1"),
            result: Ok("re_1".into()),
            at: at(),
        })
        .then_expect_events(vec![IntentEvent::PaymentRefunded {
            context: context(),
            refund_id: RefundId::derived("r1"),
            amount: eur(dec!(4)),
            total_refunded: eur(dec!(4)),
            captured: eur(dec!(10)),
            reason: "r".into(),
            reference: "re_1".into(),
            at: at(),
        }]);
    intent.apply(IntentEvent::RefundRequested {
        refund_id: RefundId::derived("r2"),
        amount: dec!(6),
        reason: "r".into(),
    });
    intent.apply(IntentEvent::PaymentRefunded {
        context: context(),
        refund_id: RefundId::derived("r2"),
        amount: eur(dec!(6)),
        total_refunded: eur(dec!(10)),
        captured: eur(dec!(10)),
        reason: "r".into(),
        reference: "re_2".into(),
        at: at(),
    });
    assert_eq!(intent.status, Some(Status::Refunded));
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
