//! The Account aggregate: a customer that pays for charging, in one currency.

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, Currency};
use serde::{Deserialize, Serialize};

use super::{Name, Record, Registration};

#[cfg(test)]
mod tests;

pub type Account = Registration<AccountRecord>;

#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    Open {
        account_id: AccountId,
        name: Name,
        currency: Currency,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    AccountOpened {
        account_id: AccountId,
        name: Name,
        currency: Currency,
        opened_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(AccountEvent {
    AccountOpened => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AccountError {
    #[error("account {0} is already open")]
    AlreadyOpen(AccountId),
}

/// Accounts are opened once.
pub struct AccountRecord;

impl Record for AccountRecord {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Key = AccountId;

    fn created(command: AccountCommand) -> AccountEvent {
        let AccountCommand::Open {
            account_id,
            name,
            currency,
            at,
        } = command;
        AccountEvent::AccountOpened {
            account_id,
            name,
            currency,
            opened_at: at,
        }
    }

    fn key(event: &AccountEvent) -> AccountId {
        let AccountEvent::AccountOpened { account_id, .. } = event;
        *account_id
    }

    fn exists(account_id: AccountId) -> AccountError {
        AccountError::AlreadyOpen(account_id)
    }
}
