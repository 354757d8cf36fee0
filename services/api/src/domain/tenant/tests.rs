use chrono::DateTime;

use super::*;
use crate::domain::registration::{records, refuses};

fn created() -> (TenantCommand, TenantEvent) {
    let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let tenant_id: TenantId = "acme".parse().unwrap();
    let name: Name = "Acme Charging".parse().unwrap();
    (
        TenantCommand::Create {
            tenant_id: tenant_id.clone(),
            name: name.clone(),
            id_key: "00".repeat(32),
            at,
        },
        TenantEvent::TenantCreated {
            tenant_id,
            name,
            id_key: "00".repeat(32),
            created_at: at,
        },
    )
}

#[test]
fn a_tenant_is_created_once() {
    let (command, event) = created();
    records::<TenantRecord>(command.clone(), event.clone());
    refuses::<TenantRecord>(event, command, "tenant acme exists already");
}

#[test]
fn tenant_ids_are_url_slugs() {
    assert!(new_tenant_id("acme-2").is_ok());
    for bad in [
        "a",
        "platform",
        "Acme",
        "acme_2",
        "-acme",
        "acme/x",
        &"a".repeat(41),
    ] {
        assert!(new_tenant_id(bad).is_err(), "{bad}");
    }
}
