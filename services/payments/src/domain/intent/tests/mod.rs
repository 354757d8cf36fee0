//! Tests of the intent (no I/O): given/when/then by behaviour, and events stored in older shapes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::{AccountId, Currency, Money, SessionId, TenantId};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::ids::{MethodId, RefundId};

mod captures;
mod holds;
mod refunds;
mod stored;

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
