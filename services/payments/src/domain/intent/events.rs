//! The intent's events: what happened to its money, as stored, and the upcasters that read the
//! shapes stored before (ADR 030).
//!
//! The `*Requested` records carry bare amounts: the intent's currency is its context's, fixed when
//! it opens. Every event that carries the context carries its amounts as `Money` (from 2.0).

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::Money;
use joule_store::Upcaster;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ExtensionMode, IntentContext, PaymentIntent, StopRequest, VoidReason};
use crate::domain::{in_variant, object_at, wrap_money};
use crate::ids::RefundId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentEvent {
    IntentOpened {
        context: IntentContext,
        amount: Money,
        opened_at: DateTime<Utc>,
    },
    AuthorizationRequested {
        attempt: u32,
        amount: Decimal,
    },
    PaymentAuthorized {
        context: IntentContext,
        reference: String,
        amount: Money,
        incremental: bool,
        at: DateTime<Utc>,
    },
    PaymentFailed {
        context: IntentContext,
        amount: Money,
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
        added: Money,
        total: Money,
        at: DateTime<Utc>,
    },
    HoldExhausted {
        context: IntentContext,
        requested_total: Money,
        total: Money,
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
        amount: Money,
        released: Money,
        uncollected: Money,
        at: DateTime<Utc>,
    },
    CaptureFailed {
        context: IntentContext,
        attempt: u32,
        amount: Money,
        code: String,
        message: String,
        next_attempt_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    DunningStarted {
        context: IntentContext,
        amount_due: Money,
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
        released: Money,
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
        amount: Money,
        total_refunded: Money,
        captured: Money,
        reason: String,
        reference: String,
        at: DateTime<Utc>,
    },
    RefundFailed {
        context: IntentContext,
        refund_id: RefundId,
        amount: Money,
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

impl IntentEvent {
    /// The intent's context, on every event but the `*Requested` records.
    pub fn context(&self) -> Option<&IntentContext> {
        match self {
            IntentEvent::IntentOpened { context, .. }
            | IntentEvent::PaymentAuthorized { context, .. }
            | IntentEvent::PaymentFailed { context, .. }
            | IntentEvent::HoldExtended { context, .. }
            | IntentEvent::HoldExhausted { context, .. }
            | IntentEvent::PaymentCaptured { context, .. }
            | IntentEvent::CaptureFailed { context, .. }
            | IntentEvent::DunningStarted { context, .. }
            | IntentEvent::PaymentVoided { context, .. }
            | IntentEvent::PaymentRefunded { context, .. }
            | IntentEvent::RefundFailed { context, .. }
            | IntentEvent::ChargeStopRequested { context, .. } => Some(context),
            _ => None,
        }
    }

    /// When it happened, on every event but the `*Requested` records.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            IntentEvent::IntentOpened { opened_at, .. } => Some(*opened_at),
            IntentEvent::PaymentAuthorized { at, .. }
            | IntentEvent::PaymentFailed { at, .. }
            | IntentEvent::HoldExtended { at, .. }
            | IntentEvent::HoldExhausted { at, .. }
            | IntentEvent::PaymentCaptured { at, .. }
            | IntentEvent::CaptureFailed { at, .. }
            | IntentEvent::DunningStarted { at, .. }
            | IntentEvent::PaymentVoided { at, .. }
            | IntentEvent::PaymentRefunded { at, .. }
            | IntentEvent::RefundFailed { at, .. }
            | IntentEvent::ChargeStopRequested { at, .. } => Some(*at),
            _ => None,
        }
    }
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

    /// 2.0 for the events whose amounts became `Money` (ADR 030; [`UPCASTERS`] read the 1.0 shape),
    /// 1.0 for the others.
    fn event_version(&self) -> String {
        let event_type = self.event_type();
        match UPCASTERS.iter().rev().find(|u| u.event_type == event_type) {
            Some(upcaster) => upcaster.version,
            None => "1.0",
        }
        .into()
    }
}

/// 1.0 -> 2.0 of an event whose `fields` were bare decimals in the context's currency.
macro_rules! to_money {
    ($event:literal: $($field:literal),+) => {
        Upcaster {
            event_type: $event,
            version: "2.0",
            upcast: |p| {
                in_variant(p, |o| {
                    let currency = o["context"]["currency"].clone();
                    wrap_money(o, &[$($field),+], &currency)
                })
            },
        }
    };
}

/// The intent's upcasters: each event type whose amounts were bare decimals beside the context's
/// currency (1.0) reads them as `Money` in that currency (2.0).
pub const UPCASTERS: &[Upcaster] = &[
    to_money!("IntentOpened": "amount"),
    to_money!("PaymentAuthorized": "amount"),
    to_money!("PaymentFailed": "amount"),
    to_money!("HoldExtended": "added", "total"),
    to_money!("HoldExhausted": "requested_total", "total"),
    to_money!("PaymentCaptured": "amount", "released", "uncollected"),
    to_money!("CaptureFailed": "amount"),
    to_money!("DunningStarted": "amount_due"),
    to_money!("PaymentVoided": "released"),
    to_money!("PaymentRefunded": "amount", "total_refunded", "captured"),
    to_money!("RefundFailed": "amount"),
    Upcaster {
        event_type: "ChargeStopRequested",
        version: "2.0",
        upcast: |p| {
            in_variant(p, |o| {
                let currency = o["context"]["currency"].clone();
                if let Some(stop) = object_at(o, "stop") {
                    wrap_money(stop, &["running_cost"], &currency);
                }
            })
        },
    },
];

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
