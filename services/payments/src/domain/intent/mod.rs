//! The PaymentIntent aggregate: the money movements of one charging session (or one order).
//!
//! Provider calls happen outside the aggregate, in two steps around it: a `Request*` command records
//! what is about to be asked (an operation with an attempt number, from which the provider's
//! idempotency key is derived), then the engine calls the provider, then a `Record*` command records
//! the answer. A crash between the call and the record leaves the operation pending; whoever drives the
//! intent next repeats the call with the same key, the provider answers as it did the first time, and
//! the answer is recorded once. So a hold or a capture never happens twice.
//!
//! Rules: only one operation is pending at a time; a capture takes at most what is held and releases
//! the rest (zero voids); a refund never exceeds what was captured and not yet refunded; a failed
//! capture is retried with a doubling delay and then goes to dunning; provider observations (webhooks)
//! only move an intent forward, so they may arrive in any order and more than once.

mod commands;
mod events;
mod state;
#[cfg(test)]
mod tests;

use joule_domain::Currency;
use rust_decimal::Decimal;

pub use commands::{Approval, Extension, IntentCommand, Observed, Open, StopRequest};
pub use events::{IntentEvent, UPCASTERS};

pub use state::{
    Decline, ExtensionMode, Hold, IntentContext, PaymentIntent, PendingOp, ProviderKind, Purpose,
    RefundRecord, RetryPolicy, Status, VoidReason,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    #[error("no such payment")]
    NotFound,
    #[error("{field}: {reason}")]
    InvalidAmount { field: &'static str, reason: String },
    #[error("currency: {got} does not match the payment's currency {expected}")]
    CurrencyMismatch { expected: Currency, got: Currency },
    #[error("the payment was voided; there is nothing to capture")]
    Voided,
    #[error("the payment is {status}; it cannot be {action}")]
    InvalidState {
        status: String,
        action: &'static str,
    },
    #[error("amount: the payment was already captured with {captured}")]
    AlreadyCaptured { captured: Decimal },
    #[error("amount: {requested} is more than the {available} captured and not yet refunded")]
    RefundExceedsCaptured {
        requested: Decimal,
        available: Decimal,
    },
    #[error("new_amount: {requested} is not above the {held} already held")]
    ExtensionNotAbove { requested: Decimal, held: Decimal },
    #[error("another operation ({0}) is under way on this payment; retry")]
    InProgress(&'static str),
    #[error("the payment already exists for another account or payment method")]
    OpenedDifferently,
}

aggregate!(PaymentIntent {
    type: "PaymentIntent",
    command: IntentCommand,
    event: IntentEvent,
    error: IntentError,
    upcasters: UPCASTERS,
});

impl PaymentIntent {
    /// The state after `event`.
    fn evolve(&mut self, event: IntentEvent) {
        match event {
            IntentEvent::IntentOpened {
                context, amount, ..
            } => {
                self.context = Some(context);
                self.status = Some(Status::Pending);
                self.opened_amount = amount.amount;
            }
            IntentEvent::AuthorizationRequested { attempt, amount } => {
                self.authorize_attempts = attempt;
                self.pending = Some(PendingOp::Authorize { attempt, amount });
            }
            IntentEvent::PaymentAuthorized {
                reference,
                amount,
                incremental,
                ..
            } => {
                self.holds.push(Hold {
                    reference,
                    amount: amount.amount,
                });
                self.incremental = incremental;
                self.status = Some(Status::Authorized);
                self.pending = None;
                self.failure = None;
            }
            IntentEvent::PaymentFailed { code, message, .. } => {
                self.status = Some(Status::Failed);
                self.pending = None;
                self.failure = Some(Decline { code, message });
            }
            IntentEvent::ExtensionRequested { attempt, new_total } => {
                self.extend_attempts = attempt;
                self.pending = Some(PendingOp::Extend { attempt, new_total });
            }
            IntentEvent::HoldExtended {
                mode,
                reference,
                added,
                ..
            } => {
                match (
                    mode,
                    self.holds.iter_mut().find(|h| h.reference == reference),
                ) {
                    (ExtensionMode::Incremental, Some(hold)) => {
                        // `record_extension` checked the new total.
                        hold.amount = hold.amount.saturating_add(added.amount)
                    }
                    _ => self.holds.push(Hold {
                        reference,
                        amount: added.amount,
                    }),
                }
                self.pending = None;
                self.exhausted = false;
            }
            IntentEvent::HoldExhausted { code, reason, .. } => {
                self.pending = None;
                self.exhausted = true;
                self.failure = Some(Decline {
                    code,
                    message: reason,
                });
            }
            IntentEvent::CaptureRequested {
                attempt,
                amount,
                uncollected,
            } => {
                self.capture_attempts = attempt;
                self.capture_amount = Some(amount);
                self.uncollected = uncollected;
                self.next_capture_at = None;
                self.pending = Some(PendingOp::Capture { attempt, amount });
            }
            IntentEvent::PaymentCaptured {
                amount,
                uncollected,
                ..
            } => {
                self.captured = amount.amount;
                self.uncollected = uncollected.amount;
                self.status = Some(Status::Captured);
                self.pending = None;
                self.next_capture_at = None;
            }
            IntentEvent::CaptureFailed {
                code,
                message,
                next_attempt_at,
                ..
            } => {
                self.pending = None;
                self.next_capture_at = Some(next_attempt_at);
                self.failure = Some(Decline { code, message });
            }
            IntentEvent::DunningStarted { code, .. } => {
                self.status = Some(Status::Dunning);
                self.pending = None;
                self.next_capture_at = None;
                self.failure = Some(Decline {
                    code,
                    message: "capture failed; collected by dunning".into(),
                });
            }
            IntentEvent::VoidRequested { attempt, reason } => {
                self.void_attempts = attempt;
                self.pending = Some(PendingOp::Void { attempt, reason });
            }
            IntentEvent::PaymentVoided { reason, .. } => {
                if reason != VoidReason::Dunning {
                    self.status = Some(Status::Voided);
                }
                self.holds.iter_mut().for_each(|h| h.amount = Decimal::ZERO);
                self.pending = None;
            }
            IntentEvent::RefundRequested {
                refund_id,
                amount,
                reason,
            } => {
                self.refunds.push(RefundRecord {
                    refund_id,
                    amount,
                    reason,
                    succeeded: None,
                    code: String::new(),
                });
                self.pending = Some(PendingOp::Refund { refund_id, amount });
            }
            IntentEvent::PaymentRefunded {
                refund_id,
                total_refunded,
                ..
            } => {
                self.refunded = total_refunded.amount;
                if let Some(r) = self.refunds.iter_mut().find(|r| r.refund_id == refund_id) {
                    r.succeeded = Some(true);
                }
                self.status = Some(self.status_after_refund());
                self.pending = None;
            }
            IntentEvent::RefundFailed {
                refund_id, code, ..
            } => {
                if let Some(r) = self.refunds.iter_mut().find(|r| r.refund_id == refund_id) {
                    r.succeeded = Some(false);
                    r.code = code;
                }
                self.pending = None;
            }
            IntentEvent::ChargeStopRequested { stop, .. } => {
                self.stop_delivered = stop.delivered;
            }
        }
    }
}
