//! The Driver aggregate: a person who charges with a fleet's tokens. Registered in one fleet under
//! a random id, with an optional e-mail and cost centre; changed and archived later. A driver does
//! not move between fleets: the fleet is what a fleet manager's access follows.

use chrono::{DateTime, Utc};
use joule_domain::FleetId;
use joule_store::Decider;
use serde::{Deserialize, Serialize};

use super::{CostCentreId, DriverId, Email, Name, Status};

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq)]
pub enum DriverCommand {
    Register {
        driver_id: DriverId,
        fleet_id: FleetId,
        name: Name,
        email: Option<Email>,
        cost_centre_id: Option<CostCentreId>,
        at: DateTime<Utc>,
    },
    /// Changes what is given (`Some(None)` removes an optional value); `None` keeps the value.
    Change {
        name: Option<Name>,
        email: Option<Option<Email>>,
        cost_centre_id: Option<Option<CostCentreId>>,
        status: Option<Status>,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DriverEvent {
    DriverRegistered {
        driver_id: DriverId,
        fleet_id: FleetId,
        name: Name,
        email: Option<Email>,
        cost_centre_id: Option<CostCentreId>,
        registered_at: DateTime<Utc>,
    },
    /// The driver's values after the change, all of them.
    DriverChanged {
        driver_id: DriverId,
        fleet_id: FleetId,
        name: Name,
        email: Option<Email>,
        cost_centre_id: Option<CostCentreId>,
        status: Status,
        changed_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(DriverEvent {
    DriverRegistered => "1.0",
    DriverChanged => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DriverError {
    #[error("driver {0} exists already")]
    Exists(DriverId),
    #[error("no such driver")]
    Unknown,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Driver(Option<DriverState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DriverState {
    driver_id: DriverId,
    fleet_id: FleetId,
    name: Name,
    email: Option<Email>,
    cost_centre_id: Option<CostCentreId>,
    status: Status,
}

impl Decider for Driver {
    const TYPE: &'static str = "driver";
    type Command = DriverCommand;
    type Event = DriverEvent;
    type Error = DriverError;

    fn decide(&self, command: DriverCommand) -> Result<Vec<DriverEvent>, DriverError> {
        match (command, &self.0) {
            (DriverCommand::Register { driver_id, .. }, Some(_)) => {
                Err(DriverError::Exists(driver_id))
            }
            (
                DriverCommand::Register {
                    driver_id,
                    fleet_id,
                    name,
                    email,
                    cost_centre_id,
                    at,
                },
                None,
            ) => Ok(vec![DriverEvent::DriverRegistered {
                driver_id,
                fleet_id,
                name,
                email,
                cost_centre_id,
                registered_at: at,
            }]),
            (DriverCommand::Change { .. }, None) => Err(DriverError::Unknown),
            (
                DriverCommand::Change {
                    name,
                    email,
                    cost_centre_id,
                    status,
                    at,
                },
                Some(now),
            ) => {
                let next = DriverState {
                    name: name.unwrap_or_else(|| now.name.clone()),
                    email: email.unwrap_or_else(|| now.email.clone()),
                    cost_centre_id: cost_centre_id.unwrap_or(now.cost_centre_id),
                    status: status.unwrap_or(now.status),
                    ..now.clone()
                };
                if &next == now {
                    return Ok(vec![]);
                }
                Ok(vec![DriverEvent::DriverChanged {
                    driver_id: next.driver_id,
                    fleet_id: next.fleet_id,
                    name: next.name,
                    email: next.email,
                    cost_centre_id: next.cost_centre_id,
                    status: next.status,
                    changed_at: at,
                }])
            }
        }
    }

    fn evolve(&mut self, event: DriverEvent) {
        match event {
            DriverEvent::DriverRegistered {
                driver_id,
                fleet_id,
                name,
                email,
                cost_centre_id,
                ..
            } => {
                self.0 = Some(DriverState {
                    driver_id,
                    fleet_id,
                    name,
                    email,
                    cost_centre_id,
                    status: Status::Active,
                });
            }
            DriverEvent::DriverChanged {
                name,
                email,
                cost_centre_id,
                status,
                ..
            } => {
                if let Some(state) = &mut self.0 {
                    state.name = name;
                    state.email = email;
                    state.cost_centre_id = cost_centre_id;
                    state.status = status;
                }
            }
        }
    }
}
