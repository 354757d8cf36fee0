//! The projection of the REGISTRY that pricing needs: which tariff a charger uses and its site's zone.

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::ChargerId;
use joule_proto::EventName;
use joule_proto::v1::ChargerRegistered;
use sqlx::PgPool;

use crate::SCHEMA;

pub struct RegistryProjection {
    pub pool: PgPool,
}

impl Handler for RegistryProjection {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if message.event_type() != ChargerRegistered::NAME {
                return Ok(());
            }
            let m: ChargerRegistered = message
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            let charger_id: ChargerId = m.charger_id.parse().map_err(|e| {
                HandlerError::Rejected(format!("ChargerRegistered.charger_id: {e}"))
            })?;
            // A re-registration (new tariff, site moved) replaces what was known; replaying is harmless.
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.chargers (charger_id, tariff_id, time_zone, site_id, updated_at)
                 VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (charger_id) DO UPDATE
                 SET tariff_id = EXCLUDED.tariff_id, time_zone = EXCLUDED.time_zone,
                     site_id = EXCLUDED.site_id, updated_at = now()"
            ))
            .bind(charger_id.to_string())
            .bind(&m.tariff_id)
            .bind(&m.time_zone)
            .bind(&m.site_id)
            .execute(&self.pool)
            .await
            .map_err(joule_store::consumer_error)?;
            tracing::info!(%charger_id, tariff_id = %m.tariff_id, time_zone = %m.time_zone, "charger tariff recorded");
            Ok(())
        })
    }
}
