//! Given/when/then tests of the wallet (no I/O).

use super::*;
use chrono::TimeZone;
use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal_macros::dec;

type W = TestFramework<Wallet>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

fn funded(amount: Decimal) -> Vec<WalletEvent> {
    vec![
        WalletEvent::WalletOpened {
            tenant_id: TenantId::default_tenant(),
            account_id: AccountId::derived("a"),
            currency: Currency::EUR,
            at: at(),
        },
        WalletEvent::WalletToppedUp {
            account_id: AccountId::derived("a"),
            top_up_id: "t1".into(),
            amount: Money::new(amount, Currency::EUR),
            funding: Funding::External,
            reference: "bank".into(),
            intent_id: None,
            balance: Money::new(amount, Currency::EUR),
            held: Money::new(dec!(0), Currency::EUR),
            at: at(),
        },
    ]
}

fn held(amount: Decimal) -> Vec<WalletEvent> {
    let mut events = funded(dec!(30));
    events.push(WalletEvent::WalletHoldPlaced {
        hold_id: "h1".into(),
        amount,
        balance: dec!(30),
        held: amount,
        at: at(),
    });
    events
}

#[test]
fn a_hold_cannot_exceed_the_available_balance() {
    W::with(())
        .given(funded(dec!(30)))
        .when(WalletCommand::PlaceHold {
            hold_id: "h1".into(),
            amount: dec!(30.01),
            at: at(),
        })
        .then_expect_error(WalletError::InsufficientFunds {
            available: dec!(30),
            requested: dec!(30.01),
        });
    W::with(())
        .given(held(dec!(20)))
        .when(WalletCommand::PlaceHold {
            hold_id: "h2".into(),
            amount: dec!(11),
            at: at(),
        })
        .then_expect_error(WalletError::InsufficientFunds {
            available: dec!(10),
            requested: dec!(11),
        });
}

#[test]
fn a_capture_takes_from_the_hold_and_releases_the_rest_once() {
    let capture = || WalletCommand::CaptureHold {
        hold_id: "h1".into(),
        amount: dec!(12.5),
        at: at(),
    };
    let captured = WalletEvent::WalletHoldCaptured {
        hold_id: "h1".into(),
        amount: dec!(12.5),
        released: dec!(7.5),
        balance: dec!(17.5),
        held: dec!(0),
        at: at(),
    };
    W::with(())
        .given(held(dec!(20)))
        .when(capture())
        .then_expect_events(vec![captured.clone()]);
    let mut history = held(dec!(20));
    history.push(captured);
    W::with(())
        .given(history)
        .when(capture())
        .then_expect_events(vec![]);
}

#[test]
fn a_top_up_counts_once() {
    W::with(())
        .given(funded(dec!(30)))
        .when(WalletCommand::TopUp {
            top_up_id: "t1".into(),
            amount: dec!(30),
            funding: Funding::External,
            reference: "bank".into(),
            intent_id: None,
            at: at(),
        })
        .then_expect_events(vec![]);
    W::with(())
        .given(funded(dec!(30)))
        .when(WalletCommand::TopUp {
            top_up_id: "t2".into(),
            amount: dec!(-1),
            funding: Funding::External,
            reference: "bank".into(),
            intent_id: None,
            at: at(),
        })
        .then_expect_error(WalletError::NotPositive);
}

#[test]
fn raising_a_hold_checks_the_balance() {
    let raise = |new_amount| WalletCommand::RaiseHold {
        hold_id: "h1".into(),
        new_amount,
        at: at(),
    };
    W::with(())
        .given(held(dec!(20)))
        .when(raise(dec!(25)))
        .then_expect_events(vec![WalletEvent::WalletHoldRaised {
            hold_id: "h1".into(),
            added: dec!(5),
            balance: dec!(30),
            held: dec!(25),
            at: at(),
        }]);
    W::with(())
        .given(held(dec!(20)))
        .when(raise(dec!(31)))
        .then_expect_error(WalletError::InsufficientFunds {
            available: dec!(10),
            requested: dec!(11),
        });
}

#[test]
fn a_top_up_stored_at_1_0_loads_with_money_in_the_wallets_currency() {
    let stored = serde_json::json!({"WalletToppedUp": {
        "account_id": AccountId::derived("a").to_string(),
        "currency": "EUR",
        "top_up_id": "t1",
        "amount": "30.00",
        "funding": "external",
        "reference": "bank",
        "intent_id": null,
        "balance": "30.00",
        "held": "0",
        "at": "2026-11-02T08:00:00Z",
    }});
    let (payload, version) =
        joule_store::upcast::upcast(UPCASTERS, "WalletToppedUp", "1.0", stored);
    let event: WalletEvent = serde_json::from_value(payload).expect("the current shape");
    assert_eq!(event, funded(dec!(30.00))[1]);
    assert_eq!(version, event.event_version());
    // Applied after the opening, the balance is the stored one.
    let mut wallet = Wallet::default();
    wallet.apply(funded(dec!(30))[0].clone());
    wallet.apply(event);
    assert_eq!(wallet.available(), dec!(30));
}
