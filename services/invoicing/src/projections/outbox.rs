//! What invoicing does with its committed events: an issued receipt goes into the `invoices` read
//! table and out as `InvoiceIssued` on `invoice.<id>.issued`; an issued adjustment note into
//! `adjustment_notes` and out as `AdjustmentIssued` on `invoice.<id>.adjusted`. Series events stay
//! internal.

use joule_bus::Outgoing;
use joule_domain::InvoiceId;
use joule_proto::v1;
use joule_store::{BoxFuture, Decider, OutboxHandler, ProjectionError, StoredEvent};
use sqlx::PgConnection;

use super::{adjustment_notes, invoices};
use crate::domain::adjustment::{AdjustmentEvent, AdjustmentNote, IssuedAdjustment};
use crate::domain::invoice::{Invoice, InvoiceEvent, IssuedInvoice};
use crate::series::InvoiceNumber;
use crate::wire;

pub struct InvoicingOutbox {
    schema: String,
}

impl InvoicingOutbox {
    pub fn new(schema: &str) -> Self {
        Self {
            schema: schema.to_owned(),
        }
    }
}

/// A document an event issued.
enum Issued {
    Invoice(InvoiceId, IssuedInvoice),
    Note(InvoiceId, IssuedAdjustment),
}

/// The document `event` issued; `None` for the series' events.
fn issued(event: &StoredEvent) -> Result<Option<Issued>, String> {
    let id = || -> Result<InvoiceId, String> {
        event
            .aggregate_id
            .parse()
            .map_err(|e| format!("aggregate id: {e}"))
    };
    match event.aggregate_type.as_str() {
        Invoice::TYPE => match event.decode::<InvoiceEvent>().map_err(|e| e.to_string())? {
            InvoiceEvent::InvoiceIssued(invoice) => Ok(Some(Issued::Invoice(id()?, invoice))),
        },
        AdjustmentNote::TYPE => match event
            .decode::<AdjustmentEvent>()
            .map_err(|e| e.to_string())?
        {
            AdjustmentEvent::AdjustmentNoteIssued(note) => Ok(Some(Issued::Note(id()?, note))),
        },
        _ => Ok(None),
    }
}

/// A number's sequence as the read tables keep it.
fn sequence(event: &StoredEvent, number: InvoiceNumber) -> Result<i64, ProjectionError> {
    i64::try_from(number.sequence).map_err(|e| ProjectionError::decode(event, e))
}

impl OutboxHandler for InvoicingOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let schema = &self.schema;
            match issued(event).map_err(|e| ProjectionError::decode(event, e))? {
                Some(Issued::Invoice(id, invoice)) => {
                    let sequence = sequence(event, invoice.number)?;
                    invoices::insert(conn, schema, id, &invoice, sequence).await?;
                }
                Some(Issued::Note(id, note)) => {
                    let sequence = sequence(event, note.number)?;
                    adjustment_notes::insert(conn, schema, id, &note, sequence).await?;
                }
                None => {}
            }
            Ok(())
        })
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        let (subject, envelope) = match issued(event)? {
            Some(Issued::Invoice(id, invoice)) => {
                let message = v1::InvoiceIssued {
                    invoice: Some(wire::invoice_to_proto(id, &invoice)),
                };
                (
                    format!("invoice.{id}.issued"),
                    joule_bus::envelope(&message, event.meta(0, invoice.issued_at)),
                )
            }
            Some(Issued::Note(id, note)) => {
                let message = v1::AdjustmentIssued {
                    adjustment: Some(wire::note_to_proto(id, &note)),
                    adjustment_id: note.adjustment_id.clone(),
                    session_id: note.session_id.to_string(),
                    reason: note.reason.clone(),
                };
                (
                    format!("invoice.{id}.adjusted"),
                    joule_bus::envelope(&message, event.meta(0, note.issued_at)),
                )
            }
            None => return Ok(vec![]),
        };
        Ok(vec![Outgoing {
            subject,
            envelope,
            trace_headers: event.trace_headers(),
        }])
    }
}
