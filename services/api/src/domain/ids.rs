//! The typed ids of the fleet records this service owns live in `joule_domain` since sessions record
//! them at a session's start (issue 13); re-exported here where the api's domain names them.

pub use joule_domain::{CostCentreId, DriverId, VehicleId};
