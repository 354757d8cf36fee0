use super::*;
use crate::domain::registration::{records, refuses};

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
    records::<TokenRecord>(issue(account), issued(account));
}

#[test]
fn refuses_the_same_uid_twice_even_for_another_account() {
    let first = issued(AccountId::new());
    let refusal = "token uid 04A1B2C3 is already issued";
    refuses::<TokenRecord>(first, issue(AccountId::new()), refusal);
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
