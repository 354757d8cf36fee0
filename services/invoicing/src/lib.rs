//! Invoicing: every priced session becomes a receipt, numbered gaplessly per tenant and year, and
//! every re-rating of a priced session an adjustment note (credit note or additional charge) in a
//! series of its own (ADR 015).
//!
//! Owns the `invoicing` schema: the [`invoice::Invoice`], [`series::InvoiceSeries`] and
//! [`adjustment`] note aggregates, and the `invoices` and `adjustment_notes` read tables. Consumes
//! `SessionPriced` and `SessionPriceAdjusted` (PRICING), publishes `InvoiceIssued` and
//! `AdjustmentIssued` (INVOICE) through its outbox relay, and serves `joule.v1.InvoicingService`. It
//! does not post to the ledger; the ledger service reads the published invoices and notes.
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

const MIGRATIONS: &[Migration] =
    joule_store::migrations![1 => "001_invoices_read_model", 101 => "101_adjustment_notes"];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
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
    let routes = tonic::service::Routes::new(InvoicingServiceServer::new(grpc));
    Ok(Started {
        tasks: vec![consumer, adjustments, relay],
        grpc: Some((routes, vec![SERVICE_NAME])),
    })
}
