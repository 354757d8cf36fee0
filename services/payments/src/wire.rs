//! The proto mapping, in one place: the service's state as the API's messages, and its events as
//! the PAYMENT stream's messages (`payment.<id>.<kind>`). Amounts travel as decimal strings in the
//! currency's minor unit.

use chrono::{DateTime, Utc};
use joule_bus::EventMeta;
use joule_domain::{AccountId, Currency};
use joule_proto::EventName;
use joule_proto::v1;
use rust_decimal::Decimal;

use crate::domain::intent::{IntentContext, IntentEvent, PaymentIntent, Status};
use crate::domain::methods::{AccountMethods, SavedMethod};
use crate::domain::settlement::SettlementEvent;
use crate::domain::wallet::{Wallet, WalletEvent};
use crate::ids::{IntentId, WalletId};

/// An amount as it travels on the wire: in the currency's minor unit ("12.30", also for "12.3000").
/// The amounts it sees are whole minor units already; it never changes a value.
pub fn amount(amount: Decimal, currency: Currency) -> String {
    let mut d = amount.normalize();
    if d.scale() < currency.minor_units() {
        d.rescale(currency.minor_units());
    }
    d.to_string()
}

fn time(t: DateTime<Utc>) -> Option<joule_proto::Timestamp> {
    Some(joule_proto::time::to_proto(t))
}

/// An intent from its aggregate (consistent right after a write); the history is the read table's.
pub fn intent(id: IntentId, intent: &PaymentIntent) -> v1::PaymentIntent {
    let Some(c) = &intent.context else {
        return v1::PaymentIntent {
            id: id.to_string(),
            ..Default::default()
        };
    };
    let cur = c.currency;
    let failure = intent.failure.clone();
    v1::PaymentIntent {
        id: id.to_string(),
        session_id: session_of(c),
        order_id: c.order_id.clone().unwrap_or_default(),
        account_id: c.account_id.to_string(),
        provider: c.provider.as_str().into(),
        kind: c.provider.kind().into(),
        purpose: c.purpose.as_str().into(),
        payment_method_id: c.method_id.to_string(),
        status: intent.status().map_or("pending", Status::as_str).into(),
        currency: cur.to_string(),
        amount_authorized: amount(intent.authorized(), cur),
        amount_captured: amount(intent.captured, cur),
        amount_refunded: amount(intent.refunded, cur),
        failure_code: failure.as_ref().map(|f| f.code.clone()).unwrap_or_default(),
        failure_message: failure.map(|f| f.message).unwrap_or_default(),
        events: vec![],
        created_at: None,
        updated_at: time(Utc::now()),
    }
}

pub fn method(account: AccountId, m: &SavedMethod, methods: &AccountMethods) -> v1::PaymentMethod {
    v1::PaymentMethod {
        id: m.method_id.to_string(),
        account_id: account.to_string(),
        provider: m.provider.as_str().into(),
        kind: m.provider.kind().into(),
        brand: m.brand.clone(),
        last4: m.last4.clone(),
        exp_month: m.exp_month,
        exp_year: m.exp_year,
        is_default: methods.default == Some(m.method_id),
        created_at: time(Utc::now()),
    }
}

pub fn wallet(id: WalletId, w: &Wallet) -> v1::Wallet {
    let c = w.currency.unwrap_or(Currency::EUR);
    v1::Wallet {
        id: id.to_string(),
        account_id: w.account_id.map(|a| a.to_string()).unwrap_or_default(),
        currency: c.to_string(),
        balance: amount(w.balance, c),
        held: amount(w.held(), c),
        available: amount(w.available(), c),
        created_at: None,
    }
}

/// A PAYMENT message: the subject's kind (`payment.<id>.<kind>`) and the envelope.
pub type Message = (&'static str, v1::Envelope);

/// The envelope of `m`, with the metadata `meta` gives for the event's business time `at`.
fn message<M: prost::Message + EventName>(
    kind: &'static str,
    at: DateTime<Utc>,
    meta: impl FnOnce(DateTime<Utc>) -> EventMeta,
    m: M,
) -> Message {
    (kind, joule_bus::envelope(&m, meta(at)))
}

fn session_of(c: &IntentContext) -> String {
    c.session_id.map(|s| s.to_string()).unwrap_or_default()
}

/// The message an intent event becomes, if any (the `*Requested` records are internal).
pub fn intent_message(
    id: &str,
    event: &IntentEvent,
    meta: impl FnOnce(DateTime<Utc>) -> EventMeta,
) -> Option<Message> {
    let intent_id = id.to_owned();
    let (session_id, account_id, provider, kind, purpose, cur) = match event {
        IntentEvent::PaymentAuthorized { context: c, .. }
        | IntentEvent::HoldExtended { context: c, .. }
        | IntentEvent::HoldExhausted { context: c, .. }
        | IntentEvent::PaymentCaptured { context: c, .. }
        | IntentEvent::CaptureFailed { context: c, .. }
        | IntentEvent::DunningStarted { context: c, .. }
        | IntentEvent::PaymentVoided { context: c, .. }
        | IntentEvent::PaymentFailed { context: c, .. }
        | IntentEvent::PaymentRefunded { context: c, .. } => (
            session_of(c),
            c.account_id.to_string(),
            c.provider.as_str().to_owned(),
            c.provider.kind().to_owned(),
            c.purpose.as_str().to_owned(),
            c.currency,
        ),
        _ => return None,
    };
    let order_id = || match event {
        IntentEvent::PaymentAuthorized { context, .. }
        | IntentEvent::PaymentCaptured { context, .. }
        | IntentEvent::PaymentFailed { context, .. } => {
            context.order_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    };
    let currency = cur.to_string();
    let wire = |d: &Decimal| amount(*d, cur);
    Some(match event {
        IntentEvent::PaymentAuthorized {
            context,
            reference,
            amount,
            at,
            ..
        } => message(
            "authorized",
            *at,
            meta,
            v1::PaymentAuthorized {
                order_id: order_id(),
                payment_method_id: context.method_id.to_string(),
                provider_reference: reference.clone(),
                amount: wire(amount),
                amount_authorized: wire(amount),
                authorized_at: time(*at),
                intent_id,
                session_id,
                account_id,
                provider,
                kind,
                purpose,
                currency,
            },
        ),
        IntentEvent::HoldExtended {
            mode,
            reference,
            added,
            total,
            at,
            ..
        } => message(
            "extended",
            *at,
            meta,
            v1::PaymentHoldExtended {
                mode: mode.as_str().into(),
                provider_reference: reference.clone(),
                amount: wire(added),
                amount_authorized: wire(total),
                extended_at: time(*at),
                intent_id,
                session_id,
                account_id,
                provider,
                kind,
                currency,
            },
        ),
        IntentEvent::HoldExhausted {
            requested_total,
            total,
            reason,
            code,
            at,
            ..
        } => message(
            "hold_exhausted",
            *at,
            meta,
            v1::PaymentHoldExhausted {
                amount_requested: wire(requested_total),
                amount_authorized: wire(total),
                reason: reason.clone(),
                provider_code: code.clone(),
                occurred_at: time(*at),
                intent_id,
                session_id,
                account_id,
                provider,
                currency,
            },
        ),
        IntentEvent::PaymentCaptured {
            amount,
            released,
            uncollected,
            at,
            ..
        } => message(
            "captured",
            *at,
            meta,
            v1::PaymentCaptured {
                order_id: order_id(),
                amount: wire(amount),
                amount_released: wire(released),
                amount_uncollected: wire(uncollected),
                captured_at: time(*at),
                intent_id,
                session_id,
                account_id,
                provider,
                kind,
                purpose,
                currency,
            },
        ),
        IntentEvent::CaptureFailed {
            attempt,
            amount,
            code,
            message: text,
            next_attempt_at,
            at,
            ..
        } => message(
            "capture_failed",
            *at,
            meta,
            v1::PaymentCaptureFailed {
                amount: wire(amount),
                attempt: *attempt,
                provider_code: code.clone(),
                message: text.clone(),
                next_attempt_at: time(*next_attempt_at),
                intent_id,
                session_id,
                account_id,
                provider,
                currency,
            },
        ),
        IntentEvent::DunningStarted {
            amount_due,
            attempts,
            code,
            at,
            ..
        } => message(
            "dunning",
            *at,
            meta,
            v1::PaymentDunningStarted {
                amount_due: wire(amount_due),
                attempts: *attempts,
                provider_code: code.clone(),
                started_at: time(*at),
                intent_id,
                session_id,
                account_id,
                provider,
                currency,
            },
        ),
        IntentEvent::PaymentVoided {
            released,
            reason,
            at,
            ..
        } => message(
            "voided",
            *at,
            meta,
            v1::PaymentVoided {
                amount_released: wire(released),
                reason: reason.as_str().into(),
                voided_at: time(*at),
                intent_id,
                session_id,
                account_id,
                provider,
                kind,
                currency,
            },
        ),
        IntentEvent::PaymentFailed {
            amount,
            code,
            message: text,
            at,
            ..
        } => message(
            "failed",
            *at,
            meta,
            v1::PaymentFailed {
                order_id: order_id(),
                amount: wire(amount),
                provider_code: code.clone(),
                message: text.clone(),
                failed_at: time(*at),
                intent_id,
                session_id,
                account_id,
                provider,
                kind,
                currency,
            },
        ),
        IntentEvent::PaymentRefunded {
            refund_id,
            amount,
            total_refunded,
            captured,
            reason,
            reference,
            at,
            ..
        } => message(
            "refunded",
            *at,
            meta,
            v1::PaymentRefunded {
                refund_id: refund_id.to_string(),
                amount: wire(amount),
                amount_refunded: wire(total_refunded),
                amount_captured: wire(captured),
                reason: reason.clone(),
                provider_reference: reference.clone(),
                refunded_at: time(*at),
                intent_id,
                session_id,
                account_id,
                provider,
                kind,
                purpose,
                currency,
            },
        ),
        _ => return None,
    })
}

/// The message a wallet event becomes, if any (a top-up; holds are the intents' messages).
pub fn wallet_message(
    id: &str,
    event: WalletEvent,
    meta: impl FnOnce(DateTime<Utc>) -> EventMeta,
) -> Option<Message> {
    let WalletEvent::WalletToppedUp {
        account_id,
        currency,
        amount: added,
        funding,
        reference,
        intent_id,
        balance,
        at,
        ..
    } = event
    else {
        return None;
    };
    Some(message(
        "topped_up",
        at,
        meta,
        v1::WalletToppedUp {
            wallet_id: id.to_owned(),
            account_id: account_id.to_string(),
            currency: currency.to_string(),
            amount: amount(added, currency),
            balance: amount(balance, currency),
            funding: funding.as_str().into(),
            reference,
            intent_id: intent_id.map(|i| i.to_string()).unwrap_or_default(),
            topped_up_at: time(at),
        },
    ))
}

pub fn settlement_message(
    id: &str,
    event: SettlementEvent,
    meta: impl FnOnce(DateTime<Utc>) -> EventMeta,
) -> Message {
    let SettlementEvent::SettlementLineRecorded {
        line, intent_id, ..
    } = event;
    let c = line.currency;
    message(
        "settled",
        line.occurred_at,
        meta,
        v1::SettlementLineRecorded {
            line_id: id.to_owned(),
            provider: line.provider,
            transaction_id: line.transaction_id,
            category: line.category,
            currency: c.to_string(),
            gross: amount(line.gross, c),
            fee: amount(line.fee, c),
            net: amount(line.net, c),
            intent_id: intent_id.unwrap_or_default(),
            provider_reference: line.intent_reference,
            payout_id: line.payout_id,
            occurred_at: time(line.occurred_at),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_are_padded_to_the_minor_unit() {
        assert_eq!(amount(dec!(12.3), Currency::EUR), "12.30");
        assert_eq!(amount(dec!(12.3000), Currency::EUR), "12.30");
        assert_eq!(amount(dec!(5), "JPY".parse().unwrap()), "5");
    }
}
