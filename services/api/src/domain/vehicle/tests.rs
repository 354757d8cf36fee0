use cqrs_es::test::TestFramework;
use joule_store::Decided;
use rust_decimal_macros::dec;

use super::*;
use crate::domain::fixtures::{at, created_once, fleet};

type Given = TestFramework<Decided<Vehicle>>;

fn vin() -> Vin {
    "WVWZZZ1JZXW000001".parse().unwrap()
}

fn id() -> VehicleId {
    vehicle_id(&"acme".parse().unwrap(), "k", fleet(), &vin())
}

fn registered() -> VehicleEvent {
    VehicleEvent::VehicleRegistered {
        vehicle_id: id(),
        fleet_id: fleet(),
        vin: vin(),
        make: "Volkswagen".parse().unwrap(),
        model: "ID. Buzz Cargo".parse().unwrap(),
        battery_capacity_kwh: dec!(77),
        cost_centre_id: None,
        registered_at: at(),
    }
}

#[test]
fn a_vin_is_registered_once_per_fleet() {
    let register = VehicleCommand::Register {
        vehicle_id: id(),
        fleet_id: fleet(),
        vin: vin(),
        make: "Volkswagen".parse().unwrap(),
        model: "ID. Buzz Cargo".parse().unwrap(),
        battery_capacity_kwh: dec!(77),
        cost_centre_id: None,
        at: at(),
    };
    created_once::<Vehicle>(register, registered()).then_expect_error(VehicleError::Exists(vin()));
    let tenant = "acme".parse().unwrap();
    assert_ne!(id(), vehicle_id(&tenant, "k", FleetId::new(), &vin()));
    assert_ne!(id(), vehicle_id(&tenant, "other key", fleet(), &vin()));
}

#[test]
fn a_change_records_every_value() {
    let change = VehicleCommand::Change {
        make: None,
        model: None,
        battery_capacity_kwh: Some(dec!(79.5)),
        cost_centre_id: None,
        status: Some(Status::Archived),
        at: at(),
    };
    Given::with(())
        .given(vec![registered()])
        .when(change)
        .then_expect_events(vec![VehicleEvent::VehicleChanged {
            vehicle_id: id(),
            fleet_id: fleet(),
            make: "Volkswagen".parse().unwrap(),
            model: "ID. Buzz Cargo".parse().unwrap(),
            battery_capacity_kwh: dec!(79.5),
            cost_centre_id: None,
            status: Status::Archived,
            changed_at: at(),
        }]);
}

#[test]
fn battery_capacities_are_positive_bounded_kwh_to_the_wh() {
    assert_eq!(battery_capacity_kwh(dec!(77.000)).unwrap(), dec!(77));
    assert_eq!(battery_capacity_kwh(dec!(0.001)).unwrap(), dec!(0.001));
    assert!(battery_capacity_kwh(dec!(0)).is_err());
    assert!(battery_capacity_kwh(dec!(-1)).is_err());
    assert!(battery_capacity_kwh(dec!(2000.001)).is_err());
    assert!(battery_capacity_kwh(dec!(2000)).is_ok());
    assert!(battery_capacity_kwh(dec!(77.0001)).is_err());
}

#[test]
fn a_stored_registration_reads_as_it_was_written() {
    let stored = serde_json::json!({"VehicleRegistered": {
        "vehicle_id": id().to_string(), "fleet_id": "0f7c2a4e-1b3d-4c5e-8f9a-0b1c2d3e4f5a",
        "vin": "WVWZZZ1JZXW000001", "make": "Volkswagen", "model": "ID. Buzz Cargo",
        "battery_capacity_kwh": "77", "cost_centre_id": null,
        "registered_at": "2023-11-14T22:13:20Z"
    }});
    let event: VehicleEvent = crate::domain::reads_as_stored(stored, "1.0");
    assert_eq!(event, registered());
}
