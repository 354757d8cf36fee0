//! Events as the code of 1.0 stored them load as the current events: their amounts as `Money` in
//! the context's currency (ADR 030).

use serde_json::{Value, json};

use super::*;

/// The context in another currency than the other tests', so that the currency read is the
/// context's.
fn context_in_sek() -> IntentContext {
    IntentContext {
        currency: "SEK".parse().unwrap(),
        ..context()
    }
}

fn sek(amount: Decimal) -> Money {
    Money::new(amount, "SEK".parse().unwrap())
}

/// `fields` of `variant` with the context and time, as 1.0 wrote them (amounts as strings).
fn stored_1_0(variant: &str, mut fields: Value) -> Value {
    // The context's shape is the same in both versions (its ids serialise as the strings they were).
    fields["context"] = serde_json::to_value(context_in_sek()).unwrap();
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
                context: context_in_sek(),
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
                context: context_in_sek(),
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
                context: context_in_sek(),
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
                context: context_in_sek(),
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
    let (c, r) = (context_in_sek, || RefundId::derived("r"));
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
        context: context_in_sek(),
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
