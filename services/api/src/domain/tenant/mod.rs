//! The Tenant aggregate: an operator served by this deployment (ADR 034). Created once by the
//! platform administrator, under an id it chooses; its `id_key` is a random secret that keys the
//! derivation of the ids of its records, so another tenant cannot compute them.

use chrono::{DateTime, Utc};
use joule_domain::TenantId;
use serde::{Deserialize, Serialize};

use super::{Name, Record, Registration};

#[cfg(test)]
mod tests;

pub type Tenant = Registration<TenantRecord>;

#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    Create {
        tenant_id: TenantId,
        name: Name,
        /// 32 random bytes, hex.
        id_key: String,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TenantEvent {
    TenantCreated {
        tenant_id: TenantId,
        name: Name,
        id_key: String,
        created_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(TenantEvent {
    TenantCreated => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant {0} exists already")]
    Exists(TenantId),
}

pub struct TenantRecord;

impl Record for TenantRecord {
    const TYPE: &'static str = "tenant";
    type Command = TenantCommand;
    type Event = TenantEvent;
    type Error = TenantError;
    type Key = TenantId;

    fn created(command: TenantCommand) -> TenantEvent {
        let TenantCommand::Create {
            tenant_id,
            name,
            id_key,
            at,
        } = command;
        TenantEvent::TenantCreated {
            tenant_id,
            name,
            id_key,
            created_at: at,
        }
    }

    fn key(event: &TenantEvent) -> TenantId {
        let TenantEvent::TenantCreated { tenant_id, .. } = event;
        tenant_id.clone()
    }

    fn exists(tenant_id: TenantId) -> TenantError {
        TenantError::Exists(tenant_id)
    }
}

/// Whether `raw` may name a new tenant: 2 to 40 of `[a-z0-9-]`, starting with a letter or digit, as
/// it appears in charger URLs (`/ocpp/{tenant}/{charge_point_id}`, ADR 032).
pub fn new_tenant_id(raw: &str) -> Result<TenantId, String> {
    let ok = (2..=40).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !raw.starts_with('-')
        // The platform's own rate-limit bucket and audit subject.
        && raw != "platform";
    if !ok {
        return Err(format!(
            "{raw:?} is not a tenant id: 2 to 40 characters of a-z, 0-9 and '-', not starting with '-'"
        ));
    }
    raw.parse::<TenantId>().map_err(|e| e.to_string())
}
