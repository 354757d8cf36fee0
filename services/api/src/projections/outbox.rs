//! What the outbox relay does with registry events: project them into the read tables and publish
//! them on the REGISTRY stream as `<ns>.registry.<kind>.<id>`.
//!
//! Fleets, cost centres, drivers and vehicles are projected ([`super::fleets`]) but not published:
//! no other service reads them yet, and a message is a contract (their messages come with the first
//! consumer). What reaches the chargers' side is a token's assignment, `registry.assignment.<id>`.

use cqrs_es::Aggregate;
use joule_bus::Outgoing;
use joule_proto::v1;
use joule_store::{BoxFuture, Decider, OutboxHandler, ProjectionError, StoredEvent};
use sqlx::PgConnection;

use crate::SCHEMA;
use crate::domain::account::{Account, AccountEvent};
use crate::domain::charger::{Charger, ChargerEvent};
use crate::domain::cost_centre::{CostCentre, CostCentreEvent};
use crate::domain::driver::{Driver, DriverEvent};
use crate::domain::fleet::{Fleet, FleetEvent};
use crate::domain::site::{Site, SiteEvent};
use crate::domain::token::{Token, TokenEvent};
use crate::domain::vehicle::{Vehicle, VehicleEvent};

/// Any registry event, told apart by the stored aggregate type.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryEvent {
    Site(SiteEvent),
    Charger(ChargerEvent),
    Account(AccountEvent),
    Token(TokenEvent),
    Fleet(FleetEvent),
    CostCentre(CostCentreEvent),
    Driver(DriverEvent),
    Vehicle(VehicleEvent),
}

/// An optional id as proto3 carries it: empty for none.
fn or_empty<T: ToString>(id: &Option<T>) -> String {
    id.as_ref().map(T::to_string).unwrap_or_default()
}

impl RegistryEvent {
    pub fn decode(event: &StoredEvent) -> Result<Self, String> {
        let decoded = match event.aggregate_type.as_str() {
            Site::TYPE => event.decode().map(RegistryEvent::Site),
            Charger::TYPE => event.decode().map(RegistryEvent::Charger),
            Account::TYPE => event.decode().map(RegistryEvent::Account),
            Token::TYPE => event.decode().map(RegistryEvent::Token),
            Fleet::TYPE => event.decode().map(RegistryEvent::Fleet),
            CostCentre::TYPE => event.decode().map(RegistryEvent::CostCentre),
            Driver::TYPE => event.decode().map(RegistryEvent::Driver),
            Vehicle::TYPE => event.decode().map(RegistryEvent::Vehicle),
            other => return Err(format!("unknown aggregate type {other:?}")),
        };
        decoded.map_err(|e| format!("{} {}: {e}", event.aggregate_type, event.event_type))
    }

    /// The integration message, if the event has one: relative subject and the envelope's timestamp
    /// besides the payload.
    pub fn outgoing(&self, event: &StoredEvent) -> Option<Outgoing> {
        let (subject, envelope) = match self {
            RegistryEvent::Site(SiteEvent::SiteRegistered {
                site_id,
                name,
                country,
                time_zone,
                registered_at,
            }) => {
                let message = v1::SiteRegistered {
                    site_id: site_id.to_string(),
                    name: name.to_string(),
                    country: country.as_str().to_owned(),
                    time_zone: time_zone.clone(),
                };
                published(
                    format!("registry.site.{site_id}"),
                    &message,
                    event,
                    *registered_at,
                )
            }
            RegistryEvent::Charger(ChargerEvent::ChargerRegistered {
                charger_id,
                charge_point_id,
                site_id,
                tariff_id,
                time_zone,
                registered_at,
            }) => {
                let message = v1::ChargerRegistered {
                    charger_id: charger_id.to_string(),
                    charge_point_id: charge_point_id.to_string(),
                    site_id: site_id.to_string(),
                    tariff_id: tariff_id.to_string(),
                    time_zone: time_zone.clone(),
                };
                published(
                    format!("registry.charger.{charger_id}"),
                    &message,
                    event,
                    *registered_at,
                )
            }
            // Only the hash travels: the gateway checks chargers' Basic auth against it.
            RegistryEvent::Charger(ChargerEvent::ChargerCredentialsSet {
                charger_id,
                charge_point_id,
                password_hash,
                set_at,
            }) => {
                let message = v1::ChargerCredentialsSet {
                    charger_id: charger_id.to_string(),
                    charge_point_id: charge_point_id.to_string(),
                    password_hash: password_hash.clone(),
                };
                published(
                    format!("registry.credentials.{charger_id}"),
                    &message,
                    event,
                    *set_at,
                )
            }
            RegistryEvent::Account(AccountEvent::AccountOpened {
                account_id,
                name,
                currency,
                opened_at,
            }) => {
                let message = v1::AccountOpened {
                    account_id: account_id.to_string(),
                    name: name.to_string(),
                    currency: currency.to_string(),
                };
                published(
                    format!("registry.account.{account_id}"),
                    &message,
                    event,
                    *opened_at,
                )
            }
            RegistryEvent::Token(TokenEvent::TokenIssued {
                token_id,
                uid,
                account_id,
                issued_at,
            }) => {
                let message = v1::TokenIssued {
                    token_id: token_id.to_string(),
                    uid: uid.to_string(),
                    account_id: account_id.to_string(),
                };
                published(
                    format!("registry.token.{token_id}"),
                    &message,
                    event,
                    *issued_at,
                )
            }
            RegistryEvent::Token(TokenEvent::TokenAssigned {
                token_id,
                account_id,
                fleet_id,
                driver_id,
                vehicle_id,
                cost_centre_id,
                assigned_at,
            }) => {
                let message = v1::TokenAssigned {
                    token_id: token_id.to_string(),
                    account_id: account_id.to_string(),
                    fleet_id: or_empty(fleet_id),
                    driver_id: or_empty(driver_id),
                    vehicle_id: or_empty(vehicle_id),
                    cost_centre_id: or_empty(cost_centre_id),
                };
                published(
                    format!("registry.assignment.{token_id}"),
                    &message,
                    event,
                    *assigned_at,
                )
            }
            RegistryEvent::Fleet(_)
            | RegistryEvent::CostCentre(_)
            | RegistryEvent::Driver(_)
            | RegistryEvent::Vehicle(_) => return None,
        };
        Some(Outgoing {
            subject,
            envelope,
            trace_headers: event.trace_headers(),
        })
    }
}

/// A message with its relative subject and envelope, stamped with the stored event's identity and
/// the time the event happened.
fn published<M: joule_proto::Message + joule_proto::EventName>(
    subject: String,
    message: &M,
    event: &StoredEvent,
    at: chrono::DateTime<chrono::Utc>,
) -> (String, joule_proto::v1::Envelope) {
    (subject, joule_bus::envelope(message, event.meta(0, at)))
}

/// The api's [`OutboxHandler`].
pub struct RegistryRelay;

impl RegistryRelay {
    async fn project_event(
        conn: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let decoded =
            RegistryEvent::decode(event).map_err(|e| ProjectionError::decode(event, e))?;
        let tenant = event.metadata.get("tenant_id").cloned().unwrap_or_default();
        // ON CONFLICT: the relay applies each event once, but a row must never block the outbox.
        match decoded {
            RegistryEvent::Site(SiteEvent::SiteRegistered {
                site_id,
                name,
                country,
                time_zone,
                registered_at,
            }) => {
                sqlx::query(&format!(
                    "INSERT INTO {SCHEMA}.sites (id, tenant_id, name, country, time_zone, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(site_id.as_uuid())
                .bind(tenant)
                .bind(name.to_string())
                .bind(country.as_str().to_owned())
                .bind(time_zone)
                .bind(registered_at)
                .execute(conn)
                .await?;
            }
            RegistryEvent::Charger(ChargerEvent::ChargerRegistered {
                charger_id,
                charge_point_id,
                site_id,
                tariff_id,
                time_zone,
                registered_at,
            }) => {
                sqlx::query(&format!(
                    "INSERT INTO {SCHEMA}.chargers
                         (id, tenant_id, charge_point_id, site_id, tariff_id, time_zone, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(charger_id.as_uuid())
                .bind(tenant)
                .bind(charge_point_id.to_string())
                .bind(site_id.as_uuid())
                .bind(tariff_id.as_uuid())
                .bind(time_zone)
                .bind(registered_at)
                .execute(conn)
                .await?;
            }
            // No read table holds credentials.
            RegistryEvent::Charger(ChargerEvent::ChargerCredentialsSet { .. }) => {}
            RegistryEvent::Account(AccountEvent::AccountOpened {
                account_id,
                name,
                currency,
                opened_at,
            }) => {
                sqlx::query(&format!(
                    "INSERT INTO {SCHEMA}.accounts (id, tenant_id, name, currency, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(account_id.as_uuid())
                .bind(tenant)
                .bind(name.to_string())
                .bind(currency.to_string())
                .bind(opened_at)
                .execute(conn)
                .await?;
            }
            RegistryEvent::Token(TokenEvent::TokenIssued {
                token_id,
                uid,
                account_id,
                issued_at,
            }) => {
                sqlx::query(&format!(
                    "INSERT INTO {SCHEMA}.tokens (id, tenant_id, uid, account_id, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(token_id.as_uuid())
                .bind(tenant)
                .bind(uid.to_string())
                .bind(account_id.as_uuid())
                .bind(issued_at)
                .execute(conn)
                .await?;
            }
            RegistryEvent::Token(TokenEvent::TokenAssigned {
                token_id,
                fleet_id,
                driver_id,
                vehicle_id,
                cost_centre_id,
                assigned_at,
                ..
            }) => {
                sqlx::query(&format!(
                    "UPDATE {SCHEMA}.tokens
                     SET fleet_id = $2, driver_id = $3, vehicle_id = $4, assigned_at = $5,
                         cost_centre_id = $6
                     WHERE id = $1"
                ))
                .bind(token_id.as_uuid())
                .bind(fleet_id.map(|f| f.as_uuid()))
                .bind(driver_id.map(|d| d.as_uuid()))
                .bind(vehicle_id.map(|v| v.as_uuid()))
                .bind(assigned_at)
                .bind(cost_centre_id.map(|c| c.as_uuid()))
                .execute(conn)
                .await?;
            }
            RegistryEvent::Fleet(e) => super::fleets::fleet(conn, tenant, e).await?,
            RegistryEvent::CostCentre(e) => super::fleets::cost_centre(conn, tenant, e).await?,
            RegistryEvent::Driver(e) => super::fleets::driver(conn, tenant, e).await?,
            RegistryEvent::Vehicle(e) => super::fleets::vehicle(conn, tenant, e).await?,
        }
        Ok(())
    }
}

impl OutboxHandler for RegistryRelay {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        if super::identity::owns(&event.aggregate_type) {
            return Box::pin(super::identity::project(conn, event));
        }
        if super::reservations::owns(&event.aggregate_type) {
            return Box::pin(super::reservations::project(conn, event));
        }
        Box::pin(Self::project_event(conn, event))
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        if super::identity::owns(&event.aggregate_type)
            || super::reservations::owns(&event.aggregate_type)
        {
            return Ok(Vec::new());
        }
        let decoded = RegistryEvent::decode(event)?;
        Ok(decoded.outgoing(event).into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::{DateTime, Utc};
    use joule_domain::{ChargePointId, ChargerId, SiteId, TariffId};
    use joule_proto::Message;

    use super::*;

    fn stored<E: serde::Serialize>(
        aggregate_type: &str,
        id: &str,
        event_type: &str,
        payload: &E,
    ) -> StoredEvent {
        StoredEvent {
            schema: "api".into(),
            aggregate_type: aggregate_type.into(),
            aggregate_id: id.into(),
            sequence: 1,
            event_type: event_type.into(),
            event_version: "1.0".into(),
            payload: serde_json::to_value(payload).unwrap(),
            metadata: HashMap::from([("tenant_id".to_owned(), "default".to_owned())]),
            relayed_at: Utc::now(),
        }
    }

    #[test]
    fn charger_registered_is_published_with_the_site_time_zone() {
        let charger_id = ChargerId::new();
        let site_id = SiteId::new();
        let event = ChargerEvent::ChargerRegistered {
            charger_id,
            charge_point_id: "CP-7".parse::<ChargePointId>().unwrap(),
            site_id,
            tariff_id: TariffId::new(),
            time_zone: "Europe/Paris".into(),
            registered_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        };
        let stored = stored(
            "charger",
            &charger_id.to_string(),
            "ChargerRegistered",
            &event,
        );
        let relay = RegistryRelay;
        let out = relay.messages(&stored).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].subject, format!("registry.charger.{charger_id}"));
        assert_eq!(out[0].envelope.event_type, "joule.v1.ChargerRegistered");
        assert_eq!(out[0].envelope.tenant_id, "default");
        let message = v1::ChargerRegistered::decode(out[0].envelope.payload.as_slice()).unwrap();
        assert_eq!(message.time_zone, "Europe/Paris");
        assert_eq!(message.site_id, site_id.to_string());
        assert_eq!(message.charge_point_id, "CP-7");
        // Re-publishing after a crash must carry the same de-duplication id.
        assert_eq!(
            relay.messages(&stored).unwrap()[0].envelope.event_id,
            out[0].envelope.event_id
        );
    }

    #[test]
    fn an_assignment_is_published_apart_from_issues_and_fleet_records_are_not() {
        use crate::domain::{CostCentreId, DriverId, Name};
        use joule_domain::{AccountId, FleetId, TokenId};

        let token_id = TokenId::new();
        let fleet_id = FleetId::new();
        let driver_id = DriverId::new();
        let cost_centre_id = CostCentreId::new();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let event = TokenEvent::TokenAssigned {
            token_id,
            account_id: AccountId::new(),
            fleet_id: Some(fleet_id),
            driver_id: Some(driver_id),
            vehicle_id: None,
            cost_centre_id: Some(cost_centre_id),
            assigned_at: at,
        };
        let assigned = stored("token", &token_id.to_string(), "TokenAssigned", &event);
        let out = RegistryRelay.messages(&assigned).unwrap();
        assert_eq!(out.len(), 1);
        // Not `registry.token.*`: consumers of issues read every message there as TokenIssued.
        assert_eq!(out[0].subject, format!("registry.assignment.{token_id}"));
        assert_eq!(out[0].envelope.event_type, "joule.v1.TokenAssigned");
        let message = v1::TokenAssigned::decode(out[0].envelope.payload.as_slice()).unwrap();
        assert_eq!(message.fleet_id, fleet_id.to_string());
        assert_eq!(message.driver_id, driver_id.to_string());
        assert_eq!(message.vehicle_id, "");
        assert_eq!(message.cost_centre_id, cost_centre_id.to_string());

        let fleet = FleetEvent::FleetCreated {
            fleet_id,
            account_id: AccountId::new(),
            name: "Vans".parse::<Name>().unwrap(),
            created_at: at,
        };
        let created = stored("fleet", &fleet_id.to_string(), "FleetCreated", &fleet);
        assert!(RegistryRelay.messages(&created).unwrap().is_empty());
    }

    #[test]
    fn an_unreadable_event_is_an_error_not_a_silent_skip() {
        let stored = stored(
            "site",
            "x",
            "SiteRegistered",
            &serde_json::json!({"Nope": {}}),
        );
        assert!(RegistryRelay.messages(&stored).is_err());
        let stored = stored_unknown();
        assert!(RegistryRelay.messages(&stored).is_err());
    }

    fn stored_unknown() -> StoredEvent {
        stored("planet", "x", "PlanetFound", &serde_json::json!({}))
    }
}
