use cqrs_es::test::TestFramework;

use super::*;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn uid() -> TokenUid {
    "04A1B2C3".parse().unwrap()
}

fn id() -> TokenId {
    token_id(&TenantId::default_tenant(), &uid())
}

#[test]
fn issues_a_token() {
    let account = AccountId::new();
    TestFramework::<Token>::with(())
        .given_no_previous_events()
        .when(TokenCommand::Issue {
            token_id: id(),
            uid: uid(),
            account_id: account,
            at: at(),
        })
        .then_expect_events(vec![TokenEvent::TokenIssued {
            token_id: id(),
            uid: uid(),
            account_id: account,
            issued_at: at(),
        }]);
}

#[test]
fn refuses_the_same_uid_twice_even_for_another_account() {
    let first = TokenEvent::TokenIssued {
        token_id: id(),
        uid: uid(),
        account_id: AccountId::new(),
        issued_at: at(),
    };
    TestFramework::<Token>::with(())
        .given(vec![first])
        .when(TokenCommand::Issue {
            token_id: id(),
            uid: uid(),
            account_id: AccountId::new(),
            at: at(),
        })
        .then_expect_error_message("token uid 04A1B2C3 is already issued");
}

#[test]
fn a_stored_issue_reads_as_it_was_written() {
    let stored = serde_json::json!({"TokenIssued": {
        "token_id": "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d", "uid": "04A1B2C3",
        "account_id": "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "issued_at": "2023-11-14T22:13:20Z"
    }});
    let event: TokenEvent = crate::domain::reads_as_stored(stored, "1.0");
    assert_eq!(TokenRecord::key(&event), uid());
}
