//! The CostCentre aggregate: what an account's drivers and vehicles are charged to, known by a code
//! the customer chose. Its id is derived from the tenant's id key, the account and the code
//! ([`super::keyed`]), so a code is created once per account and another tenant cannot compute it.

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, TenantId};
use joule_store::Decider;
use serde::{Deserialize, Serialize};

use super::{Code, CostCentreId, Name, Status, renamed};

#[cfg(test)]
mod tests;

/// The id an account's cost centre code always has.
pub fn cost_centre_id(
    tenant: &TenantId,
    id_key: &str,
    account: AccountId,
    code: &Code,
) -> CostCentreId {
    let key = format!("{account}/{code}");
    CostCentreId::derived(&super::keyed(tenant, id_key, "cost_centre", &key))
}

#[derive(Debug, Clone, PartialEq)]
pub enum CostCentreCommand {
    Create {
        cost_centre_id: CostCentreId,
        account_id: AccountId,
        code: Code,
        name: Name,
        at: DateTime<Utc>,
    },
    /// Changes what is given; `None` keeps the value. The code is the cost centre's identity.
    Change {
        name: Option<Name>,
        status: Option<Status>,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CostCentreEvent {
    CostCentreCreated {
        cost_centre_id: CostCentreId,
        account_id: AccountId,
        code: Code,
        name: Name,
        created_at: DateTime<Utc>,
    },
    /// The cost centre's values after the change, all of them.
    CostCentreChanged {
        cost_centre_id: CostCentreId,
        name: Name,
        status: Status,
        changed_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(CostCentreEvent {
    CostCentreCreated => "1.0",
    CostCentreChanged => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum CostCentreError {
    #[error("cost centre {0} exists already for this account")]
    Exists(Code),
    #[error("no such cost centre")]
    Unknown,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CostCentre(Option<CostCentreState>);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CostCentreState {
    cost_centre_id: CostCentreId,
    code: Code,
    name: Name,
    status: Status,
}

impl Decider for CostCentre {
    const TYPE: &'static str = "cost_centre";
    type Command = CostCentreCommand;
    type Event = CostCentreEvent;
    type Error = CostCentreError;

    fn decide(&self, command: CostCentreCommand) -> Result<Vec<CostCentreEvent>, CostCentreError> {
        match (command, &self.0) {
            (CostCentreCommand::Create { .. }, Some(now)) => {
                Err(CostCentreError::Exists(now.code.clone()))
            }
            (
                CostCentreCommand::Create {
                    cost_centre_id,
                    account_id,
                    code,
                    name,
                    at,
                },
                None,
            ) => Ok(vec![CostCentreEvent::CostCentreCreated {
                cost_centre_id,
                account_id,
                code,
                name,
                created_at: at,
            }]),
            (CostCentreCommand::Change { .. }, None) => Err(CostCentreError::Unknown),
            (CostCentreCommand::Change { name, status, at }, Some(now)) => {
                let Some((name, status)) = renamed((&now.name, now.status), name, status) else {
                    return Ok(vec![]);
                };
                Ok(vec![CostCentreEvent::CostCentreChanged {
                    cost_centre_id: now.cost_centre_id,
                    name,
                    status,
                    changed_at: at,
                }])
            }
        }
    }

    fn evolve(&mut self, event: CostCentreEvent) {
        match event {
            CostCentreEvent::CostCentreCreated {
                cost_centre_id,
                code,
                name,
                ..
            } => {
                self.0 = Some(CostCentreState {
                    cost_centre_id,
                    code,
                    name,
                    status: Status::Active,
                });
            }
            CostCentreEvent::CostCentreChanged { name, status, .. } => {
                if let Some(state) = &mut self.0 {
                    state.name = name;
                    state.status = status;
                }
            }
        }
    }
}
