//! Ledger: event-sourced double-entry journal and its trial balance.
//!
//! Owns the `ledger` schema: the [`journal::JournalEntry`] aggregate and the `postings` and `balances`
//! projections. Consumes `InvoiceIssued` and `AdjustmentIssued` (INVOICE) and the payment events
//! (PAYMENT: holds as memo entries, captures clearing receivables, refunds, wallet movements; ADR
//! 010), publishes `JournalEntryPosted` (LEDGER) through its outbox relay, and serves
//! `joule.v1.LedgerService`. Which entry a business event becomes is decided
//! in [`rules`]; the journal only guarantees every entry balances and counts once.
//!
//! The trial balance's totals add every row; they are meaningful for a tenant that books one currency.
//!
//! No arithmetic here panics: `clippy::arithmetic_side_effects` is denied outside tests; sums are
//! checked and an overflow is an error, never a wrapped or saturated amount.

#![deny(clippy::arithmetic_side_effects)]

pub mod adjustments;
pub mod grpc;
pub mod invoices;
pub mod journal;
pub mod outbox;
pub mod payments;
pub mod rules;

use joule_bus::{ConsumerSpec, Domain, OnPark};
use joule_domain::TenantId;
use joule_proto::v1::ledger_service_server::{LedgerServiceServer, SERVICE_NAME};
use joule_runtime::{BoxError, Context, ServiceDef, Started};
use joule_store::{Migration, Relay};

pub const SCHEMA: &str = "ledger";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "ledger",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = joule_store::migrations![1 => "001_postings_and_balances"];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let default_tenant: TenantId = ctx
        .settings
        .tenant
        .parse()
        .map_err(|e| format!("settings tenant: {e}"))?;

    let journal = joule_store::cqrs::<journal::JournalEntry>(ctx.pool.clone(), SCHEMA, ());
    let handler = invoices::InvoiceHandler::new(journal, default_tenant.to_string());
    let consumer = ctx.consumer(
        ConsumerSpec {
            domain: Domain::Invoice,
            durable: "ledger-invoices".into(),
            filter: Some("invoice.*.issued".into()),
            // Money: an invoice's postings are never skipped.
            on_park: OnPark::HoldAggregate,
        },
        handler,
    );

    // Money movements of the payments service (holds, captures, refunds, fees, payouts).
    let payments = payments::PaymentHandler::new(
        joule_store::cqrs::<journal::JournalEntry>(ctx.pool.clone(), SCHEMA, ()),
        default_tenant.to_string(),
    );
    let payments = ctx.consumer(
        ConsumerSpec {
            domain: Domain::Payment,
            durable: "ledger-payments".into(),
            filter: None,
            // Money: a capture is not posted before the hold it clears.
            on_park: OnPark::HoldAggregate,
        },
        payments,
    );

    // Adjustment notes for re-rated sessions (credit notes and additional charges).
    let adjustments = adjustments::AdjustmentHandler::new(
        joule_store::cqrs::<journal::JournalEntry>(ctx.pool.clone(), SCHEMA, ()),
        default_tenant.to_string(),
    );
    let adjustments = ctx.consumer(
        ConsumerSpec {
            domain: Domain::Invoice,
            durable: "ledger-adjustments".into(),
            filter: Some("invoice.*.adjusted".into()),
            // Money: adjustment notes are posted in their order, none skipped.
            on_park: OnPark::HoldAggregate,
        },
        adjustments,
    );

    let outbox = outbox::LedgerOutbox::new(SCHEMA, default_tenant.as_str());
    let relay = Relay::new(ctx.pool.clone(), SCHEMA, ctx.bus.clone(), outbox)?;
    let relay = ctx.relay("ledger-relay", relay);

    let grpc = grpc::LedgerGrpc::new(ctx.pool.clone(), SCHEMA, default_tenant);
    let routes = tonic::service::Routes::new(LedgerServiceServer::new(grpc));
    Ok(Started {
        tasks: vec![consumer, payments, adjustments, relay],
        grpc: Some((routes, vec![SERVICE_NAME])),
    })
}
