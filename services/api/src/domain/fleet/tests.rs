use cqrs_es::test::TestFramework;
use joule_store::Decided;

use super::*;
use crate::domain::fixtures::{account, at, created_once, fleet};

type Given = TestFramework<Decided<Fleet>>;

fn ids() -> (FleetId, AccountId) {
    (fleet(), account())
}

fn created() -> FleetEvent {
    let (fleet_id, account_id) = ids();
    FleetEvent::FleetCreated {
        fleet_id,
        account_id,
        name: "Vans".parse().unwrap(),
        created_at: at(),
    }
}

#[test]
fn a_fleet_is_created_once() {
    let (fleet_id, account_id) = ids();
    let create = FleetCommand::Create {
        fleet_id,
        account_id,
        name: "Vans".parse().unwrap(),
        at: at(),
    };
    created_once::<Fleet>(create, created()).then_expect_error(FleetError::Exists(fleet_id));
}

#[test]
fn a_change_records_every_value_and_a_repeated_one_nothing() {
    let (fleet_id, _) = ids();
    let archive = FleetCommand::Change {
        name: None,
        status: Some(Status::Archived),
        at: at(),
    };
    let archived = FleetEvent::FleetChanged {
        fleet_id,
        name: "Vans".parse().unwrap(),
        status: Status::Archived,
        changed_at: at(),
    };
    Given::with(())
        .given(vec![created()])
        .when(archive.clone())
        .then_expect_events(vec![archived.clone()]);
    Given::with(())
        .given(vec![created(), archived])
        .when(archive.clone())
        .then_expect_events(vec![]);
    Given::with(())
        .given_no_previous_events()
        .when(archive)
        .then_expect_error(FleetError::Unknown);
}

#[test]
fn a_stored_creation_reads_as_it_was_written() {
    let stored = serde_json::json!({"FleetCreated": {
        "fleet_id": "0f7c2a4e-1b3d-4c5e-8f9a-0b1c2d3e4f5a",
        "account_id": "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "name": "Vans", "created_at": "2023-11-14T22:13:20Z"
    }});
    let event: FleetEvent = crate::domain::reads_as_stored(stored, "1.0");
    assert_eq!(event, created());
}
