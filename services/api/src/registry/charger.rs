//! The Charger aggregate: a charge point at a site, priced with one tariff. Its id is derived from the
//! tenant and the charge point id, so a charge point can be registered only once per tenant.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use joule_domain::{ChargePointId, ChargerId, SiteId, TariffId, TenantId};
use serde::{Deserialize, Serialize};

/// The id a charge point of a tenant always has.
pub fn charger_id(tenant: &TenantId, charge_point_id: &ChargePointId) -> ChargerId {
    ChargerId::derived(&format!("{tenant}/{charge_point_id}"))
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChargerCommand {
    Register {
        charger_id: ChargerId,
        charge_point_id: ChargePointId,
        site_id: SiteId,
        tariff_id: TariffId,
        /// The site's time zone, looked up by the caller: events carry it so consumers need no lookup.
        time_zone: String,
        at: DateTime<Utc>,
    },
    /// Sets (or, with an empty hash, removes) the charger's OCPP password. Only a hash ever
    /// reaches the aggregate: the route hashes the password it received.
    SetPassword {
        password_hash: String,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChargerEvent {
    ChargerRegistered {
        charger_id: ChargerId,
        charge_point_id: ChargePointId,
        site_id: SiteId,
        tariff_id: TariffId,
        time_zone: String,
        registered_at: DateTime<Utc>,
    },
    ChargerCredentialsSet {
        charger_id: ChargerId,
        charge_point_id: ChargePointId,
        /// PHC string; empty when the password was removed.
        password_hash: String,
        set_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(ChargerEvent {
    ChargerRegistered => "1.0",
    ChargerCredentialsSet => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ChargerError {
    #[error("charge point {0} is already registered")]
    AlreadyRegistered(ChargePointId),
    #[error("the charger is not registered")]
    NotRegistered,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Charger {
    charge_point_id: Option<ChargePointId>,
    #[serde(default)]
    charger_id: Option<ChargerId>,
}

impl Aggregate for Charger {
    const TYPE: &'static str = "charger";
    type Command = ChargerCommand;
    type Event = ChargerEvent;
    type Error = ChargerError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ChargerCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ChargerError> {
        match command {
            ChargerCommand::Register {
                charger_id,
                charge_point_id,
                site_id,
                tariff_id,
                time_zone,
                at,
            } => {
                if let Some(existing) = &self.charge_point_id {
                    return Err(ChargerError::AlreadyRegistered(existing.clone()));
                }
                let event = ChargerEvent::ChargerRegistered {
                    charger_id,
                    charge_point_id,
                    site_id,
                    tariff_id,
                    time_zone,
                    registered_at: at,
                };
                sink.write(event, self).await;
            }
            ChargerCommand::SetPassword { password_hash, at } => {
                let (Some(charger_id), Some(charge_point_id)) =
                    (self.charger_id, self.charge_point_id.clone())
                else {
                    return Err(ChargerError::NotRegistered);
                };
                let event = ChargerEvent::ChargerCredentialsSet {
                    charger_id,
                    charge_point_id,
                    password_hash,
                    set_at: at,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: ChargerEvent) {
        match event {
            ChargerEvent::ChargerRegistered {
                charge_point_id,
                charger_id,
                ..
            } => {
                self.charge_point_id = Some(charge_point_id);
                self.charger_id = Some(charger_id);
            }
            ChargerEvent::ChargerCredentialsSet { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
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
            charger_id(&TenantId::default_tenant(), &self.cp)
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
            charger_id(&TenantId::default_tenant(), &cp),
            charger_id(&TenantId::default_tenant(), &cp)
        );
        assert_ne!(
            charger_id(&TenantId::default_tenant(), &cp),
            charger_id(&other, &cp)
        );
    }
}
