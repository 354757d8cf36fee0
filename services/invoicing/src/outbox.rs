//! What invoicing does with its committed events: the `invoices` read table and `InvoiceIssued` on
//! `invoice.<invoice_id>.issued`. Series events stay internal.

use cqrs_es::Aggregate;
use joule_bus::Outgoing;
use joule_domain::InvoiceId;
use joule_proto::v1;
use joule_store::{BoxFuture, OutboxHandler, ProjectionError, StoredEvent};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::invoice::{Invoice, InvoiceEvent, IssuedInvoice};
use crate::wire::{STATUS_ISSUED, invoice_to_proto};

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

fn issued(event: &StoredEvent) -> Result<Option<(InvoiceId, IssuedInvoice)>, String> {
    if event.aggregate_type != Invoice::TYPE {
        return Ok(None);
    }
    let id: InvoiceId = event
        .aggregate_id
        .parse()
        .map_err(|e| format!("aggregate id: {e}"))?;
    match event.decode::<InvoiceEvent>().map_err(|e| e.to_string())? {
        InvoiceEvent::InvoiceIssued(invoice) => Ok(Some((id, invoice))),
    }
}

impl OutboxHandler for InvoicingOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let Some((id, invoice)) =
                issued(event).map_err(|e| ProjectionError::decode(event, e))?
            else {
                return Ok(());
            };
            sqlx::query(&format!(
                "INSERT INTO {}.invoices (id, tenant_id, number, year, sequence, status, account_id, currency, lines,
                     total_excl_vat, total_vat, total_incl_vat, session_ids, flags, issued_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (id) DO NOTHING",
                self.schema
            ))
            .bind(id.as_uuid())
            .bind(invoice.tenant_id.as_str())
            .bind(invoice.number.to_string())
            .bind(invoice.number.year)
            .bind(i64::try_from(invoice.number.sequence).map_err(|e| ProjectionError::decode(event, e))?)
            .bind(STATUS_ISSUED)
            .bind(invoice.account_id.map(|a| a.to_string()).unwrap_or_default())
            .bind(invoice.currency.code())
            .bind(Json(&invoice.lines))
            .bind(invoice.total_excl_vat)
            .bind(invoice.total_vat)
            .bind(invoice.total_incl_vat)
            .bind(invoice.session_ids.iter().map(ToString::to_string).collect::<Vec<_>>())
            .bind(invoice.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>())
            .bind(invoice.issued_at)
            .execute(conn)
            .await?;
            Ok(())
        })
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        let Some((id, invoice)) = issued(event)? else {
            return Ok(vec![]);
        };
        let message = v1::InvoiceIssued {
            invoice: Some(invoice_to_proto(id, &invoice)),
        };
        Ok(vec![Outgoing {
            subject: format!("invoice.{id}.issued"),
            envelope: joule_bus::envelope(&message, event.meta(0, invoice.issued_at)),
            trace_headers: event.trace_headers(),
        }])
    }
}
