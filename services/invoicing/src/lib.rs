//! Invoicing: every priced session becomes a receipt, numbered gaplessly per tenant and year, and
//! every re-rating of a priced session an adjustment note (credit note or additional charge) in a
//! series of its own (ADR 015).
//!
//! - Owns the `invoicing` schema: the [`domain::invoice::Invoice`] and
//!   [`domain::adjustment::AdjustmentNote`] aggregates, their numbers' [`series::InvoiceSeries`]
//!   (issued by [`issuer`]), and the `invoices` and `adjustment_notes` read tables
//!   ([`projections`]).
//! - Consumes `SessionPriced` (`pricing.*.priced`, durable `invoicing-priced`) and
//!   `SessionPriceAdjusted` (`pricing.*.adjusted`, durable `invoicing-adjustments`) from PRICING
//!   ([`consumers`]), and `SessionStarted` (`session.*.started`, durable `invoicing-sessions`)
//!   from SESSION into `session_holders` ([`joule_store::session_holders`]): who held each
//!   session's token, so invoices list by fleet and driver and a fleet manager or driver reads
//!   only theirs (ADR 038).
//! - Publishes `InvoiceIssued` and `AdjustmentIssued` on INVOICE through its outbox relay.
//! - Serves `joule.v1.InvoicingService` (the receipts, [`grpc`]), filtered by the caller's reach.
//!
//! It does not post to the ledger; the ledger service reads the published invoices and notes.
//!
//! No arithmetic here panics: `clippy::arithmetic_side_effects` is denied outside tests; sums of
//! amounts are checked and an overflow refuses the receipt.

#![deny(clippy::arithmetic_side_effects)]

pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod issuer;
pub mod projections;
pub mod series;
pub mod wire;

// The paths other crates (the ledger's tests) name the documents by.
pub use domain::{invoice, receipt};

use std::sync::Arc;

use joule_bus::{ConsumerSpec, Domain, OnPark};
use joule_domain::TenantId;
use joule_runtime::{BoxError, Context, ServiceDef, Started};
use joule_store::session_holders::{self, SessionHolders};
use joule_store::{Migration, Relay};

pub const SCHEMA: &str = "invoicing";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "invoicing",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = &[
    joule_store::migration!(1 => "001_invoices_read_model"),
    Migration {
        version: 2,
        name: "002_session_holders",
        sql: session_holders::MIGRATION_SQL,
    },
    joule_store::migration!(101 => "101_adjustment_notes"),
];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let default_tenant: TenantId = ctx
        .settings
        .tenant
        .parse()
        .map_err(|e| format!("settings tenant: {e}"))?;

    let issuer = Arc::new(issuer::Issuer::new(ctx.pool.clone(), SCHEMA));
    let priced = ctx.consumer(
        ConsumerSpec {
            domain: Domain::Pricing,
            durable: "invoicing-priced".into(),
            filter: Some("pricing.*.priced".into()),
            // Money: a session's invoice waits for its parked price, never skips it.
            on_park: OnPark::HoldAggregate,
        },
        consumers::session_priced::PricedHandler::new(issuer.clone(), default_tenant.clone()),
    );
    let adjusted = ctx.consumer(
        ConsumerSpec {
            domain: Domain::Pricing,
            durable: "invoicing-adjustments".into(),
            filter: Some("pricing.*.adjusted".into()),
            // Money: a session's adjustment notes are issued in the order of its re-ratings.
            on_park: OnPark::HoldAggregate,
        },
        consumers::price_adjusted::AdjustedHandler::new(issuer, default_tenant.clone()),
    );

    let holders = SessionHolders {
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        default_tenant: default_tenant.to_string(),
    };
    let sessions = ctx.consumer(session_holders::spec("invoicing-sessions"), holders);

    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        projections::outbox::InvoicingOutbox::new(SCHEMA),
    )?;
    let relay = ctx.relay("invoicing-relay", relay);

    let grpc = grpc::InvoicingGrpc::new(ctx.pool.clone(), SCHEMA, default_tenant);
    Ok(Started {
        tasks: vec![priced, adjusted, sessions, relay],
        grpc: Some(grpc.routes()),
    })
}
