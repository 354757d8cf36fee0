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

pub mod grpc;
pub mod intake;
pub mod matching;
pub mod outbox;
pub mod plausibility;
pub mod session;
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

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "session read model",
        sql: "CREATE TABLE {schema}.session_view (
              seq             bigserial UNIQUE,
              id              text PRIMARY KEY,
              charger_id      text NOT NULL,
              charge_point_id text NOT NULL,
              connector_id    int NOT NULL DEFAULT 0,
              transaction_id  text NOT NULL,
              token_uid       text NOT NULL DEFAULT '',
              account_id      text NOT NULL DEFAULT '',
              status          text NOT NULL,
              started_at      timestamptz,
              stopped_at      timestamptz,
              meter_start_wh  numeric,
              meter_stop_wh   numeric,
              energy_wh       numeric,
              flags           text[] NOT NULL DEFAULT '{}',
              cost_excl_vat   numeric,
              cost_incl_vat   numeric,
              currency        text,
              invoice_id      text
          );
          CREATE INDEX ON {schema}.session_view (charger_id, seq);
          CREATE INDEX ON {schema}.session_view (account_id, seq);",
    },
    Migration {
        version: 2,
        name: "sessions waiting for events, signed meter values",
        sql: "ALTER TABLE {schema}.session_view ADD COLUMN awaiting_since timestamptz;
          CREATE INDEX ON {schema}.session_view (awaiting_since) WHERE status = 'ended';
          CREATE TABLE {schema}.signed_meter_values (
              id                bigserial PRIMARY KEY,
              session_id        text NOT NULL,
              context           text NOT NULL,
              measurand         text NOT NULL,
              charger_time      timestamptz,
              format            text NOT NULL,
              signed_meter_data text NOT NULL,
              signing_method    text NOT NULL,
              encoding_method   text NOT NULL,
              public_key        text NOT NULL,
              data_hash         text GENERATED ALWAYS AS (md5(signed_meter_data)) STORED,
              UNIQUE (session_id, context, data_hash)
          );",
    },
    Migration {
        version: 3,
        name: "inactivity of open sessions, the sessions each charger started",
        sql: "ALTER TABLE {schema}.session_view ADD COLUMN last_activity_at timestamptz;
          UPDATE {schema}.session_view SET last_activity_at = COALESCE(started_at, now())
              WHERE status = 'active';
          CREATE INDEX ON {schema}.session_view (id) WHERE status = 'active';
          CREATE TABLE {schema}.charger_sessions (
              session_id      text PRIMARY KEY,
              tenant_id       text NOT NULL,
              charge_point_id text NOT NULL,
              connector_id    bigint NOT NULL,
              started_at      timestamptz NOT NULL
          );
          CREATE INDEX ON {schema}.charger_sessions (tenant_id, charge_point_id, connector_id);
          CREATE TABLE {schema}.matched_stops (
              stop_session_id text PRIMARY KEY,
              session_id      text NOT NULL,
              transaction_id  text NOT NULL,
              detail          text NOT NULL,
              matched_at      timestamptz NOT NULL DEFAULT now()
          );",
    },
];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let rules = session::SessionRules {
        max_power_w: rust_decimal::Decimal::from(ctx.settings.max_charger_power_kw)
            .saturating_mul(rust_decimal::Decimal::ONE_THOUSAND),
    };
    let cqrs = Arc::new(joule_store::cqrs::<session::ChargingSession>(
        ctx.pool.clone(),
        SCHEMA,
        rules,
    ));

    let mut tasks = Vec::new();
    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        outbox::SessionOutbox,
    )?;
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
