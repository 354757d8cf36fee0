//! The consumer of `InvoiceIssued`: every invoice is posted to the journal once.

use chrono::Utc;
use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_proto::v1::InvoiceIssued;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;

use crate::journal::{JournalCommand, JournalEntry};
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
            let mut meta = CommandMeta::caused_by(&received.envelope);
            if meta.tenant_id.is_empty() {
                meta.tenant_id = self.default_tenant.clone();
            }
            match joule_store::execute(
                &self.journal,
                &entry_id.to_string(),
                JournalCommand::Post(entry),
                meta,
            )
            .await
            {
                Ok(()) => {
                    tracing::info!(invoice = %invoice.id, entry = %entry_id, "invoice posted");
                    Ok(())
                }
                Err(e) if joule_store::is_transient(&e) => {
                    Err(HandlerError::Transient(e.to_string()))
                }
                Err(e) => Err(HandlerError::Rejected(format!(
                    "invoice {} ({}): {e}",
                    invoice.id, invoice.number
                ))),
            }
        })
    }
}
