//! Outbound webhooks: integrators register HTTP endpoints and receive their tenant's integration
//! events as signed JSON POSTs, so they need not poll (ADR 040).
//!
//! - **Owns** schema `webhooks`: endpoints (with their signing secrets), one delivery per
//!   (endpoint, event), the events' JSON bodies and the log of every attempt.
//! - **Consumes** every stream with integration events ([`events::STREAMS`]), one durable consumer
//!   each ([`consumers`]): an event becomes a pending delivery per enabled endpoint of its tenant
//!   that takes its type, stored before the message is acknowledged.
//! - **Delivers** with the [`deliveries::worker`]: at least once, signed ([`signing`]), retried with
//!   backoff for a window ([`deliveries::policy`]); an endpoint that keeps failing is disabled.
//! - **Publishes** nothing on NATS.
//! - **Serves** `joule.v1.WebhooksService` ([`grpc`]) to the api.

pub mod consumers;
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod grpc;
pub mod signing;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use joule_proto::v1::webhooks_service_server::{SERVICE_NAME, WebhooksServiceServer};
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_store::Migration;
use tokio::sync::Notify;

use consumers::integration_events::{self, EventHandler};
use deliveries::policy::Policy;
use deliveries::worker::Worker;
use endpoints::OwnAddrs;

pub const SCHEMA: &str = "webhooks";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "webhooks",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = joule_store::migrations![1 => "001_endpoints_and_deliveries"];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let settings = &ctx.settings;
    let wake = Arc::new(Notify::new());

    let handler = Arc::new(EventHandler {
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        default_tenant: settings.tenant.clone(),
        wake: wake.clone(),
    });
    let mut tasks: Vec<Task> = events::STREAMS
        .into_iter()
        .map(|domain| ctx.consumer(integration_events::spec(domain), handler.clone()))
        .collect();

    let worker = Arc::new(Worker::new(
        ctx.pool.clone(),
        SCHEMA,
        Policy::from_settings(settings),
        settings.webhooks_batch_size,
        Duration::from_millis(settings.webhooks_poll_interval_ms),
        wake.clone(),
    )?);
    let shutdown = ctx.shutdown.clone();
    tasks.push(Task::restartable("webhooks-deliveries", move || {
        worker.clone().run(shutdown.clone())
    }));

    let grpc = grpc::WebhooksGrpc::new(
        ctx.pool.clone(),
        SCHEMA,
        OwnAddrs::from_settings(settings),
        Duration::from_secs(settings.webhooks_secret_overlap_secs),
        wake,
    );
    let routes = tonic::service::Routes::new(WebhooksServiceServer::new(grpc));
    Ok(Started {
        tasks,
        grpc: Some((routes, vec![SERVICE_NAME])),
    })
}
