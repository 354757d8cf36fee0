//! The ApiKey aggregate: a credential of a tenant (ADR 034). Created with its roles and an optional
//! expiry; rotated (a new secret, the old one still valid until the overlap ends); revoked. Only
//! digests of secrets are recorded, never a secret. `ApiKeyCreated` is version 1.1 (1.0 had no
//! `driver`; [`UPCASTERS`]).

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use joule_domain::{DriverId, FleetId, TenantId};
use joule_store::Upcaster;
use serde::{Deserialize, Serialize};

use super::Name;
use crate::access::Role;

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq)]
pub enum ApiKeyCommand {
    Create {
        key_id: String,
        tenant_id: TenantId,
        name: Name,
        roles: Vec<Role>,
        /// The fleets a `fleet_manager` key is limited to (empty for other roles).
        fleets: Vec<FleetId>,
        /// The driver a `driver` key acts for (ADR 038; `None` for other roles).
        driver: Option<DriverId>,
        /// SHA-256 of the whole key, hex.
        digest: String,
        expires_at: Option<DateTime<Utc>>,
        /// Who created it: a key id, an OAuth client, `admin-token` or `platform`.
        created_by: String,
        at: DateTime<Utc>,
    },
    Rotate {
        digest: String,
        /// Until when the secret being replaced stays valid.
        previous_valid_until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    Revoke {
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApiKeyEvent {
    ApiKeyCreated {
        key_id: String,
        tenant_id: TenantId,
        name: Name,
        roles: Vec<Role>,
        fleets: Vec<FleetId>,
        driver: Option<DriverId>,
        digest: String,
        expires_at: Option<DateTime<Utc>>,
        created_by: String,
        created_at: DateTime<Utc>,
    },
    ApiKeyRotated {
        key_id: String,
        digest: String,
        previous_valid_until: DateTime<Utc>,
        rotated_at: DateTime<Utc>,
    },
    ApiKeyRevoked {
        key_id: String,
        revoked_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(ApiKeyEvent {
    ApiKeyCreated => "1.1", // gained `driver`: see UPCASTERS
    ApiKeyRotated => "1.0",
    ApiKeyRevoked => "1.0",
});

/// 1.0 → 1.1: a key created before drivers had keys acts for no driver.
pub const UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "ApiKeyCreated",
    version: "1.1",
    upcast: |mut payload| {
        if let Some(created) = payload
            .get_mut("ApiKeyCreated")
            .and_then(|e| e.as_object_mut())
        {
            created.entry("driver").or_insert(serde_json::Value::Null);
        }
        payload
    },
}];

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("API key {0} exists already")]
    Exists(String),
    #[error("no API key with this id")]
    Unknown,
    #[error("API key {0} is revoked")]
    Revoked(String),
    #[error("API key {0} has expired")]
    Expired(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ApiKey {
    key_id: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
}

impl Aggregate for ApiKey {
    const TYPE: &'static str = "api_key";
    type Command = ApiKeyCommand;
    type Event = ApiKeyEvent;
    type Error = ApiKeyError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ApiKeyCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ApiKeyError> {
        let event = self.decide(command)?;
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ApiKeyEvent) {
        match event {
            ApiKeyEvent::ApiKeyCreated {
                key_id, expires_at, ..
            } => {
                self.key_id = Some(key_id);
                self.expires_at = expires_at;
            }
            ApiKeyEvent::ApiKeyRotated { .. } => {}
            ApiKeyEvent::ApiKeyRevoked { .. } => self.revoked = true,
        }
    }
}

impl ApiKey {
    /// The event a command records, `None` for a revocation already done.
    fn decide(&self, command: ApiKeyCommand) -> Result<Option<ApiKeyEvent>, ApiKeyError> {
        match (command, &self.key_id) {
            (ApiKeyCommand::Create { key_id, .. }, Some(_)) => Err(ApiKeyError::Exists(key_id)),
            (
                ApiKeyCommand::Create {
                    key_id,
                    tenant_id,
                    name,
                    roles,
                    fleets,
                    driver,
                    digest,
                    expires_at,
                    created_by,
                    at,
                },
                None,
            ) => Ok(Some(ApiKeyEvent::ApiKeyCreated {
                key_id,
                tenant_id,
                name,
                roles,
                fleets,
                driver,
                digest,
                expires_at,
                created_by,
                created_at: at,
            })),
            (_, None) => Err(ApiKeyError::Unknown),
            (ApiKeyCommand::Revoke { .. }, Some(_)) if self.revoked => Ok(None),
            (ApiKeyCommand::Revoke { at }, Some(key_id)) => Ok(Some(ApiKeyEvent::ApiKeyRevoked {
                key_id: key_id.clone(),
                revoked_at: at,
            })),
            (ApiKeyCommand::Rotate { .. }, Some(key_id)) if self.revoked => {
                Err(ApiKeyError::Revoked(key_id.clone()))
            }
            (
                ApiKeyCommand::Rotate {
                    digest,
                    previous_valid_until,
                    at,
                },
                Some(key_id),
            ) => {
                if self.expires_at.is_some_and(|e| e <= at) {
                    return Err(ApiKeyError::Expired(key_id.clone()));
                }
                Ok(Some(ApiKeyEvent::ApiKeyRotated {
                    key_id: key_id.clone(),
                    digest,
                    previous_valid_until,
                    rotated_at: at,
                }))
            }
        }
    }
}

impl ApiKeyEvent {
    pub fn key_id(&self) -> &str {
        match self {
            ApiKeyEvent::ApiKeyCreated { key_id, .. }
            | ApiKeyEvent::ApiKeyRotated { key_id, .. }
            | ApiKeyEvent::ApiKeyRevoked { key_id, .. } => key_id,
        }
    }
}
