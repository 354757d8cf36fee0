//! Who held each session's token when it started (`SessionStarted`, `session.*.started`; ADR 037),
//! kept by a service beside its own records in `<schema>.session_holders`, so that it can list them
//! by fleet, driver and cost centre and limit a fleet manager or a driver to theirs (ADR 038). The
//! ledger and invoicing each keep one, created by [`MIGRATION_SQL`] in their migrations (the
//! ledger's own `003_session_holders` predates it).

use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_proto::v1::SessionStarted;
use sqlx::PgPool;
use uuid::Uuid;

/// The `session_holders` table, for a service's migration list ([`crate::Migration`]).
pub const MIGRATION_SQL: &str = include_str!("session_holders.sql");

/// The consumer: `durable` names it (`<service>-sessions`).
pub fn spec(durable: &str) -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Session,
        durable: durable.into(),
        filter: Some("session.*.started".into()),
        // A lookup table: one session's bad message does not hold the others.
        on_park: OnPark::Skip,
    }
}

/// Records the holder of every started session that has one; nothing else.
pub struct SessionHolders {
    pub pool: PgPool,
    pub schema: String,
    /// The tenant of messages that name none.
    pub default_tenant: String,
}

fn id(field: &str, raw: &str) -> Result<Option<Uuid>, HandlerError> {
    match raw {
        "" => Ok(None),
        raw => raw
            .parse()
            .map(Some)
            .map_err(|e| HandlerError::Rejected(format!("SessionStarted.{field}: {e}"))),
    }
}

impl Handler for SessionHolders {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let m: SessionStarted = received.payload()?;
            let holder = [
                id("fleet_id", &m.fleet_id)?,
                id("driver_id", &m.driver_id)?,
                id("vehicle_id", &m.vehicle_id)?,
                id("cost_centre_id", &m.cost_centre_id)?,
            ];
            if holder.iter().all(Option::is_none) {
                return Ok(());
            }
            let session = id("session_id", &m.session_id)?.ok_or_else(|| {
                HandlerError::Rejected("SessionStarted.session_id is empty".into())
            })?;
            let tenant = match received.envelope.tenant_id.as_str() {
                "" => self.default_tenant.as_str(),
                t => t,
            };
            let s = &self.schema;
            // The first start recorded wins: a redelivery or a later start message changes nothing.
            sqlx::query(&format!(
                "INSERT INTO {s}.session_holders
                   (tenant_id, session_id, fleet_id, driver_id, vehicle_id, cost_centre_id)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
            ))
            .bind(tenant)
            .bind(session)
            .bind(holder[0])
            .bind(holder[1])
            .bind(holder[2])
            .bind(holder[3])
            .execute(&self.pool)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
            Ok(())
        })
    }
}
