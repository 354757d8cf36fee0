//! Refunds: never more than was captured, and the status they leave.

use super::*;

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
