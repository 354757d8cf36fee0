//! The Fleet aggregate: a group of an account's drivers and vehicles, the unit a `fleet_manager`
//! key is limited to. Created by an admin under a random id; renamed and archived later.

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, FleetId};
use joule_store::Decider;
use serde::{Deserialize, Serialize};

use super::{Name, Status, renamed};

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq)]
pub enum FleetCommand {
    Create {
        fleet_id: FleetId,
        account_id: AccountId,
        name: Name,
        at: DateTime<Utc>,
    },
    /// Changes what is given; `None` keeps the value.
    Change {
        name: Option<Name>,
        status: Option<Status>,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FleetEvent {
    FleetCreated {
        fleet_id: FleetId,
        account_id: AccountId,
        name: Name,
        created_at: DateTime<Utc>,
    },
    /// The fleet's values after the change, all of them.
    FleetChanged {
        fleet_id: FleetId,
        name: Name,
        status: Status,
        changed_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(FleetEvent {
    FleetCreated => "1.0",
    FleetChanged => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum FleetError {
    #[error("fleet {0} exists already")]
    Exists(FleetId),
    #[error("no such fleet")]
    Unknown,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Fleet(Option<FleetState>);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FleetState {
    fleet_id: FleetId,
    name: Name,
    status: Status,
}

impl Decider for Fleet {
    const TYPE: &'static str = "fleet";
    type Command = FleetCommand;
    type Event = FleetEvent;
    type Error = FleetError;

    fn decide(&self, command: FleetCommand) -> Result<Vec<FleetEvent>, FleetError> {
        match (command, &self.0) {
            (FleetCommand::Create { fleet_id, .. }, Some(_)) => Err(FleetError::Exists(fleet_id)),
            (
                FleetCommand::Create {
                    fleet_id,
                    account_id,
                    name,
                    at,
                },
                None,
            ) => Ok(vec![FleetEvent::FleetCreated {
                fleet_id,
                account_id,
                name,
                created_at: at,
            }]),
            (FleetCommand::Change { .. }, None) => Err(FleetError::Unknown),
            (FleetCommand::Change { name, status, at }, Some(now)) => {
                let Some((name, status)) = renamed((&now.name, now.status), name, status) else {
                    return Ok(vec![]);
                };
                Ok(vec![FleetEvent::FleetChanged {
                    fleet_id: now.fleet_id,
                    name,
                    status,
                    changed_at: at,
                }])
            }
        }
    }

    fn evolve(&mut self, event: FleetEvent) {
        match event {
            FleetEvent::FleetCreated { fleet_id, name, .. } => {
                self.0 = Some(FleetState {
                    fleet_id,
                    name,
                    status: Status::Active,
                });
            }
            FleetEvent::FleetChanged { name, status, .. } => {
                if let Some(state) = &mut self.0 {
                    state.name = name;
                    state.status = status;
                }
            }
        }
    }
}
