//! The consumer of `InvoiceIssued`: every invoice is posted to the journal once.

use chrono::Utc;
use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_proto::v1::InvoiceIssued;
use postgres_es::PostgresCqrs;

use crate::journal::{JournalEntry, post_for};
use crate::rules::invoice_entry;

pub struct InvoiceHandler {
    journal: PostgresCqrs<JournalEntry>,
    default_tenant: String,
}

impl InvoiceHandler {
    pub fn new(journal: PostgresCqrs<JournalEntry>, default_tenant: String) -> Self {
        Self {
            journal,
            default_tenant,
        }
    }
}

impl Handler for InvoiceHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let message: InvoiceIssued = received
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
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
            post_for(
                &self.journal,
                &self.default_tenant,
                received,
                entry_id,
                entry,
                &what,
            )
            .await?;
            tracing::info!(invoice = %invoice.id, entry = %entry_id, "invoice posted");
            Ok(())
        })
    }
}
