//! The Token aggregate: an authorisation token (RFID card, app token) of an account. Its id is derived
//! from the tenant, its id key and the uid ([`super::keyed`]), so a uid is issued only once per tenant.
//! A token is assigned to a driver and/or a vehicle of one of its account's fleets; the latest
//! assignment replaces the earlier one, and an empty one takes the token out of its fleet.

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, FleetId, TenantId, TokenId, TokenUid};
use joule_store::Decider;
use serde::{Deserialize, Serialize};

use super::{DriverId, VehicleId};

#[cfg(test)]
mod tests;

/// The id a token uid of a tenant always has.
pub fn token_id(tenant: &TenantId, id_key: &str, uid: &TokenUid) -> TokenId {
    TokenId::derived(&super::keyed(tenant, id_key, "token", uid.as_str()))
}

/// Whom a token is handed to: a driver, a vehicle or both, of one fleet (the fleet is none exactly
/// when neither is given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub fleet_id: Option<FleetId>,
    pub driver_id: Option<DriverId>,
    pub vehicle_id: Option<VehicleId>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenCommand {
    Issue {
        token_id: TokenId,
        uid: TokenUid,
        account_id: AccountId,
        at: DateTime<Utc>,
    },
    /// The route checked that the driver and vehicle are of `fleet_id`, a fleet of the token's
    /// account.
    Assign {
        assignment: Assignment,
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
    TokenAssigned {
        token_id: TokenId,
        account_id: AccountId,
        fleet_id: Option<FleetId>,
        driver_id: Option<DriverId>,
        vehicle_id: Option<VehicleId>,
        assigned_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(TokenEvent {
    TokenIssued => "1.0",
    TokenAssigned => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("token uid {0} is already issued")]
    AlreadyIssued(TokenUid),
    #[error("the token is not issued")]
    NotIssued,
}

/// A token uid is issued once per tenant, whichever account asks.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Token(Option<TokenState>);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenState {
    token_id: TokenId,
    uid: TokenUid,
    account_id: AccountId,
    assignment: Assignment,
}

impl Decider for Token {
    const TYPE: &'static str = "token";
    type Command = TokenCommand;
    type Event = TokenEvent;
    type Error = TokenError;

    fn decide(&self, command: TokenCommand) -> Result<Vec<TokenEvent>, TokenError> {
        match (command, &self.0) {
            (TokenCommand::Issue { .. }, Some(now)) => {
                Err(TokenError::AlreadyIssued(now.uid.clone()))
            }
            (
                TokenCommand::Issue {
                    token_id,
                    uid,
                    account_id,
                    at,
                },
                None,
            ) => Ok(vec![TokenEvent::TokenIssued {
                token_id,
                uid,
                account_id,
                issued_at: at,
            }]),
            (TokenCommand::Assign { .. }, None) => Err(TokenError::NotIssued),
            (TokenCommand::Assign { assignment, .. }, Some(now))
                if assignment == now.assignment =>
            {
                Ok(vec![])
            }
            (TokenCommand::Assign { assignment, at }, Some(now)) => {
                let Assignment {
                    fleet_id,
                    driver_id,
                    vehicle_id,
                } = assignment;
                Ok(vec![TokenEvent::TokenAssigned {
                    token_id: now.token_id,
                    account_id: now.account_id,
                    fleet_id,
                    driver_id,
                    vehicle_id,
                    assigned_at: at,
                }])
            }
        }
    }

    fn evolve(&mut self, event: TokenEvent) {
        match event {
            TokenEvent::TokenIssued {
                token_id,
                uid,
                account_id,
                ..
            } => {
                self.0 = Some(TokenState {
                    token_id,
                    uid,
                    account_id,
                    assignment: Assignment::default(),
                });
            }
            TokenEvent::TokenAssigned {
                fleet_id,
                driver_id,
                vehicle_id,
                ..
            } => {
                if let Some(state) = &mut self.0 {
                    state.assignment = Assignment {
                        fleet_id,
                        driver_id,
                        vehicle_id,
                    };
                }
            }
        }
    }
}
