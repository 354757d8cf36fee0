//! The gateway's projection of the registry (`gateway.chargers`, `gateway.charger_credentials`,
//! `gateway.tokens`): which charge points may connect (and which charger they are), and which token
//! uids exist (and whose account they bill). Written by the REGISTRY consumer
//! ([`crate::consumers::registry`]); read at every upgrade and authorisation, through this replica's
//! copy ([`crate::projections::cache`]).
//!
//! Charge point ids and token uids are unique within a tenant only (ADR 032): every row, lookup and
//! key here is `(tenant, id)`, so two tenants may register the same charge point id or token uid
//! and never see or replace each other's.

use std::fmt;

use joule_domain::{AccountId, ChargePointId, ChargerId, TenantId, TokenId};
use sqlx::PgPool;

/// A charge point as the gateway keys it: its tenant and its id in that tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChargePointKey {
    pub tenant: TenantId,
    pub charge_point_id: ChargePointId,
}

impl ChargePointKey {
    pub fn new(tenant: TenantId, charge_point_id: ChargePointId) -> Self {
        Self {
            tenant,
            charge_point_id,
        }
    }
}

/// `tenant/charge_point_id`, as in the charger's URL (neither may contain `/`).
impl fmt::Display for ChargePointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.charge_point_id)
    }
}

/// A charger as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCharger {
    pub tenant: TenantId,
    pub charge_point_id: ChargePointId,
    pub charger_id: ChargerId,
}

impl KnownCharger {
    pub fn key(&self) -> ChargePointKey {
        ChargePointKey::new(self.tenant.clone(), self.charge_point_id.clone())
    }
}

/// A token as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownToken {
    pub token_id: TokenId,
    pub account_id: AccountId,
}

/// Looks up a charge point by the tenant and id in its connection URL.
pub async fn find_charger(
    pool: &PgPool,
    key: &ChargePointKey,
) -> Result<Option<KnownCharger>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT charger_id FROM gateway.chargers WHERE tenant_id = $1 AND charge_point_id = $2",
    )
    .bind(key.tenant.as_str())
    .bind(key.charge_point_id.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(charger_id,)| {
        // The projection only stores ids it could parse, so this fails only if the table was edited.
        let charger_id = charger_id.parse().ok()?;
        Some(KnownCharger {
            tenant: key.tenant.clone(),
            charge_point_id: key.charge_point_id.clone(),
            charger_id,
        })
    }))
}

/// Whether any charger of `tenant` is registered (a certificate naming a tenant the gateway
/// knows is that tenant's, [`crate::edge::server`]).
pub async fn tenant_known(pool: &PgPool, tenant: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM gateway.chargers WHERE tenant_id = $1)")
        .bind(tenant)
        .fetch_one(pool)
        .await
}

/// The charger's password hash, if it has one (security profiles 1 and 2).
pub async fn password_hash(
    pool: &PgPool,
    key: &ChargePointKey,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT password_hash FROM gateway.charger_credentials
         WHERE tenant_id = $1 AND charge_point_id = $2 AND password_hash <> ''",
    )
    .bind(key.tenant.as_str())
    .bind(key.charge_point_id.as_str())
    .fetch_optional(pool)
    .await
}

/// Looks up a token of `tenant` by the idTag a charger of that tenant sent. OCPP idTags are
/// case-insensitive (CiString), and RFID readers differ in how they spell hex uids, so the match
/// ignores case; an exact match wins.
pub async fn find_token(
    pool: &PgPool,
    tenant: &TenantId,
    id_tag: &str,
) -> Result<Option<KnownToken>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT token_id, account_id FROM gateway.tokens
         WHERE tenant_id = $1 AND lower(uid) = lower($2)
         ORDER BY (uid = $2) DESC, uid LIMIT 1",
    )
    .bind(tenant.as_str())
    .bind(id_tag)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(token_id, account_id)| {
        Some(KnownToken {
            token_id: token_id.parse().ok()?,
            account_id: account_id.parse().ok()?,
        })
    }))
}

/// Stores a charger's registration; a later one of the same charge point in the same tenant
/// replaces it.
pub async fn store_charger(
    pool: &PgPool,
    charger: &KnownCharger,
    site_id: &str,
    tariff_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gateway.chargers (tenant_id, charge_point_id, charger_id, site_id, tariff_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, charge_point_id) DO UPDATE
         SET charger_id = EXCLUDED.charger_id, site_id = EXCLUDED.site_id, tariff_id = EXCLUDED.tariff_id",
    )
    .bind(charger.tenant.as_str())
    .bind(charger.charge_point_id.as_str())
    .bind(charger.charger_id.to_string())
    .bind(site_id)
    .bind(tariff_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores a charger's password hash (PHC string); an empty one removes the password.
pub async fn store_password_hash(
    pool: &PgPool,
    key: &ChargePointKey,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gateway.charger_credentials (tenant_id, charge_point_id, password_hash)
         VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, charge_point_id) DO UPDATE SET password_hash = EXCLUDED.password_hash",
    )
    .bind(key.tenant.as_str())
    .bind(key.charge_point_id.as_str())
    .bind(password_hash)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores a token under its tenant and uid; a later issue of the same uid in the same tenant
/// replaces it.
pub async fn store_token(
    pool: &PgPool,
    tenant: &TenantId,
    uid: &str,
    token: &KnownToken,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gateway.tokens (tenant_id, uid, token_id, account_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, uid) DO UPDATE
         SET token_id = EXCLUDED.token_id, account_id = EXCLUDED.account_id",
    )
    .bind(tenant.as_str())
    .bind(uid)
    .bind(token.token_id.to_string())
    .bind(token.account_id.to_string())
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives the rows written before charge points were keyed by tenant (migration 005) the
/// deployment's tenant, once: the first start after the migration does it, in one transaction.
pub async fn backfill_tenant(pool: &PgPool, tenant: &TenantId) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let pending = sqlx::query("DELETE FROM gateway.tenant_backfill")
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if pending {
        for table in [
            "chargers",
            "charger_credentials",
            "tokens",
            "presence",
            "connector_status",
            "transactions",
            "frames",
        ] {
            sqlx::query(&format!(
                "UPDATE gateway.{table} SET tenant_id = $1 WHERE tenant_id = ''"
            ))
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(pending)
}
