//! The Token aggregate: an authorisation token (RFID card, app token) of an account. Its id is derived
//! from the tenant and the uid, so a uid is issued only once per tenant.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use joule_domain::{AccountId, TenantId, TokenId, TokenUid};
use serde::{Deserialize, Serialize};

/// The id a token uid of a tenant always has.
pub fn token_id(tenant: &TenantId, uid: &TokenUid) -> TokenId {
    TokenId::derived(&format!("{tenant}/{uid}"))
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenCommand {
    Issue {
        token_id: TokenId,
        uid: TokenUid,
        account_id: AccountId,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TokenEvent {
    TokenIssued {
        token_id: TokenId,
        uid: TokenUid,
        account_id: AccountId,
        issued_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(TokenEvent {
    TokenIssued => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("token uid {0} is already issued")]
    AlreadyIssued(TokenUid),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Token {
    uid: Option<TokenUid>,
}

impl Aggregate for Token {
    const TYPE: &'static str = "token";
    type Command = TokenCommand;
    type Event = TokenEvent;
    type Error = TokenError;
    type Services = ();

    async fn handle(
        &mut self,
        command: TokenCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), TokenError> {
        match command {
            TokenCommand::Issue {
                token_id,
                uid,
                account_id,
                at,
            } => {
                if let Some(existing) = &self.uid {
                    return Err(TokenError::AlreadyIssued(existing.clone()));
                }
                sink.write(
                    TokenEvent::TokenIssued {
                        token_id,
                        uid,
                        account_id,
                        issued_at: at,
                    },
                    self,
                )
                .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: TokenEvent) {
        match event {
            TokenEvent::TokenIssued { uid, .. } => self.uid = Some(uid),
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
}
