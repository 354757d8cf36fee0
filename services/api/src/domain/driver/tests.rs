use cqrs_es::test::TestFramework;
use joule_store::Decided;

use super::*;
use crate::domain::fixtures::{at, created_once, fleet};

type Given = TestFramework<Decided<Driver>>;

fn driver() -> DriverId {
    "3b9d6c1e-2f4a-4b5c-9d6e-7f8a9b0c1d2e".parse().unwrap()
}

fn registered() -> DriverEvent {
    DriverEvent::DriverRegistered {
        driver_id: driver(),
        fleet_id: fleet(),
        name: "Ana Silva".parse().unwrap(),
        email: Some("ana@example.com".parse().unwrap()),
        cost_centre_id: None,
        registered_at: at(),
    }
}

#[test]
fn a_driver_is_registered_once() {
    let register = DriverCommand::Register {
        driver_id: driver(),
        fleet_id: fleet(),
        name: "Ana Silva".parse().unwrap(),
        email: Some("ana@example.com".parse().unwrap()),
        cost_centre_id: None,
        at: at(),
    };
    created_once::<Driver>(register, registered()).then_expect_error(DriverError::Exists(driver()));
}

#[test]
fn a_change_can_remove_the_email_and_keeps_what_it_does_not_name() {
    let cost_centre = CostCentreId::new();
    let change = DriverCommand::Change {
        name: None,
        email: Some(None),
        cost_centre_id: Some(Some(cost_centre)),
        status: None,
        at: at(),
    };
    let changed = DriverEvent::DriverChanged {
        driver_id: driver(),
        fleet_id: fleet(),
        name: "Ana Silva".parse().unwrap(),
        email: None,
        cost_centre_id: Some(cost_centre),
        status: Status::Active,
        changed_at: at(),
    };
    Given::with(())
        .given(vec![registered()])
        .when(change.clone())
        .then_expect_events(vec![changed.clone()]);
    Given::with(())
        .given(vec![registered(), changed])
        .when(change)
        .then_expect_events(vec![]);
}

#[test]
fn a_stored_registration_reads_as_it_was_written() {
    let stored = serde_json::json!({"DriverRegistered": {
        "driver_id": "3b9d6c1e-2f4a-4b5c-9d6e-7f8a9b0c1d2e",
        "fleet_id": "0f7c2a4e-1b3d-4c5e-8f9a-0b1c2d3e4f5a",
        "name": "Ana Silva", "email": "ana@example.com", "cost_centre_id": null,
        "registered_at": "2023-11-14T22:13:20Z"
    }});
    let event: DriverEvent = crate::domain::reads_as_stored(stored, "1.0");
    assert_eq!(event, registered());
}
