//! The consumer of INVOICE (durable `sessions-invoices`): an `InvoiceIssued` copies the invoice id
//! onto the read model of the sessions it bills. Other invoice events are not a session's.

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_proto::v1;
use sqlx::PgPool;

use crate::projections::session_view;

pub struct InvoiceIssued {
    pub pool: PgPool,
}

impl Handler for InvoiceIssued {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let Some(m) = message.payload_if::<v1::InvoiceIssued>()? else {
                return Ok(());
            };
            let invoice = m
                .invoice
                .ok_or_else(|| HandlerError::Rejected("InvoiceIssued without invoice".into()))?;
            session_view::set_invoice(&self.pool, &invoice.session_ids, &invoice.id)
                .await
                .map_err(joule_store::consumer_error)
        })
    }
}
