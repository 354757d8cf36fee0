//! The ledger's durable consumers, one module each; every one turns a message into a journal entry
//! (by the [`crate::rules`]) and posts it with [`Poster`], which they share.

pub mod adjustments;
pub mod invoices;
pub mod payments;

use std::sync::Arc;

use joule_bus::{HandlerError, Received};
use joule_domain::JournalEntryId;
use joule_store::{CommandMeta, Decided};
use postgres_es::PostgresCqrs;

use crate::domain::journal::{JournalCommand, JournalEntry, PostEntry};

/// Posts the journal entry a message becomes: what every ledger consumer does once it knows the
/// entry.
#[derive(Clone)]
pub struct Poster {
    journal: Arc<PostgresCqrs<Decided<JournalEntry>>>,
    /// The tenant of messages that name none.
    default_tenant: String,
}

impl Poster {
    pub fn new(journal: Arc<PostgresCqrs<Decided<JournalEntry>>>, default_tenant: String) -> Self {
        Self {
            journal,
            default_tenant,
        }
    }

    /// Posts `entry` as journal entry `entry_id`, caused by the message `received` (in its tenant,
    /// else the default one). A transient store error is left for the bus to retry; anything else
    /// rejects the message, named by `what` in the error. Posting an entry again posts nothing.
    pub async fn post(
        &self,
        received: &Received,
        entry_id: JournalEntryId,
        entry: PostEntry,
        what: &str,
    ) -> Result<(), HandlerError> {
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
            Ok(()) => Ok(()),
            Err(e) if joule_store::is_transient(&e) => Err(HandlerError::Transient(e.to_string())),
            Err(e) => Err(HandlerError::Rejected(format!("{what}: {e}"))),
        }
    }
}
