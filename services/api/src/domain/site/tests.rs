use super::*;
use crate::domain::registration::{records, refuses};

fn register(site_id: SiteId) -> SiteCommand {
    SiteCommand::Register {
        site_id,
        name: "Depot".parse().unwrap(),
        country: "DE".parse().unwrap(),
        time_zone: chrono_tz::Europe::Berlin,
        at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    }
}

fn registered(site_id: SiteId) -> SiteEvent {
    SiteEvent::SiteRegistered {
        site_id,
        name: "Depot".parse().unwrap(),
        country: "DE".parse().unwrap(),
        time_zone: "Europe/Berlin".into(),
        registered_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    }
}

#[test]
fn registers_a_new_site() {
    let id = SiteId::new();
    records::<SiteRecord>(register(id), registered(id));
}

#[test]
fn refuses_to_register_twice() {
    let id = SiteId::new();
    let refusal = format!("site {id} is already registered");
    refuses::<SiteRecord>(registered(id), register(id), &refusal);
}

#[test]
fn a_stored_registration_reads_as_it_was_written() {
    let stored = serde_json::json!({"SiteRegistered": {
        "site_id": "0b6f3a3e-7d7c-4a4e-9f5e-3c1d2b8a9e10", "name": "Depot", "country": "DE",
        "time_zone": "Europe/Berlin", "registered_at": "2023-11-14T22:13:20Z"
    }});
    let event: SiteEvent = crate::domain::reads_as_stored(stored, "1.0");
    assert_eq!(
        SiteRecord::key(&event).to_string(),
        "0b6f3a3e-7d7c-4a4e-9f5e-3c1d2b8a9e10"
    );
}
