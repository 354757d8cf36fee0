use cqrs_es::test::TestFramework;
use joule_store::Decided;

use super::*;

type Given = TestFramework<Decided<Token>>;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn uid() -> TokenUid {
    "04A1B2C3".parse().unwrap()
}

fn id() -> TokenId {
    token_id(&TenantId::default_tenant(), "", &uid())
}

fn issue(account_id: AccountId) -> TokenCommand {
    TokenCommand::Issue {
        token_id: id(),
        uid: uid(),
        account_id,
        at: at(),
    }
}

fn issued(account_id: AccountId) -> TokenEvent {
    TokenEvent::TokenIssued {
        token_id: id(),
        uid: uid(),
        account_id,
        issued_at: at(),
    }
}

#[test]
fn issues_a_token() {
    let account = AccountId::new();
    Given::with(())
        .given_no_previous_events()
        .when(issue(account))
        .then_expect_events(vec![issued(account)]);
}

#[test]
fn refuses_the_same_uid_twice_even_for_another_account() {
    Given::with(())
        .given(vec![issued(AccountId::new())])
        .when(issue(AccountId::new()))
        .then_expect_error_message("token uid 04A1B2C3 is already issued");
}

#[test]
fn an_assignment_is_recorded_once_and_replaced_by_the_next() {
    let account = AccountId::new();
    let to_driver = Assignment {
        fleet_id: Some(FleetId::new()),
        driver_id: Some(DriverId::new()),
        vehicle_id: None,
    };
    let assign = |assignment: &Assignment| TokenCommand::Assign {
        assignment: assignment.clone(),
        at: at(),
    };
    let assigned = |a: &Assignment| TokenEvent::TokenAssigned {
        token_id: id(),
        account_id: account,
        fleet_id: a.fleet_id,
        driver_id: a.driver_id,
        vehicle_id: a.vehicle_id,
        assigned_at: at(),
    };
    Given::with(())
        .given(vec![issued(account)])
        .when(assign(&to_driver))
        .then_expect_events(vec![assigned(&to_driver)]);
    Given::with(())
        .given(vec![issued(account), assigned(&to_driver)])
        .when(assign(&to_driver))
        .then_expect_events(vec![]);
    let none = Assignment::default();
    Given::with(())
        .given(vec![issued(account), assigned(&to_driver)])
        .when(assign(&none))
        .then_expect_events(vec![assigned(&none)]);
    Given::with(())
        .given_no_previous_events()
        .when(assign(&to_driver))
        .then_expect_error(TokenError::NotIssued);
}

#[test]
fn a_stored_issue_reads_as_it_was_written() {
    let stored = serde_json::json!({"TokenIssued": {
        "token_id": "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d", "uid": "04A1B2C3",
        "account_id": "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "issued_at": "2023-11-14T22:13:20Z"
    }});
    let event: TokenEvent = crate::domain::reads_as_stored(stored, "1.0");
    let TokenEvent::TokenIssued { uid: read, .. } = event else {
        panic!("an issue")
    };
    assert_eq!(read, uid());
}
