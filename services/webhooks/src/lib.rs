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
//! - **Publishes** each public event, in JSON, into its tenant's stream on the integrator plane
//!   when one is configured (`integrator_nats_url`, ADR 043; [`consumers::tenant_streams`]), and
//!   nothing on the internal plane.
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
use consumers::tenant_streams::{self, TenantStreamHandler};
use deliveries::policy::Policy;
use deliveries::worker::Worker;
use endpoints::OwnAddrs;
use joule_bus::tenant_streams::{StreamLimits, TenantStreams};

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

    if !settings.integrator_nats_url.is_empty() {
        let streams = Arc::new(connect_integrator_plane(&ctx).await?);
        tasks.extend(events::STREAMS.into_iter().map(|domain| {
            let handler = Arc::new(TenantStreamHandler {
                streams: streams.clone(),
                domain,
                default_tenant: settings.tenant.clone(),
            });
            ctx.consumer(tenant_streams::spec(domain), handler)
        }));
    }

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

    let (pool, shutdown, days) = (
        ctx.pool.clone(),
        ctx.shutdown.clone(),
        settings.webhooks_retention_days,
    );
    tasks.push(Task::new(
        "webhooks-retention",
        deliveries::retention::run(pool, SCHEMA, days, shutdown),
    ));

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

/// The publisher's connection to the integrator plane, with its `.creds` file.
async fn connect_integrator_plane(ctx: &Context) -> Result<TenantStreams, BoxError> {
    let s = &ctx.settings;
    if s.integrator_nats_creds_file.is_empty() {
        return Err(
            "integrator_nats_url needs integrator_nats_creds_file (the webhooks user's .creds)"
                .into(),
        );
    }
    let creds = std::fs::read_to_string(&s.integrator_nats_creds_file).map_err(|e| {
        format!(
            "integrator_nats_creds_file {}: {e}",
            s.integrator_nats_creds_file
        )
    })?;
    let limits = StreamLimits {
        max_age: Duration::from_secs(s.integrator_stream_max_age_secs),
        max_bytes: i64::try_from(s.integrator_stream_max_bytes).unwrap_or(i64::MAX),
        replicas: usize::try_from(s.integrator_stream_replicas).unwrap_or(1),
    };
    let streams = TenantStreams::connect(
        &s.integrator_nats_url,
        &creds,
        ctx.bus.namespace().clone(),
        limits,
    )
    .await?;
    tracing::info!(url = %s.integrator_nats_url, "publishing tenants' events to the integrator plane");
    Ok(streams)
}
