//! The proto mapping, in one place: the service's state as the API's messages, and its events as
//! the PAYMENT stream's messages (`payment.<id>.<kind>`). Amounts travel as decimal strings in the
//! currency's minor unit.

use chrono::{DateTime, Utc};
use joule_bus::EventMeta;
use joule_domain::{AccountId, Currency, Money};
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
    currency.written(amount).to_string()
}

/// [`amount`] of money, in its currency.
pub fn money(m: &Money) -> String {
    amount(m.amount, m.currency)
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

/// What an intent message says of the intent itself: its id and its context.
struct Intent {
    intent_id: String,
    session_id: String,
    order_id: String,
    account_id: String,
    provider: String,
    kind: String,
    purpose: String,
    currency: String,
}

impl Intent {
    fn new(id: &str, c: &IntentContext) -> Self {
        Self {
            intent_id: id.to_owned(),
            session_id: session_of(c),
            order_id: c.order_id.clone().unwrap_or_default(),
            account_id: c.account_id.to_string(),
            provider: c.provider.as_str().to_owned(),
            kind: c.provider.kind().to_owned(),
            purpose: c.purpose.as_str().to_owned(),
            currency: c.currency.to_string(),
        }
    }
}

/// An intent message with the fields it takes from [`Intent`] filled in.
trait OfIntent: Default {
    fn of(intent: &Intent) -> Self;
}

/// Which of [`Intent`]'s fields each intent message has.
macro_rules! of_intent {
    ($($message:ident: $($field:ident)+;)+) => {$(
        impl OfIntent for v1::$message {
            fn of(intent: &Intent) -> Self {
                Self { $($field: intent.$field.clone(),)+ ..Default::default() }
            }
        }
    )+};
}

of_intent! {
    PaymentAuthorized: intent_id session_id order_id account_id provider kind purpose currency;
    PaymentHoldExtended: intent_id session_id account_id provider kind currency;
    PaymentHoldExhausted: intent_id session_id account_id provider currency;
    PaymentCaptured: intent_id session_id order_id account_id provider kind purpose currency;
    PaymentCaptureFailed: intent_id session_id account_id provider currency;
    PaymentDunningStarted: intent_id session_id account_id provider currency;
    PaymentVoided: intent_id session_id account_id provider kind currency;
    PaymentFailed: intent_id session_id order_id account_id provider kind currency;
    PaymentRefunded: intent_id session_id account_id provider kind purpose currency;
}

fn of<M: OfIntent>(intent: &Intent) -> M {
    M::of(intent)
}

fn session_of(c: &IntentContext) -> String {
    c.session_id.map(|s| s.to_string()).unwrap_or_default()
}

/// The PAYMENT subject kind of an intent event, if it is published (the `*Requested` records and
/// the stop request are internal).
fn subject_kind(event: &IntentEvent) -> Option<&'static str> {
    Some(match event {
        IntentEvent::PaymentAuthorized { .. } => "authorized",
        IntentEvent::HoldExtended { .. } => "extended",
        IntentEvent::HoldExhausted { .. } => "hold_exhausted",
        IntentEvent::PaymentCaptured { .. } => "captured",
        IntentEvent::CaptureFailed { .. } => "capture_failed",
        IntentEvent::DunningStarted { .. } => "dunning",
        IntentEvent::PaymentVoided { .. } => "voided",
        IntentEvent::PaymentFailed { .. } => "failed",
        IntentEvent::PaymentRefunded { .. } => "refunded",
        _ => return None,
    })
}

/// The message an intent event becomes, if any; `meta` gives the envelope's metadata for the
/// event's business time.
pub fn intent_message(
    id: &str,
    event: &IntentEvent,
    meta: impl FnOnce(DateTime<Utc>) -> EventMeta,
) -> Option<Message> {
    let kind = subject_kind(event)?;
    let (context, at) = (event.context()?, event.at()?);
    let intent = Intent::new(id, context);
    let meta = meta(at);
    let envelope = match event {
        IntentEvent::PaymentAuthorized {
            reference, amount, ..
        } => joule_bus::envelope(
            &v1::PaymentAuthorized {
                payment_method_id: context.method_id.to_string(),
                provider_reference: reference.clone(),
                amount: money(amount),
                amount_authorized: money(amount),
                authorized_at: time(at),
                ..of(&intent)
            },
            meta,
        ),
        IntentEvent::HoldExtended {
            mode,
            reference,
            added,
            total,
            ..
        } => joule_bus::envelope(
            &v1::PaymentHoldExtended {
                mode: mode.as_str().into(),
                provider_reference: reference.clone(),
                amount: money(added),
                amount_authorized: money(total),
                extended_at: time(at),
                ..of(&intent)
            },
            meta,
        ),
        IntentEvent::HoldExhausted {
            requested_total,
            total,
            reason,
            code,
            ..
        } => joule_bus::envelope(
            &v1::PaymentHoldExhausted {
                amount_requested: money(requested_total),
                amount_authorized: money(total),
                reason: reason.clone(),
                provider_code: code.clone(),
                occurred_at: time(at),
                ..of(&intent)
            },
            meta,
        ),
        IntentEvent::PaymentCaptured {
            amount,
            released,
            uncollected,
            ..
        } => joule_bus::envelope(
            &v1::PaymentCaptured {
                amount: money(amount),
                amount_released: money(released),
                amount_uncollected: money(uncollected),
                captured_at: time(at),
                ..of(&intent)
            },
            meta,
        ),
        IntentEvent::CaptureFailed {
            attempt,
            amount,
            code,
            message,
            next_attempt_at,
            ..
        } => joule_bus::envelope(
            &v1::PaymentCaptureFailed {
                amount: money(amount),
                attempt: *attempt,
                provider_code: code.clone(),
                message: message.clone(),
                next_attempt_at: time(*next_attempt_at),
                ..of(&intent)
            },
            meta,
        ),
        IntentEvent::DunningStarted {
            amount_due,
            attempts,
            code,
            ..
        } => joule_bus::envelope(
            &v1::PaymentDunningStarted {
                amount_due: money(amount_due),
                attempts: *attempts,
                provider_code: code.clone(),
                started_at: time(at),
                ..of(&intent)
            },
            meta,
        ),
        IntentEvent::PaymentVoided {
            released, reason, ..
        } => joule_bus::envelope(
            &v1::PaymentVoided {
                amount_released: money(released),
                reason: reason.as_str().into(),
                voided_at: time(at),
                ..of(&intent)
            },
            meta,
        ),
        IntentEvent::PaymentFailed {
            amount,
            code,
            message,
            ..
        } => joule_bus::envelope(
            &v1::PaymentFailed {
                amount: money(amount),
                provider_code: code.clone(),
                message: message.clone(),
                failed_at: time(at),
                ..of(&intent)
            },
            meta,
        ),
        IntentEvent::PaymentRefunded {
            refund_id,
            amount,
            total_refunded,
            captured,
            reason,
            reference,
            ..
        } => joule_bus::envelope(
            &v1::PaymentRefunded {
                refund_id: refund_id.to_string(),
                amount: money(amount),
                amount_refunded: money(total_refunded),
                amount_captured: money(captured),
                reason: reason.clone(),
                provider_reference: reference.clone(),
                refunded_at: time(at),
                ..of(&intent)
            },
            meta,
        ),
        _ => return None,
    };
    Some((kind, envelope))
}

/// The message a wallet event becomes, if any (a top-up; holds are the intents' messages).
pub fn wallet_message(
    id: &str,
    event: WalletEvent,
    meta: impl FnOnce(DateTime<Utc>) -> EventMeta,
) -> Option<Message> {
    let WalletEvent::WalletToppedUp {
        account_id,
        amount,
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
    let m = v1::WalletToppedUp {
        wallet_id: id.to_owned(),
        account_id: account_id.to_string(),
        currency: amount.currency.to_string(),
        amount: money(&amount),
        balance: money(&balance),
        funding: funding.as_str().into(),
        reference,
        intent_id: intent_id.map(|i| i.to_string()).unwrap_or_default(),
        topped_up_at: time(at),
    };
    Some(("topped_up", joule_bus::envelope(&m, meta(at))))
}

pub fn settlement_message(
    id: &str,
    event: SettlementEvent,
    meta: impl FnOnce(DateTime<Utc>) -> EventMeta,
) -> Message {
    let SettlementEvent::SettlementLineRecorded {
        line, intent_id, ..
    } = event;
    let m = v1::SettlementLineRecorded {
        line_id: id.to_owned(),
        currency: line.currency().to_string(),
        gross: money(&line.gross),
        fee: money(&line.fee),
        net: money(&line.net),
        intent_id: intent_id.map(|i| i.to_string()).unwrap_or_default(),
        provider: line.provider,
        transaction_id: line.transaction_id,
        category: line.category,
        provider_reference: line.intent_reference,
        payout_id: line.payout_id,
        occurred_at: time(line.occurred_at),
    };
    ("settled", joule_bus::envelope(&m, meta(line.occurred_at)))
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
