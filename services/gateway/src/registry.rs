//! The gateway's projection of the registry: which charge points may connect (and which charger they
//! are), and which token uids exist (and whose account they bill). Fed by REGISTRY events; read at
//! every upgrade and authorisation, through this replica's copy ([`crate::cache`]). Upserts make
//! replays harmless; the latest registration wins.

use std::sync::Arc;

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{AccountId, ChargePointId, ChargerId, TokenId};
use joule_proto::EventName;
use joule_proto::v1::{ChargerCredentialsSet, ChargerRegistered, TokenIssued};
use sqlx::PgPool;

use crate::cache::RegistryCache;

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

/// The REGISTRY consumer that keeps the projection (and this replica's copy of it).
pub struct RegistryProjection {
    pool: PgPool,
    cache: Arc<RegistryCache>,
}

impl RegistryProjection {
    pub fn new(pool: PgPool, cache: Arc<RegistryCache>) -> Self {
        Self { pool, cache }
    }

    async fn charger_registered(&self, event: ChargerRegistered) -> Result<(), HandlerError> {
        let charge_point_id: ChargePointId = event.charge_point_id.parse().map_err(rejected)?;
        let charger_id: ChargerId = event.charger_id.parse().map_err(rejected)?;
        sqlx::query(
            "INSERT INTO gateway.chargers (charge_point_id, charger_id, site_id, tariff_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (charge_point_id) DO UPDATE
             SET charger_id = EXCLUDED.charger_id, site_id = EXCLUDED.site_id, tariff_id = EXCLUDED.tariff_id",
        )
        .bind(charge_point_id.as_str())
        .bind(charger_id.to_string())
        .bind(&event.site_id)
        .bind(&event.tariff_id)
        .execute(&self.pool)
        .await
        .map_err(transient)?;
        tracing::info!(%charge_point_id, %charger_id, "charger known to the gateway");
        self.cache.put_charger(KnownCharger {
            charge_point_id,
            charger_id,
        });
        Ok(())
    }

    /// Only a hash ever arrives here; an empty one removes the password.
    async fn credentials_set(&self, event: ChargerCredentialsSet) -> Result<(), HandlerError> {
        let charge_point_id: ChargePointId = event.charge_point_id.parse().map_err(rejected)?;
        if !event.password_hash.is_empty() && !event.password_hash.starts_with('$') {
            return Err(HandlerError::Rejected(
                "ChargerCredentialsSet.password_hash is not a PHC hash".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO gateway.charger_credentials (charge_point_id, password_hash) VALUES ($1, $2)
             ON CONFLICT (charge_point_id) DO UPDATE SET password_hash = EXCLUDED.password_hash",
        )
        .bind(charge_point_id.as_str())
        .bind(&event.password_hash)
        .execute(&self.pool)
        .await
        .map_err(transient)?;
        tracing::info!(%charge_point_id, password = !event.password_hash.is_empty(), "charger credentials known to the gateway");
        Ok(())
    }

    async fn token_issued(&self, event: TokenIssued) -> Result<(), HandlerError> {
        if event.uid.is_empty() {
            return Err(HandlerError::Rejected("TokenIssued.uid is empty".into()));
        }
        let token_id: TokenId = event.token_id.parse().map_err(rejected)?;
        let account_id: AccountId = event.account_id.parse().map_err(rejected)?;
        sqlx::query(
            "INSERT INTO gateway.tokens (uid, token_id, account_id) VALUES ($1, $2, $3)
             ON CONFLICT (uid) DO UPDATE SET token_id = EXCLUDED.token_id, account_id = EXCLUDED.account_id",
        )
        .bind(&event.uid)
        .bind(token_id.to_string())
        .bind(account_id.to_string())
        .execute(&self.pool)
        .await
        .map_err(transient)?;
        self.cache.token_changed(&event.uid);
        Ok(())
    }
}

impl Handler for RegistryProjection {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            match message.event_type() {
                ChargerRegistered::NAME => {
                    self.charger_registered(message.decode().map_err(rejected)?)
                        .await
                }
                TokenIssued::NAME => self.token_issued(message.decode().map_err(rejected)?).await,
                ChargerCredentialsSet::NAME => {
                    self.credentials_set(message.decode().map_err(rejected)?)
                        .await
                }
                // Sites and accounts: the gateway needs nothing from them.
                _ => Ok(()),
            }
        })
    }
}

fn rejected(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Rejected(e.to_string())
}

fn transient(e: sqlx::Error) -> HandlerError {
    joule_store::consumer_error(e)
}
