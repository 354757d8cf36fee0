//! The typed ids of the fleet records this service owns. Fleets' [`joule_domain::FleetId`] is shared
//! (API keys name fleets); these travel only in the api's events and the token assignments it
//! publishes, so they live here until another service needs them.

joule_domain::uuid_id!(
    /// A driver of a fleet.
    DriverId,
    "driver"
);
joule_domain::uuid_id!(
    /// A vehicle of a fleet.
    VehicleId,
    "vehicle"
);
joule_domain::uuid_id!(
    /// A cost centre of an account: what drivers and vehicles are charged to.
    CostCentreId,
    "cost_centre"
);
