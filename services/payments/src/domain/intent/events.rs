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

/// Events as the 1.0 code stored them load as the current events, with their amounts as `Money` in
/// the context's currency.
#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use joule_domain::{AccountId, SessionId, TenantId};
    use rust_decimal_macros::dec;
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::intent::{ProviderKind, Purpose};
    use crate::ids::MethodId;

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
            currency: "SEK".parse().unwrap(),
        }
    }

    fn sek(amount: Decimal) -> Money {
        Money::new(amount, "SEK".parse().unwrap())
    }

    /// `fields` of `variant` with the context and time, as 1.0 wrote them (amounts as strings).
    fn stored_1_0(variant: &str, mut fields: Value) -> Value {
        fields["context"] = json!({
            "tenant_id": "default",
            "account_id": AccountId::derived("jane").to_string(),
            "session_id": SessionId::derived("default/CP-1/1").to_string(),
            "order_id": null,
            "purpose": "session",
            "provider": "sandbox",
            "method_id": MethodId::derived("m").to_string(),
            "token": "tok_sandbox_ok",
            "customer": "cus",
            "currency": "SEK",
        });
        fields["at"] = json!("2026-11-02T08:00:00Z");
        json!({ variant: fields })
    }

    fn load(stored: Value, version: &str) -> IntentEvent {
        let event_type = stored.as_object().unwrap().keys().next().unwrap().clone();
        let (payload, now) = joule_store::upcast::upcast(UPCASTERS, &event_type, version, stored);
        let event: IntentEvent = serde_json::from_value(payload).expect("the current shape");
        assert_eq!(now, event.event_version(), "{event_type}");
        event
    }

    #[test]
    fn events_of_1_0_load_with_money_in_the_contexts_currency() {
        let cases = [
            (
                stored_1_0(
                    "PaymentCaptured",
                    json!({"amount": "12.30", "released": "37.70", "uncollected": "0"}),
                ),
                IntentEvent::PaymentCaptured {
                    context: context(),
                    amount: sek(dec!(12.30)),
                    released: sek(dec!(37.70)),
                    uncollected: sek(dec!(0)),
                    at: at(),
                },
            ),
            (
                stored_1_0(
                    "HoldExhausted",
                    json!({"requested_total": "80", "total": "50.00",
                    "reason": "insufficient_funds", "code": "card_declined"}),
                ),
                IntentEvent::HoldExhausted {
                    context: context(),
                    requested_total: sek(dec!(80)),
                    total: sek(dec!(50.00)),
                    reason: "insufficient_funds".into(),
                    code: "card_declined".into(),
                    at: at(),
                },
            ),
            (
                stored_1_0(
                    "PaymentRefunded",
                    json!({"refund_id": RefundId::derived("r").to_string(),
                    "amount": "4", "total_refunded": "4", "captured": "10", "reason": "r",
                    "reference": "re_1"}),
                ),
                IntentEvent::PaymentRefunded {
                    context: context(),
                    refund_id: RefundId::derived("r"),
                    amount: sek(dec!(4)),
                    total_refunded: sek(dec!(4)),
                    captured: sek(dec!(10)),
                    reason: "r".into(),
                    reference: "re_1".into(),
                    at: at(),
                },
            ),
            (
                stored_1_0(
                    "ChargeStopRequested",
                    json!({"stop": {"charge_point_id": "CP-1",
                    "transaction_id": "7", "running_cost": "45.5", "delivered": false,
                    "answer": "gateway: Unavailable", "attempts": 3},
                    "reason": "insufficient_funds", "code": "card_declined"}),
                ),
                IntentEvent::ChargeStopRequested {
                    context: context(),
                    stop: StopRequest {
                        charge_point_id: "CP-1".into(),
                        transaction_id: "7".into(),
                        running_cost: sek(dec!(45.5)),
                        delivered: false,
                        answer: "gateway: Unavailable".into(),
                        attempts: 3,
                    },
                    reason: "insufficient_funds".into(),
                    code: "card_declined".into(),
                    at: at(),
                },
            ),
        ];
        for (stored, expected) in cases {
            assert_eq!(load(stored, "1.0"), expected);
        }
        // The opening's time is `opened_at`, and the decimal keeps the scale it was stored with.
        let mut opened = stored_1_0("IntentOpened", json!({"amount": "50.00"}));
        let fields = opened["IntentOpened"].as_object_mut().unwrap();
        fields.remove("at");
        fields.insert("opened_at".into(), json!("2026-11-02T08:00:00Z"));
        let IntentEvent::IntentOpened { amount, .. } = load(opened, "1.0") else {
            panic!("not an opening");
        };
        assert_eq!(
            (amount, amount.amount.to_string()),
            (sek(dec!(50)), "50.00".into())
        );
    }

    /// The 1.0 shape of a stored event: every `Money` a bare decimal.
    fn as_1_0(value: Value) -> Value {
        match value {
            Value::Object(o)
                if o.len() == 2 && o.contains_key("amount") && o.contains_key("currency") =>
            {
                o["amount"].clone()
            }
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, as_1_0(v))).collect()),
            other => other,
        }
    }

    #[test]
    fn every_event_type_with_money_has_an_upcaster_that_reads_all_of_it() {
        let m = sek(dec!(1.50));
        let (c, r) = (context, || RefundId::derived("r"));
        let events = [
            IntentEvent::IntentOpened {
                context: c(),
                amount: m,
                opened_at: at(),
            },
            IntentEvent::PaymentAuthorized {
                context: c(),
                reference: "h".into(),
                amount: m,
                incremental: true,
                at: at(),
            },
            IntentEvent::PaymentFailed {
                context: c(),
                amount: m,
                code: "x".into(),
                message: "y".into(),
                at: at(),
            },
            IntentEvent::HoldExtended {
                context: c(),
                mode: ExtensionMode::SecondHold,
                reference: "h".into(),
                added: m,
                total: m,
                at: at(),
            },
            IntentEvent::HoldExhausted {
                context: c(),
                requested_total: m,
                total: m,
                reason: "x".into(),
                code: "y".into(),
                at: at(),
            },
            IntentEvent::PaymentCaptured {
                context: c(),
                amount: m,
                released: m,
                uncollected: m,
                at: at(),
            },
            IntentEvent::CaptureFailed {
                context: c(),
                attempt: 1,
                amount: m,
                code: "x".into(),
                message: "y".into(),
                next_attempt_at: at(),
                at: at(),
            },
            IntentEvent::DunningStarted {
                context: c(),
                amount_due: m,
                attempts: 3,
                code: "x".into(),
                at: at(),
            },
            IntentEvent::PaymentVoided {
                context: c(),
                released: m,
                reason: VoidReason::Requested,
                at: at(),
            },
            IntentEvent::PaymentRefunded {
                context: c(),
                refund_id: r(),
                amount: m,
                total_refunded: m,
                captured: m,
                reason: "x".into(),
                reference: "y".into(),
                at: at(),
            },
            IntentEvent::RefundFailed {
                context: c(),
                refund_id: r(),
                amount: m,
                code: "x".into(),
                message: "y".into(),
                at: at(),
            },
            IntentEvent::ChargeStopRequested {
                context: c(),
                stop: StopRequest {
                    charge_point_id: "CP".into(),
                    transaction_id: "1".into(),
                    running_cost: m,
                    delivered: true,
                    answer: "x".into(),
                    attempts: 1,
                },
                reason: "x".into(),
                code: "y".into(),
                at: at(),
            },
        ];
        assert_eq!(events.len(), UPCASTERS.len());
        for event in events {
            assert_eq!(event.event_version(), "2.0");
            let stored = as_1_0(serde_json::to_value(&event).unwrap());
            assert_eq!(load(stored, "1.0"), event, "{}", event.event_type());
        }
    }

    #[test]
    fn current_events_are_stored_at_their_version_and_read_back_as_they_are() {
        let captured = IntentEvent::PaymentCaptured {
            context: context(),
            amount: sek(dec!(12.30)),
            released: sek(dec!(37.70)),
            uncollected: sek(dec!(0)),
            at: at(),
        };
        let stored = serde_json::to_value(&captured).unwrap();
        assert_eq!(
            stored["PaymentCaptured"]["amount"],
            json!({"amount": "12.30", "currency": "SEK"})
        );
        assert_eq!(load(stored, &captured.event_version()), captured);
        let requested = IntentEvent::CaptureRequested {
            attempt: 1,
            amount: dec!(12.30),
            uncollected: dec!(0),
        };
        assert_eq!(requested.event_version(), "1.0");
        assert_eq!(
            load(serde_json::to_value(&requested).unwrap(), "1.0"),
            requested
        );
    }
}
