//! Ledger: event-sourced double-entry journal and its trial balance.
//!
//! - **Owns** schema `ledger`: the [`journal::JournalEntry`] aggregate (its events) and the
//!   `postings` and `balances` read tables ([`projections::balances`]).
//! - **Consumes** `InvoiceIssued` (`invoice.*.issued`) and `AdjustmentIssued`
//!   (`invoice.*.adjusted`) from INVOICE, and the PAYMENT stream (holds as memo entries, captures
//!   clearing receivables, refunds, dunning, wallet top-ups, settlement fees and payouts; ADR 010):
//!   one durable consumer each ([`consumers`]). Which entry a business event becomes is decided in
//!   [`rules`]; the journal only guarantees every entry balances and counts once.
//! - **Publishes** `JournalEntryPosted` on `ledger.<entry_id>.posted` (LEDGER) through its outbox
//!   relay ([`projections::outbox`]).
//! - **Serves** `joule.v1.LedgerService` (`GetTrialBalance`, [`grpc`]). The trial balance's totals
//!   add every row; they are meaningful for a tenant that books one currency.
//!
//! No arithmetic here panics: `clippy::arithmetic_side_effects` is denied; sums are checked and an
//! overflow is an error, never a wrapped or saturated amount.

#![deny(clippy::arithmetic_side_effects)]

pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod projections;
pub mod rules;
pub mod wire;

pub use domain::journal;

use std::sync::Arc;

use joule_domain::TenantId;
use joule_proto::v1::ledger_service_server::{LedgerServiceServer, SERVICE_NAME};
use joule_runtime::{BoxError, Context, ServiceDef, Started};
use joule_store::session_holders::{self, SessionHolders};
use joule_store::{Decided, Migration, Relay};

use consumers::adjustments::AdjustmentHandler;
use consumers::invoices::InvoiceHandler;
use consumers::payments::PaymentHandler;

pub const SCHEMA: &str = "ledger";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "ledger",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = joule_store::migrations![
    1 => "001_postings_and_balances",
    2 => "002_account_transactions",
    3 => "003_session_holders",
    4 => "004_postings_seq",
];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let default_tenant: TenantId = ctx
        .settings
        .tenant
        .parse()
        .map_err(|e| format!("settings tenant: {e}"))?;

    let journal = Arc::new(joule_store::cqrs_with_upcasters::<
        Decided<journal::JournalEntry>,
    >(ctx.pool.clone(), SCHEMA, journal::UPCASTERS, ()));
    let poster = consumers::Poster::new(journal, default_tenant.to_string());
    let invoices = ctx.consumer(consumers::invoices::spec(), InvoiceHandler(poster.clone()));
    let payments = ctx.consumer(consumers::payments::spec(), PaymentHandler(poster.clone()));
    let adjustments = ctx.consumer(consumers::adjustments::spec(), AdjustmentHandler(poster));
    let holders = SessionHolders {
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        default_tenant: default_tenant.to_string(),
    };
    let sessions = ctx.consumer(session_holders::spec("ledger-sessions"), holders);

    let outbox = projections::outbox::LedgerOutbox::new(SCHEMA, default_tenant.as_str());
    let relay = Relay::new(ctx.pool.clone(), SCHEMA, ctx.bus.clone(), outbox)?
        .with_upcasters(journal::UPCASTERS);
    let relay = ctx.relay("ledger-relay", relay);

    let grpc = grpc::LedgerGrpc::new(ctx.pool.clone(), SCHEMA, default_tenant);
    let routes = tonic::service::Routes::new(LedgerServiceServer::new(grpc));
    Ok(Started {
        tasks: vec![invoices, payments, adjustments, sessions, relay],
        grpc: Some((routes, vec![SERVICE_NAME])),
    })
}
