//! Given/when/then tests of an account's methods (no I/O).

use super::*;
use chrono::TimeZone;
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

fn card() -> SavedMethod {
    SavedMethod {
        method_id: MethodId::derived("m1"),
        provider: ProviderKind::Sandbox,
        token: "tok_sandbox_ok".into(),
        customer: String::new(),
        brand: "visa".into(),
        last4: "4242".into(),
        exp_month: 12,
        exp_year: 2034,
    }
}

fn save(make_default: bool) -> MethodsCommand {
    MethodsCommand::Save {
        tenant_id: TenantId::default_tenant(),
        account_id: AccountId::derived("a"),
        method: card(),
        make_default,
        at: at(),
    }
}

fn saved() -> MethodsEvent {
    MethodsEvent::PaymentMethodSaved {
        tenant_id: TenantId::default_tenant(),
        account_id: AccountId::derived("a"),
        method: card(),
        at: at(),
    }
}

fn defaulted() -> MethodsEvent {
    MethodsEvent::DefaultMethodChanged {
        account_id: AccountId::derived("a"),
        method_id: MethodId::derived("m1"),
        at: at(),
    }
}

#[test]
fn a_method_is_saved_once_and_made_default_when_asked() {
    TestFramework::<AccountMethods>::with(())
        .given_no_previous_events()
        .when(save(true))
        .then_expect_events(vec![saved(), defaulted()]);
    TestFramework::<AccountMethods>::with(())
        .given(vec![saved(), defaulted()])
        .when(save(true))
        .then_expect_events(vec![]);
    TestFramework::<AccountMethods>::with(())
        .given_no_previous_events()
        .when(save(false))
        .then_expect_events(vec![saved()]);
}

#[test]
fn without_a_default_the_account_pays_on_invoice() {
    let mut methods = AccountMethods::default();
    methods.apply(saved());
    assert!(methods.default_method().is_none());
    methods.apply(defaulted());
    assert_eq!(methods.default_method().unwrap().last4, "4242");
}
