//! `joule.v1.InvoicingService`: receipts by tenant, filtered (account, issue time, session, fleet,
//! driver) and paged, and one by id; either only within the caller's reach (ADR 038).

use joule_domain::InvoiceId;
use joule_proto::v1;
use joule_proto::v1::invoicing_service_server::InvoicingService;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use uuid::Uuid;

use super::InvoicingGrpc;
use super::status::ReadError;
use crate::projections::invoices::{self, InvoiceFilter, Reach};
use crate::series::InvoiceNumber;
use crate::wire::{self, FieldError};

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;

impl InvoicingGrpc {
    async fn list(
        &self,
        request: v1::ListInvoicesRequest,
    ) -> Result<v1::ListInvoicesResponse, ReadError> {
        let time = |field: &'static str, t: Option<&joule_proto::Timestamp>| {
            t.map(|t| {
                joule_proto::time::from_proto(Some(t))
                    .ok_or_else(|| FieldError::new(field, "is not a valid time"))
            })
            .transpose()
        };
        let filter = InvoiceFilter {
            tenant: wire::tenant(&request.tenant_id, &self.default_tenant)?,
            account: wire::account_id(&request.account_id)?,
            issued_after: time("issued_after", request.issued_after.as_ref())?,
            issued_before: time("issued_before", request.issued_before.as_ref())?,
            session: match request.session_id.as_str() {
                "" => None,
                s => Some(s.parse().map_err(|e| FieldError::new("session_id", e))?),
            },
            fleet: uuid("fleet_id", &request.fleet_id)?,
            driver: uuid("driver_id", &request.driver_id)?,
            reach: reach(&request.within_fleets, &request.within_driver)?,
        };
        let after = match request.cursor.as_str() {
            "" => None,
            c => {
                let n: InvoiceNumber = c.parse().map_err(|e| FieldError::new("cursor", e))?;
                let sequence =
                    i64::try_from(n.sequence).map_err(|e| FieldError::new("cursor", e))?;
                Some((n.year, sequence))
            }
        };
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let (page, more) =
            invoices::page(&self.pool, &self.schema, &filter, after, page_size).await?;
        let invoices: Vec<v1::Invoice> = page
            .iter()
            .map(|(id, invoice)| wire::invoice_to_proto(*id, invoice))
            .collect();
        let next_cursor = match invoices.last() {
            Some(last) if more => last.number.clone(),
            _ => String::new(),
        };
        Ok(v1::ListInvoicesResponse {
            invoices,
            next_cursor,
        })
    }

    async fn get(&self, request: v1::GetInvoiceRequest) -> Result<v1::Invoice, ReadError> {
        let tenant = wire::tenant(&request.tenant_id, &self.default_tenant)?;
        let id: InvoiceId = request
            .invoice_id
            .parse()
            .map_err(|e| FieldError::new("invoice_id", e))?;
        let reach = reach(&request.within_fleets, &request.within_driver)?;
        let (id, invoice) = invoices::get(&self.pool, &self.schema, &tenant, id, &reach)
            .await?
            .ok_or(ReadError::NotFound(request.invoice_id))?;
        Ok(wire::invoice_to_proto(id, &invoice))
    }
}

/// An optional id field: empty is none.
fn uuid(field: &'static str, raw: &str) -> Result<Option<Uuid>, FieldError> {
    match raw {
        "" => Ok(None),
        raw => raw.parse().map(Some).map_err(|e| FieldError::new(field, e)),
    }
}

/// The caller's reach (ADR 038): no fleets and no driver is the whole tenant.
fn reach(fleets: &[String], driver: &str) -> Result<Reach, FieldError> {
    Ok(Reach {
        fleets: match fleets {
            [] => None,
            fleets => Some(
                fleets
                    .iter()
                    .map(|f| f.parse().map_err(|e| FieldError::new("within_fleets", e)))
                    .collect::<Result<_, _>>()?,
            ),
        },
        driver: uuid("within_driver", driver)?,
    })
}

#[tonic::async_trait]
impl InvoicingService for InvoicingGrpc {
    async fn list_invoices(
        &self,
        request: Request<v1::ListInvoicesRequest>,
    ) -> Result<Response<v1::ListInvoicesResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListInvoices", &request);
        let result = self.list(request.into_inner()).instrument(span).await;
        Ok(Response::new(result?))
    }

    async fn get_invoice(
        &self,
        request: Request<v1::GetInvoiceRequest>,
    ) -> Result<Response<v1::Invoice>, Status> {
        let span = joule_telemetry::grpc_server_span("GetInvoice", &request);
        let result = self.get(request.into_inner()).instrument(span).await;
        Ok(Response::new(result?))
    }
}
