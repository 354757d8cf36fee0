use cqrs_es::test::TestFramework;

use super::*;

struct Fixture {
    cp: ChargePointId,
    site: SiteId,
    tariff: TariffId,
}

impl Fixture {
    fn new() -> Self {
        Self {
            cp: "CP-1".parse().unwrap(),
            site: SiteId::new(),
            tariff: TariffId::new(),
        }
    }

    fn id(&self) -> ChargerId {
        charger_id(&TenantId::default_tenant(), "", &self.cp)
    }

    fn register(&self, site: SiteId) -> ChargerCommand {
        ChargerCommand::Register {
            charger_id: self.id(),
            charge_point_id: self.cp.clone(),
            site_id: site,
            tariff_id: self.tariff,
            time_zone: "Europe/Berlin".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    fn registered(&self) -> ChargerEvent {
        ChargerEvent::ChargerRegistered {
            charger_id: self.id(),
            charge_point_id: self.cp.clone(),
            site_id: self.site,
            tariff_id: self.tariff,
            time_zone: "Europe/Berlin".into(),
            registered_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }
}

#[test]
fn registers_a_charger_with_its_site_time_zone() {
    let f = Fixture::new();
    TestFramework::<Charger>::with(())
        .given_no_previous_events()
        .when(f.register(f.site))
        .then_expect_events(vec![f.registered()]);
}

#[test]
fn refuses_a_second_registration_of_the_charge_point_even_at_another_site() {
    let f = Fixture::new();
    TestFramework::<Charger>::with(())
        .given(vec![f.registered()])
        .when(f.register(SiteId::new()))
        .then_expect_error_message("charge point CP-1 is already registered");
}

#[test]
fn a_password_hash_is_set_on_a_registered_charger_only() {
    let f = Fixture::new();
    let at = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
    let set = ChargerCommand::SetPassword {
        password_hash: "$pbkdf2-sha256$i=1$AA$AA".into(),
        at,
    };
    TestFramework::<Charger>::with(())
        .given(vec![f.registered()])
        .when(set.clone())
        .then_expect_events(vec![ChargerEvent::ChargerCredentialsSet {
            charger_id: f.id(),
            charge_point_id: f.cp.clone(),
            password_hash: "$pbkdf2-sha256$i=1$AA$AA".into(),
            set_at: at,
        }]);
    TestFramework::<Charger>::with(())
        .given_no_previous_events()
        .when(set)
        .then_expect_error_message("the charger is not registered");
}

#[test]
fn charger_ids_are_per_tenant() {
    let cp: ChargePointId = "CP-1".parse().unwrap();
    let other: TenantId = "other".parse().unwrap();
    assert_eq!(
        charger_id(&TenantId::default_tenant(), "", &cp),
        charger_id(&TenantId::default_tenant(), "", &cp)
    );
    assert_ne!(
        charger_id(&TenantId::default_tenant(), "", &cp),
        charger_id(&other, "", &cp)
    );
    // With an id key the id is not the unkeyed derivation another tenant could compute, and
    // another key gives another id.
    let keyed = charger_id(&other, "k1", &cp);
    assert_ne!(keyed, charger_id(&other, "", &cp));
    assert_ne!(keyed, charger_id(&other, "k2", &cp));
    assert_eq!(keyed, charger_id(&other, "k1", &cp));
}

#[test]
fn stored_events_read_as_they_were_written() {
    let registered = serde_json::json!({"ChargerRegistered": {
        "charger_id": "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "charge_point_id": "CP-1",
        "site_id": "0b6f3a3e-7d7c-4a4e-9f5e-3c1d2b8a9e10",
        "tariff_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "time_zone": "Europe/Berlin",
        "registered_at": "2023-11-14T22:13:20Z"
    }});
    let event: ChargerEvent = crate::domain::reads_as_stored(registered, "1.0");
    let ChargerEvent::ChargerRegistered {
        charge_point_id, ..
    } = event
    else {
        panic!("a registration")
    };
    assert_eq!(charge_point_id.as_str(), "CP-1");
    let credentials = serde_json::json!({"ChargerCredentialsSet": {
        "charger_id": "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "charge_point_id": "CP-1",
        "password_hash": "$pbkdf2-sha256$i=1$AA$AA", "set_at": "2023-11-14T22:15:00Z"
    }});
    let _: ChargerEvent = crate::domain::reads_as_stored(credentials, "1.0");
}
