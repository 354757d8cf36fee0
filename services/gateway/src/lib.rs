//! OCPP-J gateway: chargers connect over WebSockets; their messages become durable charger events on NATS.
//!
//! The gateway owns the `gateway` schema: its projection of registered chargers and tokens (fed by
//! REGISTRY), and the OCPP 1.6 transaction ids it hands out with their start de-duplication. It
//! publishes CHARGER events and answers a charger only once the event is durable in JetStream. It
//! does not interpret sessions, energy or prices: that is the sessions service's business.
//!
//! - [`frame`]: OCPP-J framing and CALLERROR codes; [`payload`]: lenient field reading.
//! - [`protocol`]: the versions spoken, chosen by subprotocol; [`v16`]: OCPP 1.6J messages.
//! - [`meter`]: meter sample normalisation (Wh, W); [`transactions`]: transaction ids.
//! - [`registry`]: the REGISTRY projection; [`publish`]: CHARGER events.
//! - [`server`] and [`connection`]: the WebSocket endpoint and one task per charger.

pub mod connection;
pub mod error;
pub mod frame;
pub mod meter;
pub mod payload;
pub mod protocol;
pub mod publish;
pub mod registry;
pub mod server;
pub mod transactions;
pub mod v16;

use std::sync::Arc;

use joule_bus::{ConsumerSpec, Domain};
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_store::Migration;

pub const SERVICE: ServiceDef = ServiceDef {
    name: "gateway",
    start: |ctx| Box::pin(start(ctx)),
};

/// The schema this service owns.
pub const SCHEMA: &str = "gateway";

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "registry projection and transaction ids",
    sql: r#"
CREATE TABLE {schema}.chargers (
    charge_point_id text PRIMARY KEY,
    charger_id      text NOT NULL,
    site_id         text NOT NULL,
    tariff_id       text NOT NULL
);
CREATE TABLE {schema}.tokens (
    uid        text PRIMARY KEY,
    token_id   text NOT NULL,
    account_id text NOT NULL
);
-- idTags are case-insensitive in OCPP.
CREATE INDEX tokens_uid_lower ON {schema}.tokens (lower(uid));
-- OCPP 1.6 transactionId is a 32-bit integer; any replica draws from the one sequence.
CREATE SEQUENCE {schema}.transaction_ids AS integer START 1 NO CYCLE;
CREATE TABLE {schema}.transactions (
    transaction_id    integer PRIMARY KEY,
    charge_point_id   text NOT NULL,
    connector_id      bigint NOT NULL,
    id_tag            text NOT NULL,
    meter_start_wh    numeric NOT NULL,
    charger_time      timestamptz NOT NULL,
    first_received_at timestamptz NOT NULL,
    UNIQUE (charge_point_id, connector_id, id_tag, meter_start_wh, charger_time)
);
"#,
}];

/// Migrates the schema; returns the registry consumer and the OCPP listener as tasks.
pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let listener = ctx.bind("ocpp", &ctx.settings.ocpp_addr).await?;
    let events = publish::ChargerEvents::new(ctx.bus.clone(), ctx.settings.tenant.clone());
    let gateway = Arc::new(server::Gateway::new(
        ctx.pool.clone(),
        events,
        ctx.settings.heartbeat_interval_secs,
        ctx.shutdown.clone(),
    ));

    let projection = registry::RegistryProjection::new(ctx.pool.clone());
    let spec = ConsumerSpec {
        domain: Domain::Registry,
        durable: "gateway-registry".into(),
        filter: None,
    };
    let (bus, shutdown) = (ctx.bus.clone(), ctx.shutdown.clone());
    let registry_task = Task::new("gateway-registry", async move {
        bus.run_consumer(spec, projection, shutdown).await
    });
    let ocpp_task = Task::new("gateway-ocpp", server::serve(listener, gateway));
    Ok(Started {
        tasks: vec![registry_task, ocpp_task],
        grpc: None,
    })
}
