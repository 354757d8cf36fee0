//! The gateway's projection of the registry (`gateway.chargers`, `gateway.charger_credentials`,
//! `gateway.tokens`): which charge points may connect (and which charger they are), and which token
//! uids exist (and whose account they bill). Written by the REGISTRY consumer
//! ([`crate::consumers::registry`]); read at every upgrade and authorisation, through this replica's
//! copy ([`crate::projections::cache`]).

use joule_domain::{AccountId, ChargePointId, ChargerId, TokenId};
use sqlx::PgPool;

/// A charger as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCharger {
    pub charge_point_id: ChargePointId,
    pub charger_id: ChargerId,
}

/// A token as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownToken {
    pub token_id: TokenId,
    pub account_id: AccountId,
}

/// Looks up a charge point by the id in its connection URL.
pub async fn find_charger(
    pool: &PgPool,
    charge_point_id: &ChargePointId,
) -> Result<Option<KnownCharger>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT charger_id FROM gateway.chargers WHERE charge_point_id = $1")
            .bind(charge_point_id.as_str())
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(charger_id,)| {
        // The projection only stores ids it could parse, so this fails only if the table was edited.
        let charger_id = charger_id.parse().ok()?;
        Some(KnownCharger {
            charge_point_id: charge_point_id.clone(),
            charger_id,
        })
    }))
}

/// The charger's password hash, if it has one (security profiles 1 and 2).
pub async fn password_hash(
    pool: &PgPool,
    charge_point_id: &ChargePointId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT password_hash FROM gateway.charger_credentials WHERE charge_point_id = $1 AND password_hash <> ''",
    )
    .bind(charge_point_id.as_str())
    .fetch_optional(pool)
    .await
}

/// Looks up a token by the idTag a charger sent. OCPP idTags are case-insensitive (CiString), and
/// RFID readers differ in how they spell hex uids, so the match ignores case; an exact match wins.
pub async fn find_token(pool: &PgPool, id_tag: &str) -> Result<Option<KnownToken>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT token_id, account_id FROM gateway.tokens WHERE lower(uid) = lower($1)
         ORDER BY (uid = $1) DESC, uid LIMIT 1",
    )
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

/// Stores a charger's registration; a later one of the same charge point replaces it.
pub async fn store_charger(
    pool: &PgPool,
    charger: &KnownCharger,
    site_id: &str,
    tariff_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gateway.chargers (charge_point_id, charger_id, site_id, tariff_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (charge_point_id) DO UPDATE
         SET charger_id = EXCLUDED.charger_id, site_id = EXCLUDED.site_id, tariff_id = EXCLUDED.tariff_id",
    )
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
    charge_point_id: &ChargePointId,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gateway.charger_credentials (charge_point_id, password_hash) VALUES ($1, $2)
         ON CONFLICT (charge_point_id) DO UPDATE SET password_hash = EXCLUDED.password_hash",
    )
    .bind(charge_point_id.as_str())
    .bind(password_hash)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores a token under its uid; a later issue of the same uid replaces it.
pub async fn store_token(pool: &PgPool, uid: &str, token: &KnownToken) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gateway.tokens (uid, token_id, account_id) VALUES ($1, $2, $3)
         ON CONFLICT (uid) DO UPDATE SET token_id = EXCLUDED.token_id, account_id = EXCLUDED.account_id",
    )
    .bind(uid)
    .bind(token.token_id.to_string())
    .bind(token.account_id.to_string())
    .execute(pool)
    .await?;
    Ok(())
}
