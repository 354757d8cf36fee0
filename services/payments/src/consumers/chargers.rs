//! `payments-chargers` (REGISTRY, `registry.charger.*`): each charger's registry tariff and time
//! zone, for the quotes that size holds ([`crate::quote`]).

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_proto::v1::ChargerRegistered;
use sqlx::PgPool;

pub struct ChargersHandler {
    pub pool: PgPool,
    pub schema: String,
}

impl Handler for ChargersHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if received.event_type() != "joule.v1.ChargerRegistered" {
                return Ok(());
            }
            let registered: ChargerRegistered = received.payload()?;
            if registered.charger_id.is_empty() {
                return Err(HandlerError::Rejected("charger_id: required".into()));
            }
            sqlx::query(&format!(
                "INSERT INTO {}.chargers (charger_id, tariff_id, time_zone) VALUES ($1, $2, $3)
                 ON CONFLICT (charger_id) DO UPDATE
                 SET tariff_id = EXCLUDED.tariff_id, time_zone = EXCLUDED.time_zone",
                self.schema
            ))
            .bind(&registered.charger_id)
            .bind(&registered.tariff_id)
            .bind(&registered.time_zone)
            .execute(&self.pool)
            .await
            .map_err(joule_store::consumer_error)?;
            Ok(())
        })
    }
}
