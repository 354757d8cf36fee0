//! The Token aggregate: an authorisation token (RFID card, app token) of an account. Its id is derived
//! from the tenant, its id key and the uid ([`super::keyed`]), so a uid is issued only once per tenant.

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, TenantId, TokenId, TokenUid};
use serde::{Deserialize, Serialize};

use super::{Record, Registration};

#[cfg(test)]
mod tests;

pub type Token = Registration<TokenRecord>;

/// The id a token uid of a tenant always has.
pub fn token_id(tenant: &TenantId, id_key: &str, uid: &TokenUid) -> TokenId {
    TokenId::derived(&super::keyed(tenant, id_key, "token", uid.as_str()))
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

/// A token uid is issued once per tenant, whichever account asks.
pub struct TokenRecord;

impl Record for TokenRecord {
    const TYPE: &'static str = "token";
    type Command = TokenCommand;
    type Event = TokenEvent;
    type Error = TokenError;
    type Key = TokenUid;

    fn created(command: TokenCommand) -> TokenEvent {
        let TokenCommand::Issue {
            token_id,
            uid,
            account_id,
            at,
        } = command;
        TokenEvent::TokenIssued {
            token_id,
            uid,
            account_id,
            issued_at: at,
        }
    }

    fn key(event: &TokenEvent) -> TokenUid {
        let TokenEvent::TokenIssued { uid, .. } = event;
        uid.clone()
    }

    fn exists(uid: TokenUid) -> TokenError {
        TokenError::AlreadyIssued(uid)
    }
}
