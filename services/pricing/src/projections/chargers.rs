//! The `chargers` read table: pricing's projection of the REGISTRY (which tariff a charger uses, in
//! which site and time zone), kept by the `pricing-registry` consumer.

use joule_domain::ChargerId;
use sqlx::{PgPool, Row};

use super::ReadError;
use crate::SCHEMA;

/// What pricing knows of a charger from the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargerTariff {
    /// Empty when the charger was registered without a tariff.
    pub tariff_id: String,
    pub time_zone: String,
    pub site_id: String,
}

/// Records a charger's registration; a re-registration (new tariff, site moved) replaces what was
/// known, and replaying one is harmless.
pub async fn record(
    pool: &PgPool,
    charger_id: ChargerId,
    charger: &ChargerTariff,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.chargers (charger_id, tariff_id, time_zone, site_id, updated_at)
         VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (charger_id) DO UPDATE
         SET tariff_id = EXCLUDED.tariff_id, time_zone = EXCLUDED.time_zone,
             site_id = EXCLUDED.site_id, updated_at = now()"
    ))
    .bind(charger_id.to_string())
    .bind(&charger.tariff_id)
    .bind(&charger.time_zone)
    .bind(&charger.site_id)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn charger(pool: &PgPool, charger_id: &str) -> Result<Option<ChargerTariff>, ReadError> {
    let row = sqlx::query(&format!(
        "SELECT tariff_id, time_zone, site_id FROM {SCHEMA}.chargers WHERE charger_id = $1"
    ))
    .bind(charger_id)
    .fetch_optional(pool)
    .await?;
    Ok(row
        .map(|r| {
            Ok::<_, sqlx::Error>(ChargerTariff {
                tariff_id: r.try_get("tariff_id")?,
                time_zone: r.try_get("time_zone")?,
                site_id: r.try_get("site_id")?,
            })
        })
        .transpose()?)
}
