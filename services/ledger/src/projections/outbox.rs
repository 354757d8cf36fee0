//! What the ledger does with its committed events: the [`super::balances`] and
//! [`super::transactions`] projections, updated in the relay's transaction, and `JournalEntryPosted` on `ledger.<entry_id>.posted`.

use joule_bus::Outgoing;
use joule_domain::JournalEntryId;
use joule_store::{BoxFuture, Decider, OutboxHandler, ProjectionError, StoredEvent};
use sqlx::PgConnection;

use super::{balances, transactions};
use crate::domain::journal::{JournalEntry, JournalEvent, PostedEntry};
use crate::wire;

pub struct LedgerOutbox {
    schema: String,
    default_tenant: String,
}

impl LedgerOutbox {
    pub fn new(schema: &str, default_tenant: &str) -> Self {
        Self {
            schema: schema.to_owned(),
            default_tenant: default_tenant.to_owned(),
        }
    }

    fn tenant(&self, event: &StoredEvent) -> String {
        match event.metadata.get("tenant_id") {
            Some(t) if !t.is_empty() => t.clone(),
            _ => self.default_tenant.clone(),
        }
    }
}

/// The entry a stored event posted (`None` for another aggregate's event).
fn posted(event: &StoredEvent) -> Result<Option<(JournalEntryId, PostedEntry)>, ProjectionError> {
    if event.aggregate_type != JournalEntry::TYPE {
        return Ok(None);
    }
    let id: JournalEntryId = event
        .aggregate_id
        .parse()
        .map_err(|e| ProjectionError::decode(event, format!("aggregate id: {e}")))?;
    match event.read::<JournalEvent>()? {
        JournalEvent::JournalEntryPosted(entry) => Ok(Some((id, entry))),
    }
}

impl OutboxHandler for LedgerOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let Some((id, entry)) = posted(event)? else {
                return Ok(());
            };
            let tenant = self.tenant(event);
            balances::record(conn, &self.schema, event, id, &tenant, &entry).await?;
            transactions::record(conn, &self.schema, id, &tenant, &entry).await
        })
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        let Some((id, entry)) = posted(event).map_err(|e| e.to_string())? else {
            return Ok(vec![]);
        };
        let message = wire::journal_entry_posted(id, &entry);
        Ok(vec![Outgoing {
            subject: format!("ledger.{id}.posted"),
            envelope: joule_bus::envelope(&message, event.meta(0, entry.posted_at)),
            trace_headers: event.trace_headers(),
        }])
    }
}
