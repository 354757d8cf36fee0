//! OCPP-J gateway: chargers connect over WebSockets; their messages become durable charger events on NATS.
//!
//! The gateway owns the `gateway` schema: its projection of registered chargers, their password
//! hashes and tokens (fed by REGISTRY), the OCPP 1.6 transaction ids it hands out with their start
//! de-duplication, which replica holds which charger (presence), connector states, and the raw frame
//! audit trail. It publishes CHARGER events and answers a charger only once the event is durable in
//! JetStream. It serves `joule.v1.ChargerCommands` (gRPC) and routes each command over NATS to the
//! replica holding the charger. It does not interpret sessions, energy or prices: that is the
//! sessions service's business.
//!
//! - [`ocpp`]: OCPP-J framing, the 1.6J and 2.0.1 messages mapped onto protocol-neutral charger
//!   events, meter samples, charger clocks, and commands as the CALLs of each version.
//! - [`edge`]: the WebSocket endpoint (TLS, authentication, throttling) and one task per charger
//!   connection (message rate, connector states, the raw frame audit trail).
//! - [`publish`]: CHARGER events; [`transactions`]: the 1.6 transaction ids it hands out.
//! - [`presence`] and [`commands`]: which replica holds which charger, and commands routed to it;
//!   [`grpc`]: `joule.v1.ChargerCommands` and its one status mapping.
//! - [`consumers`]: REGISTRY (kept in [`projections`]: the registry projection and this replica's
//!   copy of it) and pricing's costs, shown on chargers.
//!
//! Tenants (ADR 032): a charger connects on `/ocpp/{tenant}/{charge_point_id}` (the path without a
//! tenant is the deployment's tenant, `JOULE_TENANT`). Chargers, tokens, presence, connector states,
//! transaction ids and the frame trail are keyed by tenant and id, so the same charge point id or
//! token uid in two tenants are two records that never see each other; the events a charger's
//! messages become carry its tenant.
//! - [`links`]: payments' hold decision at a start, pricing's estimate in the 2.0.1 Ended answer.

pub mod commands;
pub mod consumers;
pub mod edge;
pub mod grpc;
pub mod links;
pub mod ocpp;
pub mod presence;
pub mod projections;
pub mod publish;
pub mod transactions;

use std::sync::Arc;
use std::time::Duration;

use joule_domain::TenantId;
use joule_proto::v1::charger_commands_server::ChargerCommandsServer;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use tonic::server::NamedService;

use crate::consumers::costs::{self, CostKind};
use crate::edge::{audit, connectors, rate, server, throttle, tls};
use crate::links::{estimate, hold};
use crate::ocpp::clock;
use crate::projections::cache;

pub const SERVICE: ServiceDef = ServiceDef {
    name: "gateway",
    start: |ctx| Box::pin(start(ctx)),
};

/// The schema this service owns.
pub const SCHEMA: &str = "gateway";

const MIGRATIONS: &[joule_store::Migration] = joule_store::migrations![
    1 => "001_registry_projection_and_transaction_ids",
    2 => "002_credentials_presence_connector_status_and_the_frame_audit_trail",
    3 => "003_cost_display_bookkeeping",
    4 => "004_security_profile_of_held_connections",
    5 => "005_charge_points_and_tokens_keyed_by_tenant",
];

/// Migrates the schema and loads the registry copy; returns the registry consumer, the OCPP
/// listener, the replica's command subscription, the frame audit, transaction id and connector
/// state writers, and (unless turned off) the cost display consumers; serves
/// `joule.v1.ChargerCommands`.
pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let s = &ctx.settings;
    let tenant: TenantId = s.tenant.parse().map_err(|e| format!("JOULE_TENANT: {e}"))?;
    if projections::registry::backfill_tenant(&ctx.pool, &tenant).await? {
        tracing::info!(%tenant, "chargers and tokens from before tenants given the deployment's tenant");
    }
    let tls = if s.ocpp_tls_cert.is_empty() {
        None
    } else {
        let client_ca = (!s.ocpp_tls_client_ca.is_empty()).then_some(s.ocpp_tls_client_ca.as_str());
        Some(tls::acceptor(&s.ocpp_tls_cert, &s.ocpp_tls_key, client_ca)?)
    };
    let listener = ctx.bind("ocpp", &s.ocpp_addr).await?;
    let events = publish::ChargerEvents::new(ctx.bus.clone(), tenant.clone());
    let command_timeout = Duration::from_secs(s.ocpp_command_timeout_secs.max(1));
    if !s.ocpp_require_auth {
        tracing::warn!(
            "JOULE_OCPP_REQUIRE_AUTH=false: chargers without a password connect without authentication (security profile 0)"
        );
    }
    let policy = server::Policy {
        heartbeat_interval_secs: s.heartbeat_interval_secs,
        clock: clock::ClockPolicy::from_secs(s.ocpp_clock_drift_secs),
        require_auth: s.ocpp_require_auth,
        tls: tls.is_some(),
        command_timeout,
        throttle: throttle::ThrottlePolicy {
            max_failures_per_id: s.ocpp_auth_max_failures,
            max_failures_per_ip: s.ocpp_auth_max_failures_per_ip,
            lockout: Duration::from_secs(s.ocpp_auth_lockout_secs),
            max_lockout: Duration::from_secs(s.ocpp_auth_lockout_max_secs),
        },
        hash_concurrency: s.ocpp_auth_hash_concurrency as usize,
        max_frame_bytes: s.ocpp_max_frame_bytes as usize,
        message_rate: rate::RatePolicy {
            per_sec: f64::from(s.ocpp_message_rate_per_sec),
            burst: f64::from(s.ocpp_message_burst),
        },
        idle_heartbeats: s.ocpp_idle_heartbeats,
        limits: joule_runtime::http::Limits::from_settings(s, s.ocpp_max_connections),
        request_timeout: Duration::from_secs(s.http_request_timeout_secs),
    };
    let mut tasks = Vec::new();
    let frames = if s.ocpp_frame_retention_days == 0 {
        audit::FrameLog::disabled()
    } else {
        let budget = audit::AuditBudget {
            total_bytes: usize::try_from(s.ocpp_audit_buffer_bytes).unwrap_or(usize::MAX),
            charger_bytes: usize::try_from(s.ocpp_audit_charger_bytes).unwrap_or(usize::MAX),
        };
        let (log, writer) = audit::FrameLog::new(ctx.pool.clone(), budget);
        tasks.push(Task::new("gateway-frames", writer.run()));
        let (pool, days, shutdown) = (
            ctx.pool.clone(),
            s.ocpp_frame_retention_days,
            ctx.shutdown.clone(),
        );
        tasks.push(Task::restartable("gateway-frames-purge", move || {
            audit::run_purge(pool.clone(), days, shutdown.clone())
        }));
        log
    };
    let registry_cache = Arc::new(
        cache::RegistryCache::load(&ctx.pool, Duration::from_secs(s.ocpp_unknown_id_cache_secs))
            .await?,
    );
    let (transaction_ids, allocator) = transactions::TransactionIds::new(ctx.pool.clone());
    tasks.push(Task::new(
        "gateway-transaction-ids",
        allocator.run(ctx.shutdown.clone()),
    ));
    let (connector_log, connector_writer) = connectors::ConnectorLog::new(ctx.pool.clone());
    tasks.push(Task::new("gateway-connectors", connector_writer.run()));
    let links = server::Links {
        connector_log,
        tenant: tenant.clone(),
        registry: registry_cache.clone(),
        transaction_ids,
        holds: links::channel(&ctx, "payments", s.ocpp_payment_check, &s.payments_grpc_url).map(
            |c| {
                hold::HoldCheck::new(
                    c,
                    Duration::from_millis(s.ocpp_payment_timeout_ms.max(1)),
                    s.payments_grpc_url.is_empty(),
                )
            },
        ),
        estimates: links::channel(&ctx, "pricing", s.ocpp_total_cost, &s.pricing_grpc_url).map(
            |c| {
                estimate::CostEstimates::new(
                    c,
                    Duration::from_millis(s.ocpp_total_cost_timeout_ms.max(1)),
                    s.pricing_grpc_url.is_empty(),
                )
            },
        ),
    };
    let gateway = Arc::new(server::Gateway::new(
        ctx.pool.clone(),
        ctx.bus.clone(),
        events,
        policy,
        frames,
        links,
        ctx.shutdown.clone(),
    ));
    let replica = presence::Replica::subscribe(&ctx.bus, &gateway.live.replica_id).await?;
    let (bus, live, shutdown) = (ctx.bus.clone(), gateway.live.clone(), ctx.shutdown.clone());
    let (pool, replica_id) = (ctx.pool.clone(), gateway.live.replica_id.clone());
    let replica_tenant = tenant.clone();
    tasks.push(Task::new("gateway-replica", async move {
        replica.run(bus, live, replica_tenant, shutdown).await?;
        // Shutting down: connections skip their own presence clean-up (see connection.rs).
        match presence::release_replica(&pool, &replica_id).await {
            Ok(n) => tracing::info!(connections = n, "presence of this replica cleared"),
            Err(e) => tracing::warn!(error = %e, "cannot clear this replica's presence"),
        }
        Ok::<(), std::io::Error>(())
    }));

    let projection = consumers::registry::RegistryProjection::new(
        ctx.pool.clone(),
        registry_cache,
        tenant.clone(),
    );
    tasks.push(ctx.consumer(consumers::registry::spec(), projection));
    if s.ocpp_cost_display {
        let timeout = Duration::from_millis(s.ocpp_cost_display_timeout_ms.max(1));
        for kind in [CostKind::Running, CostKind::Final] {
            let consumer = costs::CostDisplayConsumer {
                pool: ctx.pool.clone(),
                bus: ctx.bus.clone(),
                default_tenant: tenant.clone(),
                kind,
                timeout,
            };
            tasks.push(ctx.consumer(kind.spec(), consumer));
        }
        let (pool, shutdown) = (ctx.pool.clone(), ctx.shutdown.clone());
        tasks.push(Task::restartable("gateway-cost-purge", move || {
            costs::run_purge(pool.clone(), shutdown.clone())
        }));
    }
    tasks.push(Task::new(
        "gateway-ocpp",
        server::serve(listener, tls, gateway),
    ));
    let commands = ChargerCommandsServer::new(grpc::ChargerCommandsGrpc {
        pool: ctx.pool.clone(),
        bus: ctx.bus.clone(),
        timeout: command_timeout,
        default_tenant: tenant,
    });
    let name = <ChargerCommandsServer<grpc::ChargerCommandsGrpc> as NamedService>::NAME;
    Ok(Started {
        tasks,
        grpc: Some((tonic::service::Routes::new(commands), vec![name])),
    })
}
