//! `pricing-registry`: the REGISTRY's charger registrations (`registry.charger.*`), kept in the
//! [`crate::projections::chargers`] table (which tariff a charger uses, its site and zone).

use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_domain::ChargerId;
use joule_proto::EventName;
use joule_proto::v1::ChargerRegistered;
use sqlx::PgPool;

use crate::projections::chargers::{self, ChargerTariff};

pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Registry,
        durable: "pricing-registry".into(),
        filter: Some("registry.charger.*".into()),
        // A projection: a charger's later change waits for its earlier one, or a replay would
        // regress it.
        on_park: OnPark::HoldAggregate,
    }
}

pub struct RegistryProjection {
    pub pool: PgPool,
}

impl Handler for RegistryProjection {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if message.event_type() != ChargerRegistered::NAME {
                return Ok(());
            }
            let m: ChargerRegistered = message.payload()?;
            let charger_id: ChargerId = m.charger_id.parse().map_err(|e| {
                HandlerError::Rejected(format!("ChargerRegistered.charger_id: {e}"))
            })?;
            let charger = ChargerTariff {
                tariff_id: m.tariff_id,
                time_zone: m.time_zone,
                site_id: m.site_id,
            };
            chargers::record(&self.pool, charger_id, &charger)
                .await
                .map_err(joule_store::consumer_error)?;
            tracing::info!(%charger_id, tariff_id = %charger.tariff_id, time_zone = %charger.time_zone, "charger tariff recorded");
            Ok(())
        })
    }
}
