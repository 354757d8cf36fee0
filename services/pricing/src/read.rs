//! Reads of pricing's own tables: tariffs and the charger → tariff projection.

use sqlx::{PgPool, Row};

use crate::SCHEMA;
use crate::tariff::TariffEvent;

/// A tariff as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTariff {
    pub id: String,
    pub tenant_id: String,
    pub currency: String,
    /// The OCPI JSON, serialised once when the tariff was created.
    pub ocpi_json: String,
}

/// The tariff with Joule id `id`: from the read table, or, while the relay has not projected it yet,
/// from its creation event, so that a tariff is readable as soon as `CreateTariff` returned.
pub async fn tariff(pool: &PgPool, id: &str) -> Result<Option<StoredTariff>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT tenant_id, currency, ocpi_json FROM {SCHEMA}.tariffs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = row {
        return Ok(Some(StoredTariff {
            id: id.to_owned(),
            tenant_id: row.try_get("tenant_id")?,
            currency: row.try_get("currency")?,
            ocpi_json: row.try_get("ocpi_json")?,
        }));
    }
    let row = sqlx::query(&format!(
        "SELECT payload, metadata->>'tenant_id' AS tenant_id FROM {SCHEMA}.events
         WHERE aggregate_type = 'Tariff' AND aggregate_id = $1 ORDER BY sequence LIMIT 1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let payload: serde_json::Value = row.try_get("payload")?;
    let TariffEvent::TariffCreated {
        tariff, currency, ..
    } = serde_json::from_value(payload).map_err(|e| sqlx::Error::Decode(e.into()))?;
    Ok(Some(StoredTariff {
        id: id.to_owned(),
        tenant_id: row
            .try_get::<Option<String>, _>("tenant_id")?
            .unwrap_or_default(),
        currency,
        ocpi_json: tariff.to_string(),
    }))
}

/// What pricing knows of a charger from the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargerTariff {
    /// Empty when the charger was registered without a tariff.
    pub tariff_id: String,
    pub time_zone: String,
}

pub async fn charger(
    pool: &PgPool,
    charger_id: &str,
) -> Result<Option<ChargerTariff>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT tariff_id, time_zone FROM {SCHEMA}.chargers WHERE charger_id = $1"
    ))
    .bind(charger_id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(ChargerTariff {
            tariff_id: r.try_get("tariff_id")?,
            time_zone: r.try_get("time_zone")?,
        })
    })
    .transpose()
}

/// Whether the session already has a pricing outcome (priced or failed).
pub async fn session_settled(pool: &PgPool, session_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {SCHEMA}.events WHERE aggregate_type = 'PricedSession' AND aggregate_id = $1)"
    ))
    .bind(session_id)
    .fetch_one(pool)
    .await
}
