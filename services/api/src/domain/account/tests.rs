use super::*;
use crate::domain::registration::{records, refuses};

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn opened(account_id: AccountId) -> AccountEvent {
    AccountEvent::AccountOpened {
        account_id,
        name: "Fleet GmbH".parse().unwrap(),
        currency: Currency::EUR,
        opened_at: at(),
    }
}

fn open(account_id: AccountId) -> AccountCommand {
    AccountCommand::Open {
        account_id,
        name: "Fleet GmbH".parse().unwrap(),
        currency: Currency::EUR,
        at: at(),
    }
}

#[test]
fn opens_an_account() {
    let id = AccountId::new();
    records::<AccountRecord>(open(id), opened(id));
}

#[test]
fn refuses_to_open_twice() {
    let id = AccountId::new();
    let refusal = format!("account {id} is already open");
    refuses::<AccountRecord>(opened(id), open(id), &refusal);
}

#[test]
fn a_stored_opening_reads_as_it_was_written() {
    let stored = serde_json::json!({"AccountOpened": {
        "account_id": "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "name": "Fleet GmbH",
        "currency": "EUR", "opened_at": "2023-11-14T22:13:20Z"
    }});
    let event: AccountEvent = crate::domain::reads_as_stored(stored, "1.0");
    assert_eq!(
        AccountRecord::key(&event).to_string(),
        "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    );
}
