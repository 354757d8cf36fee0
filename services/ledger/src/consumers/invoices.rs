//! `ledger-invoices`: every invoice (`InvoiceIssued`) is posted to the journal once.

use chrono::Utc;
use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_proto::v1::InvoiceIssued;

use super::Poster;
use crate::rules::invoice_entry;

pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Invoice,
        durable: "ledger-invoices".into(),
        filter: Some("invoice.*.issued".into()),
        // Money: an invoice's postings are never skipped.
        on_park: OnPark::HoldAggregate,
    }
}

pub struct InvoiceHandler(pub Poster);

impl Handler for InvoiceHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let message: InvoiceIssued = received.payload()?;
            let invoice = message
                .invoice
                .ok_or_else(|| HandlerError::Rejected("InvoiceIssued.invoice is missing".into()))?;
            let (entry_id, entry) = invoice_entry(&invoice, Utc::now())
                .map_err(|e| HandlerError::Rejected(format!("invoice {}: {e}", invoice.id)))?;
            if entry.postings.is_empty() {
                tracing::info!(invoice = %invoice.id, number = %invoice.number, "invoice of zero; nothing to post");
                return Ok(());
            }
            let what = format!("invoice {} ({})", invoice.id, invoice.number);
            self.0.post(received, entry_id, entry, &what).await?;
            tracing::info!(invoice = %invoice.id, entry = %entry_id, "invoice posted");
            Ok(())
        })
    }
}
