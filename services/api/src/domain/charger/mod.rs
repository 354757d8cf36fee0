//! The Charger aggregate: a charge point at a site, priced with one tariff. Its id is derived from the
//! tenant, the tenant's id key and the charge point id ([`super::keyed`]), so a charge point can be
//! registered only once per tenant and another tenant cannot compute the id.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use joule_domain::{ChargePointId, ChargerId, SiteId, TariffId, TenantId};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// The id a charge point of a tenant always has.
pub fn charger_id(tenant: &TenantId, id_key: &str, charge_point_id: &ChargePointId) -> ChargerId {
    ChargerId::derived(&super::keyed(
        tenant,
        id_key,
        "charger",
        charge_point_id.as_str(),
    ))
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
