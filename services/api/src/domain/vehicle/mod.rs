//! The Vehicle aggregate: an electric vehicle of a fleet, known by its VIN ([`vin`]). Its id is
//! derived from the tenant's id key, the fleet and the VIN ([`super::keyed`]): a VIN is registered
//! once per fleet (a vehicle sold to another fleet of the same operator is registered there anew),
//! and another tenant cannot compute the id.

pub mod vin;

use chrono::{DateTime, Utc};
use joule_domain::{FleetId, TenantId};
use joule_store::Decider;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{CostCentreId, Name, Status, VehicleId};
pub use vin::Vin;

#[cfg(test)]
mod tests;

/// The id a VIN in a fleet of a tenant always has.
pub fn vehicle_id(tenant: &TenantId, id_key: &str, fleet: FleetId, vin: &Vin) -> VehicleId {
    let key = format!("{fleet}/{vin}");
    VehicleId::derived(&super::keyed(tenant, id_key, "vehicle", &key))
}

/// The largest battery a vehicle is registered with: heavy trucks carry about 1 MWh.
pub const MAX_BATTERY_CAPACITY_KWH: Decimal = Decimal::from_parts(2000, 0, 0, false, 0);

/// A usable battery capacity in kWh: above 0, at most [`MAX_BATTERY_CAPACITY_KWH`], to the Wh
/// (three decimals) at most.
pub fn battery_capacity_kwh(kwh: Decimal) -> Result<Decimal, String> {
    if kwh <= Decimal::ZERO {
        return Err("must be above 0 kWh".into());
    }
    if kwh > MAX_BATTERY_CAPACITY_KWH {
        return Err(format!("must be at most {MAX_BATTERY_CAPACITY_KWH} kWh"));
    }
    if kwh.normalize().scale() > 3 {
        return Err("at most three decimals (Wh)".into());
    }
    Ok(kwh.normalize())
}

#[derive(Debug, Clone, PartialEq)]
pub enum VehicleCommand {
    Register {
        vehicle_id: VehicleId,
        fleet_id: FleetId,
        vin: Vin,
        make: Name,
        model: Name,
        battery_capacity_kwh: Decimal,
        cost_centre_id: Option<CostCentreId>,
        at: DateTime<Utc>,
    },
    /// Changes what is given (`Some(None)` removes the cost centre); `None` keeps the value. The VIN
    /// and the fleet are the vehicle's identity.
    Change {
        make: Option<Name>,
        model: Option<Name>,
        battery_capacity_kwh: Option<Decimal>,
        cost_centre_id: Option<Option<CostCentreId>>,
        status: Option<Status>,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum VehicleEvent {
    VehicleRegistered {
        vehicle_id: VehicleId,
        fleet_id: FleetId,
        vin: Vin,
        make: Name,
        model: Name,
        battery_capacity_kwh: Decimal,
        cost_centre_id: Option<CostCentreId>,
        registered_at: DateTime<Utc>,
    },
    /// The vehicle's values after the change, all of them.
    VehicleChanged {
        vehicle_id: VehicleId,
        fleet_id: FleetId,
        make: Name,
        model: Name,
        battery_capacity_kwh: Decimal,
        cost_centre_id: Option<CostCentreId>,
        status: Status,
        changed_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(VehicleEvent {
    VehicleRegistered => "1.0",
    VehicleChanged => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum VehicleError {
    #[error("a vehicle with VIN {0} is registered in this fleet already")]
    Exists(Vin),
    #[error("no such vehicle")]
    Unknown,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Vehicle(Option<VehicleState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct VehicleState {
    vehicle_id: VehicleId,
    fleet_id: FleetId,
    vin: Vin,
    make: Name,
    model: Name,
    battery_capacity_kwh: Decimal,
    cost_centre_id: Option<CostCentreId>,
    status: Status,
}

impl Decider for Vehicle {
    const TYPE: &'static str = "vehicle";
    type Command = VehicleCommand;
    type Event = VehicleEvent;
    type Error = VehicleError;

    fn decide(&self, command: VehicleCommand) -> Result<Vec<VehicleEvent>, VehicleError> {
        match (command, &self.0) {
            (VehicleCommand::Register { .. }, Some(now)) => {
                Err(VehicleError::Exists(now.vin.clone()))
            }
            (
                VehicleCommand::Register {
                    vehicle_id,
                    fleet_id,
                    vin,
                    make,
                    model,
                    battery_capacity_kwh,
                    cost_centre_id,
                    at,
                },
                None,
            ) => Ok(vec![VehicleEvent::VehicleRegistered {
                vehicle_id,
                fleet_id,
                vin,
                make,
                model,
                battery_capacity_kwh,
                cost_centre_id,
                registered_at: at,
            }]),
            (VehicleCommand::Change { .. }, None) => Err(VehicleError::Unknown),
            (
                VehicleCommand::Change {
                    make,
                    model,
                    battery_capacity_kwh,
                    cost_centre_id,
                    status,
                    at,
                },
                Some(now),
            ) => {
                let next = VehicleState {
                    make: make.unwrap_or_else(|| now.make.clone()),
                    model: model.unwrap_or_else(|| now.model.clone()),
                    battery_capacity_kwh: battery_capacity_kwh.unwrap_or(now.battery_capacity_kwh),
                    cost_centre_id: cost_centre_id.unwrap_or(now.cost_centre_id),
                    status: status.unwrap_or(now.status),
                    ..now.clone()
                };
                if &next == now {
                    return Ok(vec![]);
                }
                Ok(vec![VehicleEvent::VehicleChanged {
                    vehicle_id: next.vehicle_id,
                    fleet_id: next.fleet_id,
                    make: next.make,
                    model: next.model,
                    battery_capacity_kwh: next.battery_capacity_kwh,
                    cost_centre_id: next.cost_centre_id,
                    status: next.status,
                    changed_at: at,
                }])
            }
        }
    }

    fn evolve(&mut self, event: VehicleEvent) {
        match event {
            VehicleEvent::VehicleRegistered {
                vehicle_id,
                fleet_id,
                vin,
                make,
                model,
                battery_capacity_kwh,
                cost_centre_id,
                ..
            } => {
                self.0 = Some(VehicleState {
                    vehicle_id,
                    fleet_id,
                    vin,
                    make,
                    model,
                    battery_capacity_kwh,
                    cost_centre_id,
                    status: Status::Active,
                });
            }
            VehicleEvent::VehicleChanged {
                make,
                model,
                battery_capacity_kwh,
                cost_centre_id,
                status,
                ..
            } => {
                if let Some(state) = &mut self.0 {
                    state.make = make;
                    state.model = model;
                    state.battery_capacity_kwh = battery_capacity_kwh;
                    state.cost_centre_id = cost_centre_id;
                    state.status = status;
                }
            }
        }
    }
}
