//! The REGISTRY consumer (durable `gateway-registry`): keeps the gateway's projection of registered
//! chargers, their password hashes and tokens ([`crate::projections::registry`]) and this replica's
//! copy of it ([`crate::projections::cache`]). Upserts make replays harmless; the latest
//! registration wins. Sites and accounts are acknowledged and skipped.

use std::sync::Arc;

use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_domain::{ChargePointId, ChargerId};
use joule_proto::EventName;
use joule_proto::v1::{ChargerCredentialsSet, ChargerRegistered, TokenIssued};
use sqlx::PgPool;

use super::{rejected, transient};
use crate::projections::cache::RegistryCache;
use crate::projections::registry::{self, KnownCharger, KnownToken};

/// Where the consumer reads, and what happens to a message it cannot process.
pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Registry,
        durable: "gateway-registry".into(),
        filter: None,
        // A projection: a record's later change waits for its earlier one, or a replay would regress it.
        on_park: OnPark::HoldAggregate,
    }
}

/// The consumer that keeps the projection (and this replica's copy of it).
pub struct RegistryProjection {
    pool: PgPool,
    cache: Arc<RegistryCache>,
}

impl RegistryProjection {
    pub fn new(pool: PgPool, cache: Arc<RegistryCache>) -> Self {
        Self { pool, cache }
    }

    async fn charger_registered(&self, event: ChargerRegistered) -> Result<(), HandlerError> {
        let charger = KnownCharger {
            charge_point_id: event.charge_point_id.parse().map_err(rejected)?,
            charger_id: event.charger_id.parse::<ChargerId>().map_err(rejected)?,
        };
        registry::store_charger(&self.pool, &charger, &event.site_id, &event.tariff_id)
            .await
            .map_err(transient)?;
        tracing::info!(charge_point_id = %charger.charge_point_id, charger_id = %charger.charger_id, "charger known to the gateway");
        self.cache.put_charger(charger);
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
        registry::store_password_hash(&self.pool, &charge_point_id, &event.password_hash)
            .await
            .map_err(transient)?;
        tracing::info!(%charge_point_id, password = !event.password_hash.is_empty(), "charger credentials known to the gateway");
        Ok(())
    }

    async fn token_issued(&self, event: TokenIssued) -> Result<(), HandlerError> {
        if event.uid.is_empty() {
            return Err(HandlerError::Rejected("TokenIssued.uid is empty".into()));
        }
        let token = KnownToken {
            token_id: event.token_id.parse().map_err(rejected)?,
            account_id: event.account_id.parse().map_err(rejected)?,
        };
        registry::store_token(&self.pool, &event.uid, &token)
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
                ChargerRegistered::NAME => self.charger_registered(message.payload()?).await,
                TokenIssued::NAME => self.token_issued(message.payload()?).await,
                ChargerCredentialsSet::NAME => self.credentials_set(message.payload()?).await,
                // Sites and accounts: the gateway needs nothing from them.
                _ => Ok(()),
            }
        })
    }
}
