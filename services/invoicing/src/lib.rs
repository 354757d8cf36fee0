//! Invoicing: every priced session becomes a receipt, numbered gaplessly per tenant and year.
//!
//! Owns the `invoicing` schema: the [`invoice::Invoice`] and [`series::InvoiceSeries`] aggregates and the
//! `invoices` read table. Consumes `SessionPriced` (PRICING), publishes `InvoiceIssued` (INVOICE) through
//! its outbox relay, and serves `joule.v1.InvoicingService`. It does not post to the ledger; the ledger
//! service reads the published invoices.
//!
//! No arithmetic here panics: `clippy::arithmetic_side_effects` is denied outside tests; sums of
//! amounts are checked and an overflow refuses the receipt.

#![deny(clippy::arithmetic_side_effects)]

pub mod adjustment;
pub mod grpc;
pub mod invoice;
pub mod issuer;
pub mod outbox;
pub mod priced;
pub mod receipt;
pub mod series;
pub mod wire;

use std::sync::Arc;

use joule_bus::{ConsumerSpec, Domain, OnPark};
use joule_domain::TenantId;
use joule_proto::v1::invoicing_service_server::{InvoicingServiceServer, SERVICE_NAME};
use joule_runtime::{BoxError, Context, ServiceDef, Started};
use joule_store::{Migration, Relay};

pub const SCHEMA: &str = "invoicing";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "invoicing",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "invoices read model",
    sql: r#"
CREATE TABLE {schema}.invoices (
    id             uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    number         text NOT NULL,
    year           int NOT NULL,
    sequence       bigint NOT NULL,
    status         text NOT NULL,
    -- Empty when pricing knew no account (the invoice is then flagged `no_account`).
    account_id     text NOT NULL,
    currency       text NOT NULL,
    lines          jsonb NOT NULL,
    total_excl_vat numeric NOT NULL,
    total_vat      numeric NOT NULL,
    total_incl_vat numeric NOT NULL,
    session_ids    text[] NOT NULL,
    flags          text[] NOT NULL,
    issued_at      timestamptz NOT NULL,
    -- The series already guarantees this; the constraint makes a breach stop the relay loudly.
    UNIQUE (tenant_id, year, sequence),
    UNIQUE (tenant_id, number)
);
CREATE INDEX invoices_by_account ON {schema}.invoices (tenant_id, account_id, year, sequence);
"#,
}];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    joule_store::migrate(&ctx.pool, SCHEMA, adjustment::MIGRATIONS).await?;
    let default_tenant: TenantId = ctx
        .settings
        .tenant
        .parse()
        .map_err(|e| format!("settings tenant: {e}"))?;

    let issuer = Arc::new(issuer::Issuer::new(ctx.pool.clone(), SCHEMA));
    let handler = priced::PricedHandler::new(issuer, default_tenant.clone());
    let consumer = ctx.consumer(
        ConsumerSpec {
            domain: Domain::Pricing,
            durable: "invoicing-priced".into(),
            filter: Some("pricing.*.priced".into()),
            // Money: a session's invoice waits for its parked price, never skips it.
            on_park: OnPark::HoldAggregate,
        },
        handler,
    );

    let notes = adjustment::AdjustedHandler::new(
        Arc::new(adjustment::NoteIssuer::new(ctx.pool.clone(), SCHEMA)),
        default_tenant.clone(),
    );
    let adjustments = ctx.consumer(
        ConsumerSpec {
            domain: Domain::Pricing,
            durable: "invoicing-adjustments".into(),
            filter: Some("pricing.*.adjusted".into()),
            // Money: a session's adjustment notes are issued in the order of its re-ratings.
            on_park: OnPark::HoldAggregate,
        },
        notes,
    );

    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        adjustment::WithAdjustments::new(outbox::InvoicingOutbox::new(SCHEMA), SCHEMA),
    )?;
    let relay = ctx.relay("invoicing-relay", relay);

    let grpc = grpc::InvoicingGrpc::new(ctx.pool.clone(), SCHEMA, default_tenant);
    // Built on a router without a fallback: `Routes::new` adds one, and the runtime cannot merge two
    // services' routers that both have one (axum panics), which `joule run --all` needs.
    let routes = tonic::service::Routes::from(tonic::service::AxumRouter::new())
        .add_service(InvoicingServiceServer::new(grpc));
    Ok(Started {
        tasks: vec![consumer, adjustments, relay],
        grpc: Some((routes, vec![SERVICE_NAME])),
    })
}
