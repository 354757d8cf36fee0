//! The sessions service: one event-sourced `ChargingSession` per charger transaction, built from the
//! gateway's protocol-neutral charger events, robust to what chargers really send (duplicates,
//! stops without starts, meter regressions and unit errors, OCPP 2.0.1 events out of order or with
//! gaps). A 1.6 stop with an unusable transaction id is matched to the charger's open transaction
//! ([`matching`]), and open sessions without messages are closed after an inactivity limit
//! ([`sweeper`]), so that no session stays open for ever (ADR 027). It publishes `SessionStarted`, `SessionMetered` (the readings of a running session, with
//! the aggregate version as `sequence`) and `SessionCompleted` (with every reading and the end of
//! charging) on stream SESSION and serves the session
//! read model (with cost and invoice, copied from PRICING and INVOICE) and the sessions' signed meter
//! values over gRPC.
//!
//! It does not price or invoice; it only says what energy was delivered, when, on whose token.
//!
//! Values from chargers are read into their domains (`joule_domain::bounds`) at the intake; what
//! is outside is flagged `value_out_of_range` and takes no part in any computation. No arithmetic
//! here panics: `clippy::arithmetic_side_effects` is denied outside tests.

#![deny(clippy::arithmetic_side_effects)]

pub mod domain;
pub mod grpc;
pub mod intake;
pub mod matching;
pub mod outbox;
pub mod sweeper;

use std::sync::Arc;

use joule_bus::{ConsumerSpec, Domain, OnPark};
use joule_proto::v1::session_evidence_service_server::SessionEvidenceServiceServer;
use joule_proto::v1::sessions_service_server::SessionsServiceServer;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_store::{Migration, Relay};
use tonic::server::NamedService;

pub const SCHEMA: &str = "sessions";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "sessions",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = joule_store::migrations![
    1 => "001_session_read_model",
    2 => "002_sessions_waiting_for_events_signed_meter_values",
    3 => "003_inactivity_of_open_sessions_the_sessions_each_charger_started",
];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let rules = domain::session::SessionRules {
        max_power_w: rust_decimal::Decimal::from(ctx.settings.max_charger_power_kw)
            .saturating_mul(rust_decimal::Decimal::ONE_THOUSAND),
    };
    let cqrs = Arc::new(joule_store::cqrs_with_upcasters::<
        domain::session::ChargingSession,
    >(
        ctx.pool.clone(),
        SCHEMA,
        domain::session::UPCASTERS,
        rules,
    ));

    let mut tasks = Vec::new();
    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        outbox::SessionOutbox,
    )?
    .with_upcasters(domain::session::UPCASTERS);
    tasks.push(ctx.relay("sessions-relay", relay));

    let sweeper = sweeper::Sweeper {
        pool: ctx.pool.clone(),
        cqrs: cqrs.clone(),
        wait: std::time::Duration::from_secs(ctx.settings.session_event_wait_secs),
        inactivity: (ctx.settings.session_inactivity_secs > 0)
            .then(|| std::time::Duration::from_secs(ctx.settings.session_inactivity_secs)),
        tenant: ctx.settings.tenant.clone(),
    };
    let shutdown = ctx.shutdown.clone();
    tasks.push(Task::restartable("sessions-sweeper", move || {
        sweeper.clone().run(shutdown.clone())
    }));
    let intake = intake::ChargerIntake {
        cqrs,
        charger_sessions: matching::ChargerSessions::new(ctx.pool.clone(), SCHEMA),
    };
    let spec = ConsumerSpec {
        domain: Domain::Charger,
        durable: "sessions-charger".into(),
        filter: None,
        // A charger's events: holding them would stop all billing on the charger for one bad
        // sample; the session tolerates a gap (flags it) and the parked message is listed.
        on_park: OnPark::Skip,
    };
    tasks.push(ctx.consumer(spec, intake));
    for (domain, durable) in [
        (Domain::Pricing, "sessions-pricing"),
        (Domain::Invoice, "sessions-invoices"),
    ] {
        let billing = intake::BillingIntake {
            pool: ctx.pool.clone(),
        };
        let spec = ConsumerSpec {
            domain,
            durable: durable.into(),
            filter: None,
            // Copies of billing results onto the read model; each event sets its own columns.
            on_park: OnPark::Skip,
        };
        tasks.push(ctx.consumer(spec, billing));
    }

    let server = SessionsServiceServer::new(grpc::SessionsGrpc {
        pool: ctx.pool.clone(),
    });
    let evidence = SessionEvidenceServiceServer::new(grpc::SessionEvidenceGrpc {
        pool: ctx.pool.clone(),
    });
    let names = vec![
        <SessionsServiceServer<grpc::SessionsGrpc> as NamedService>::NAME,
        <SessionEvidenceServiceServer<grpc::SessionEvidenceGrpc> as NamedService>::NAME,
    ];
    let routes = tonic::service::Routes::new(server).add_service(evidence);
    Ok(Started {
        tasks,
        grpc: Some((routes, names)),
    })
}
