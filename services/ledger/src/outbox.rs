//! What the ledger does with its committed events: the `postings` and `balances` projections, updated
//! in the relay's transaction, and `JournalEntryPosted` on `ledger.<entry_id>.posted`.

use cqrs_es::Aggregate;
use joule_bus::Outgoing;
use joule_domain::JournalEntryId;
use joule_proto::v1;
use joule_store::{BoxFuture, OutboxHandler, ProjectionError, StoredEvent};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::journal::{JournalEntry, JournalEvent, PostedEntry};

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

fn posted(event: &StoredEvent) -> Result<Option<(JournalEntryId, PostedEntry)>, String> {
    if event.aggregate_type != JournalEntry::TYPE {
        return Ok(None);
    }
    let id: JournalEntryId = event
        .aggregate_id
        .parse()
        .map_err(|e| format!("aggregate id: {e}"))?;
    match event.decode::<JournalEvent>().map_err(|e| e.to_string())? {
        JournalEvent::JournalEntryPosted(entry) => Ok(Some((id, entry))),
    }
}

/// A ledger amount on the wire, padded to the currency's minor unit; never changes a value.
pub(crate) fn wire_amount(amount: Decimal, minor_units: u32) -> String {
    let mut padded = amount;
    if padded.scale() < minor_units {
        padded.rescale(minor_units);
    }
    padded.to_string()
}

impl OutboxHandler for LedgerOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let Some((id, entry)) = posted(event).map_err(|e| ProjectionError::decode(event, e))?
            else {
                return Ok(());
            };
            let tenant = self.tenant(event);
            let s = &self.schema;
            for (line, p) in entry.postings.iter().enumerate() {
                // The balance moves only when the posting row is new, so the projection never counts a
                // posting twice even if it were handed the same event again.
                sqlx::query(&format!(
                    "WITH posting AS (
                         INSERT INTO {s}.postings (entry_id, line, tenant_id, account, currency, debit, credit, posted_at,
                                                    source_type, source_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                         ON CONFLICT (entry_id, line) DO NOTHING
                         RETURNING tenant_id, account, currency, debit, credit
                     )
                     INSERT INTO {s}.balances (tenant_id, account, currency, debit, credit)
                     SELECT tenant_id, account, currency, debit, credit FROM posting
                     ON CONFLICT (tenant_id, account, currency) DO UPDATE
                     SET debit = {s}.balances.debit + EXCLUDED.debit, credit = {s}.balances.credit + EXCLUDED.credit"
                ))
                .bind(id.as_uuid())
                .bind(i32::try_from(line).map_err(|e| ProjectionError::decode(event, e))?)
                .bind(&tenant)
                .bind(&p.account)
                .bind(entry.currency.code())
                .bind(p.debit)
                .bind(p.credit)
                .bind(entry.posted_at)
                .bind(&entry.source.source_type)
                .bind(&entry.source.source_id)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        })
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        let Some((id, entry)) = posted(event)? else {
            return Ok(vec![]);
        };
        let minor = entry.currency.minor_units();
        let message = v1::JournalEntryPosted {
            entry_id: id.to_string(),
            source_type: entry.source.source_type.clone(),
            source_id: entry.source.source_id.clone(),
            currency: entry.currency.to_string(),
            postings: entry
                .postings
                .iter()
                .map(|p| v1::Posting {
                    account: p.account.clone(),
                    debit: wire_amount(p.debit, minor),
                    credit: wire_amount(p.credit, minor),
                })
                .collect(),
            posted_at: Some(joule_proto::time::to_proto(entry.posted_at)),
            description: entry.description.clone(),
        };
        Ok(vec![Outgoing {
            subject: format!("ledger.{id}.posted"),
            envelope: joule_bus::envelope(&message, event.meta(0, entry.posted_at)),
            trace_headers: event.trace_headers(),
        }])
    }
}
