//! The REGISTRY consumer (durable `gateway-registry`): keeps the gateway's projection of registered
//! chargers, their password hashes and tokens ([`crate::projections::registry`]) and this replica's
//! copy of it ([`crate::projections::cache`]). Upserts make replays harmless; the latest
//! registration wins. Sites and accounts are acknowledged and skipped.
//!
//! Each record belongs to the tenant its envelope names (the api stamps the caller's tenant on
//! every registry event); an envelope without one is the deployment's tenant (ADR 032).

use std::sync::Arc;

use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_domain::{ChargerId, TenantId};
use joule_proto::EventName;
use joule_proto::v1::{ChargerCredentialsSet, ChargerRegistered, TokenIssued};
use sqlx::PgPool;

use super::{rejected, transient};
use crate::projections::cache::RegistryCache;
use crate::projections::registry::{self, ChargePointKey, KnownCharger, KnownToken};

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
    /// The deployment's tenant, for envelopes that name none.
    default_tenant: TenantId,
}

impl RegistryProjection {
    pub fn new(pool: PgPool, cache: Arc<RegistryCache>, default_tenant: TenantId) -> Self {
        Self {
            pool,
            cache,
            default_tenant,
        }
    }

    /// The tenant a registry event belongs to.
    fn tenant(&self, message: &Received) -> Result<TenantId, HandlerError> {
        match message.envelope.tenant_id.as_str() {
            "" => Ok(self.default_tenant.clone()),
            given => given.parse().map_err(rejected),
        }
    }

    async fn charger_registered(
        &self,
        tenant: TenantId,
        event: ChargerRegistered,
    ) -> Result<(), HandlerError> {
        let charger = KnownCharger {
            tenant,
            charge_point_id: event.charge_point_id.parse().map_err(rejected)?,
            charger_id: event.charger_id.parse::<ChargerId>().map_err(rejected)?,
        };
        registry::store_charger(&self.pool, &charger, &event.site_id, &event.tariff_id)
            .await
            .map_err(transient)?;
        tracing::info!(tenant = %charger.tenant, charge_point_id = %charger.charge_point_id, charger_id = %charger.charger_id, "charger known to the gateway");
        self.cache.put_charger(charger);
        Ok(())
    }

    /// Only a hash ever arrives here; an empty one removes the password.
    async fn credentials_set(
        &self,
        tenant: TenantId,
        event: ChargerCredentialsSet,
    ) -> Result<(), HandlerError> {
        let key = ChargePointKey::new(tenant, event.charge_point_id.parse().map_err(rejected)?);
        if !event.password_hash.is_empty() && !event.password_hash.starts_with('$') {
            return Err(HandlerError::Rejected(
                "ChargerCredentialsSet.password_hash is not a PHC hash".into(),
            ));
        }
        registry::store_password_hash(&self.pool, &key, &event.password_hash)
            .await
            .map_err(transient)?;
        tracing::info!(charge_point = %key, password = !event.password_hash.is_empty(), "charger credentials known to the gateway");
        Ok(())
    }

    async fn token_issued(&self, tenant: TenantId, event: TokenIssued) -> Result<(), HandlerError> {
        if event.uid.is_empty() {
            return Err(HandlerError::Rejected("TokenIssued.uid is empty".into()));
        }
        let token = KnownToken {
            token_id: event.token_id.parse().map_err(rejected)?,
            account_id: event.account_id.parse().map_err(rejected)?,
        };
        registry::store_token(&self.pool, &tenant, &event.uid, &token)
            .await
            .map_err(transient)?;
        self.cache.token_changed(&tenant, &event.uid);
        Ok(())
    }
}

impl Handler for RegistryProjection {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            match message.event_type() {
                ChargerRegistered::NAME => {
                    let tenant = self.tenant(message)?;
                    self.charger_registered(tenant, message.payload()?).await
                }
                TokenIssued::NAME => {
                    let tenant = self.tenant(message)?;
                    self.token_issued(tenant, message.payload()?).await
                }
                ChargerCredentialsSet::NAME => {
                    let tenant = self.tenant(message)?;
                    self.credentials_set(tenant, message.payload()?).await
                }
                // Sites and accounts: the gateway needs nothing from them.
                _ => Ok(()),
            }
        })
    }
}
