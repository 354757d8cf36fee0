//! The Account aggregate: a customer that pays for charging, in one currency.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use joule_domain::{AccountId, Currency};
use serde::{Deserialize, Serialize};

use super::Name;

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

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Account {
    id: Option<AccountId>,
}

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AccountCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AccountError> {
        match command {
            AccountCommand::Open {
                account_id,
                name,
                currency,
                at,
            } => {
                if let Some(id) = self.id {
                    return Err(AccountError::AlreadyOpen(id));
                }
                sink.write(
                    AccountEvent::AccountOpened {
                        account_id,
                        name,
                        currency,
                        opened_at: at,
                    },
                    self,
                )
                .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::AccountOpened { account_id, .. } => self.id = Some(account_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

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
        TestFramework::<Account>::with(())
            .given_no_previous_events()
            .when(open(id))
            .then_expect_events(vec![opened(id)]);
    }

    #[test]
    fn refuses_to_open_twice() {
        let id = AccountId::new();
        TestFramework::<Account>::with(())
            .given(vec![opened(id)])
            .when(open(id))
            .then_expect_error_message(&format!("account {id} is already open"));
    }
}
