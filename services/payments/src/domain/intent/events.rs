//! The intent's events: what happened to its money, as stored.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ExtensionMode, IntentContext, PaymentIntent, StopRequest, VoidReason};
use crate::ids::RefundId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentEvent {
    IntentOpened {
        context: IntentContext,
        amount: Decimal,
        opened_at: DateTime<Utc>,
    },
    AuthorizationRequested {
        attempt: u32,
        amount: Decimal,
    },
    PaymentAuthorized {
        context: IntentContext,
        reference: String,
        amount: Decimal,
        incremental: bool,
        at: DateTime<Utc>,
    },
    PaymentFailed {
        context: IntentContext,
        amount: Decimal,
        code: String,
        message: String,
        at: DateTime<Utc>,
    },
    ExtensionRequested {
        attempt: u32,
        new_total: Decimal,
    },
    HoldExtended {
        context: IntentContext,
        mode: ExtensionMode,
        reference: String,
        added: Decimal,
        total: Decimal,
        at: DateTime<Utc>,
    },
    HoldExhausted {
        context: IntentContext,
        requested_total: Decimal,
        total: Decimal,
        reason: String,
        code: String,
        at: DateTime<Utc>,
    },
    CaptureRequested {
        attempt: u32,
        amount: Decimal,
        uncollected: Decimal,
    },
    PaymentCaptured {
        context: IntentContext,
        amount: Decimal,
        released: Decimal,
        uncollected: Decimal,
        at: DateTime<Utc>,
    },
    CaptureFailed {
        context: IntentContext,
        attempt: u32,
        amount: Decimal,
        code: String,
        message: String,
        next_attempt_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    DunningStarted {
        context: IntentContext,
        amount_due: Decimal,
        attempts: u32,
        code: String,
        at: DateTime<Utc>,
    },
    VoidRequested {
        attempt: u32,
        reason: VoidReason,
    },
    PaymentVoided {
        context: IntentContext,
        released: Decimal,
        reason: VoidReason,
        at: DateTime<Utc>,
    },
    RefundRequested {
        refund_id: RefundId,
        amount: Decimal,
        reason: String,
    },
    PaymentRefunded {
        context: IntentContext,
        refund_id: RefundId,
        amount: Decimal,
        total_refunded: Decimal,
        captured: Decimal,
        reason: String,
        reference: String,
        at: DateTime<Utc>,
    },
    RefundFailed {
        context: IntentContext,
        refund_id: RefundId,
        amount: Decimal,
        code: String,
        message: String,
        at: DateTime<Utc>,
    },
    /// The hold is exhausted, so the gateway was asked to stop the charge; `reason` and `code` are the
    /// exhaustion's.
    ChargeStopRequested {
        context: IntentContext,
        stop: StopRequest,
        reason: String,
        code: String,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for IntentEvent {
    fn event_type(&self) -> String {
        match self {
            IntentEvent::IntentOpened { .. } => "IntentOpened",
            IntentEvent::AuthorizationRequested { .. } => "AuthorizationRequested",
            IntentEvent::PaymentAuthorized { .. } => "PaymentAuthorized",
            IntentEvent::PaymentFailed { .. } => "PaymentFailed",
            IntentEvent::ExtensionRequested { .. } => "ExtensionRequested",
            IntentEvent::HoldExtended { .. } => "HoldExtended",
            IntentEvent::HoldExhausted { .. } => "HoldExhausted",
            IntentEvent::CaptureRequested { .. } => "CaptureRequested",
            IntentEvent::PaymentCaptured { .. } => "PaymentCaptured",
            IntentEvent::CaptureFailed { .. } => "CaptureFailed",
            IntentEvent::DunningStarted { .. } => "DunningStarted",
            IntentEvent::VoidRequested { .. } => "VoidRequested",
            IntentEvent::PaymentVoided { .. } => "PaymentVoided",
            IntentEvent::RefundRequested { .. } => "RefundRequested",
            IntentEvent::PaymentRefunded { .. } => "PaymentRefunded",
            IntentEvent::RefundFailed { .. } => "RefundFailed",
            IntentEvent::ChargeStopRequested { .. } => "ChargeStopRequested",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

impl PaymentIntent {
    /// The events that only record what is about to be asked of a provider (ADR 009's first step).
    /// A commit of nothing else does not wait for the WAL flush (ADR 019): the answer's commit,
    /// which does, follows before anyone is answered.
    pub const REQUEST_EVENTS: &'static [&'static str] = &[
        "IntentOpened",
        "AuthorizationRequested",
        "ExtensionRequested",
        "CaptureRequested",
        "VoidRequested",
        "RefundRequested",
    ];
}
