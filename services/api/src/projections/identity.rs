//! The read tables of tenants and API keys (ADR 034), kept by the relay like the registry's. These
//! events stay inside the api: they are published on no stream (a key's digest has no business
//! outside), and each api replica reloads the tables into memory ([`crate::auth::directory`]).

use cqrs_es::Aggregate;
use sqlx::PgConnection;

use crate::SCHEMA;
use crate::domain::api_key::{ApiKey, ApiKeyEvent};
use crate::domain::tenant::{Tenant, TenantEvent};
use joule_store::{ProjectionError, StoredEvent};

/// Whether events of `aggregate_type` are projected here.
pub fn owns(aggregate_type: &str) -> bool {
    aggregate_type == Tenant::TYPE || aggregate_type == ApiKey::TYPE
}

pub async fn project(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    if event.aggregate_type == Tenant::TYPE {
        let decoded: TenantEvent = event
            .decode()
            .map_err(|e| ProjectionError::decode(event, e))?;
        let TenantEvent::TenantCreated {
            tenant_id,
            name,
            id_key,
            created_at,
        } = decoded;
        sqlx::query(&format!(
            "INSERT INTO {SCHEMA}.tenants (id, name, id_key, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING"
        ))
        .bind(tenant_id.to_string())
        .bind(name.to_string())
        .bind(id_key)
        .bind(created_at)
        .execute(conn)
        .await?;
        return Ok(());
    }
    let decoded: ApiKeyEvent = event
        .decode()
        .map_err(|e| ProjectionError::decode(event, e))?;
    let seq = format!("nextval('{SCHEMA}.identity_seq')");
    match decoded {
        ApiKeyEvent::ApiKeyCreated {
            key_id,
            tenant_id,
            name,
            roles,
            fleets,
            driver,
            digest,
            expires_at,
            created_by,
            created_at,
        } => {
            let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
            let fleets: Vec<uuid::Uuid> = fleets.iter().map(|f| f.as_uuid()).collect();
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.api_keys
                     (key_id, tenant_id, name, roles, fleets, driver_id, digest, expires_at,
                      created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (key_id) DO NOTHING"
            ))
            .bind(key_id)
            .bind(tenant_id.to_string())
            .bind(name.to_string())
            .bind(roles)
            .bind(fleets)
            .bind(driver.map(|d| d.as_uuid()))
            .bind(digest)
            .bind(expires_at)
            .bind(created_by)
            .bind(created_at)
            .execute(conn)
            .await?;
        }
        ApiKeyEvent::ApiKeyRotated {
            key_id,
            digest,
            previous_valid_until,
            rotated_at,
        } => {
            sqlx::query(&format!(
                "UPDATE {SCHEMA}.api_keys SET previous_digest = digest, digest = $2,
                     previous_valid_until = $3, rotated_at = $4, seq = {seq}
                 WHERE key_id = $1 AND digest <> $2"
            ))
            .bind(key_id)
            .bind(digest)
            .bind(previous_valid_until)
            .bind(rotated_at)
            .execute(conn)
            .await?;
        }
        ApiKeyEvent::ApiKeyRevoked { key_id, revoked_at } => {
            sqlx::query(&format!(
                "UPDATE {SCHEMA}.api_keys SET revoked_at = $2, seq = {seq}
                 WHERE key_id = $1 AND revoked_at IS NULL"
            ))
            .bind(key_id)
            .bind(revoked_at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}
