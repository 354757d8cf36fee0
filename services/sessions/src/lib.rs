//! The sessions service: one event-sourced `ChargingSession` per charger transaction
//! ([`domain::session`]), built from the gateway's protocol-neutral charger events, robust to what
//! chargers really send (duplicates, stops without starts, meter regressions and unit errors,
//! OCPP 2.0.1 events out of order or with gaps). A 1.6 stop with an unusable transaction id is
//! matched to the charger's open transaction ([`matching`]), and open sessions without messages
//! are closed after an inactivity limit ([`sweeper`]), so that no session stays open for ever
//! (ADR 027).
//!
//! - Owns the `sessions` schema: the session events, the read model `session_view`, the sessions'
//!   signed meter values, and the matching's `charger_sessions` and `matched_stops`.
//! - Consumes CHARGER (`sessions-charger`: transaction started, meter values, transaction
//!   stopped), PRICING (`sessions-pricing`: `SessionPriced`, the cost) and INVOICE
//!   (`sessions-invoices`: `InvoiceIssued`, the invoice id) ([`consumers`]).
//! - Publishes on SESSION, through its outbox relay ([`projections::outbox`]): `SessionStarted`,
//!   `SessionMetered` (the readings of a running session, with the aggregate version as
//!   `sequence`) and `SessionCompleted` (with every reading and the end of charging).
//! - Serves `joule.v1.SessionsService` (the read model, with cost and invoice) and
//!   `joule.v1.SessionEvidenceService` (the signed meter values) ([`grpc`]), each read within the
//!   request's tenant (empty: the deployment's): another tenant's session is not found (ADR 032).
//!
//! It does not price or invoice; it only says what energy was delivered, when, on whose token.
//!
//! Values from chargers are read into their domains (`joule_domain::bounds`) at the intake; what
//! is outside is flagged `value_out_of_range` and takes no part in any computation. No arithmetic
//! here panics: `clippy::arithmetic_side_effects` is denied outside tests.

#![deny(clippy::arithmetic_side_effects)]

pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod matching;
pub mod projections;
pub mod sweeper;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use joule_bus::{ConsumerSpec, Domain, OnPark};
use joule_domain::TenantId;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_store::{Migration, Relay};
use rust_decimal::Decimal;

use crate::domain::session::{ChargingSession, SessionRules, UPCASTERS};

pub const SCHEMA: &str = "sessions";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "sessions",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = joule_store::migrations![
    1 => "001_session_read_model",
    2 => "002_sessions_waiting_for_events_signed_meter_values",
    3 => "003_inactivity_of_open_sessions_the_sessions_each_charger_started",
    4 => "004_the_session_read_model_names_its_tenant",
];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let tenant: TenantId = ctx
        .settings
        .tenant
        .parse()
        .map_err(|e| format!("JOULE_TENANT: {e}"))?;
    let filled = projections::session_view::fill_missing_tenant(&ctx.pool, &tenant).await?;
    if filled > 0 {
        tracing::info!(sessions = filled, %tenant, "sessions whose events named no tenant given the deployment's");
    }
    let rules = SessionRules {
        max_power_w: Decimal::from(ctx.settings.max_charger_power_kw)
            .saturating_mul(Decimal::ONE_THOUSAND),
    };
    let cqrs = Arc::new(joule_store::cqrs_with_upcasters::<ChargingSession>(
        ctx.pool.clone(),
        SCHEMA,
        UPCASTERS,
        rules,
    ));

    let mut tasks = Vec::new();
    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        projections::outbox::SessionOutbox {
            default_tenant: tenant.to_string(),
        },
    )?
    .with_upcasters(UPCASTERS);
    tasks.push(ctx.relay("sessions-relay", relay));

    let sweeper = sweeper::Sweeper {
        pool: ctx.pool.clone(),
        cqrs: cqrs.clone(),
        wait: Duration::from_secs(ctx.settings.session_event_wait_secs),
        inactivity: (ctx.settings.session_inactivity_secs > 0)
            .then(|| Duration::from_secs(ctx.settings.session_inactivity_secs)),
        tenant: ctx.settings.tenant.clone(),
    };
    let shutdown = ctx.shutdown.clone();
    tasks.push(Task::restartable("sessions-sweeper", move || {
        sweeper.clone().run(shutdown.clone())
    }));

    let charger_events = consumers::charger_events::ChargerIntake {
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
    tasks.push(ctx.consumer(spec, charger_events));
    // Copies of billing results onto the read model; each event sets its own columns.
    let priced = consumers::session_priced::SessionPriced {
        pool: ctx.pool.clone(),
    };
    let spec = ConsumerSpec {
        domain: Domain::Pricing,
        durable: "sessions-pricing".into(),
        filter: None,
        on_park: OnPark::Skip,
    };
    tasks.push(ctx.consumer(spec, priced));
    let invoiced = consumers::invoice_issued::InvoiceIssued {
        pool: ctx.pool.clone(),
    };
    let spec = ConsumerSpec {
        domain: Domain::Invoice,
        durable: "sessions-invoices".into(),
        filter: None,
        on_park: OnPark::Skip,
    };
    tasks.push(ctx.consumer(spec, invoiced));

    Ok(Started {
        tasks,
        grpc: Some(grpc::routes(&ctx.pool, &tenant)),
    })
}
