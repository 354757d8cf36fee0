//! `joule.v1.InvoicingService`: reads of the invoice read model, and the one mapping from its errors
//! to gRPC status codes.

use joule_domain::{AccountId, Currency, InvoiceId, SessionId, TenantId};
use joule_proto::v1;
use joule_proto::v1::invoicing_service_server::InvoicingService;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::invoice::{InvoiceFlag, IssuedInvoice};
use crate::receipt::InvoiceLine;
use crate::series::InvoiceNumber;
use crate::wire::invoice_to_proto;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("invoice {0} not found")]
    NotFound(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored invoice {id} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
}

impl From<ReadError> for Status {
    fn from(error: ReadError) -> Self {
        match &error {
            ReadError::InvalidArgument { .. } => Status::invalid_argument(error.to_string()),
            ReadError::NotFound(_) => Status::not_found(error.to_string()),
            ReadError::Database(_) => {
                tracing::error!(error = %error, "invoice read failed");
                Status::unavailable("invoice store unavailable")
            }
            ReadError::Corrupt { .. } => {
                tracing::error!(error = %error, "invoice read failed");
                Status::internal("stored invoice is unreadable")
            }
        }
    }
}

fn invalid(field: &'static str, reason: impl ToString) -> ReadError {
    ReadError::InvalidArgument {
        field,
        reason: reason.to_string(),
    }
}

pub struct InvoicingGrpc {
    pool: PgPool,
    schema: String,
    default_tenant: TenantId,
}

impl InvoicingGrpc {
    pub fn new(pool: PgPool, schema: &str, default_tenant: TenantId) -> Self {
        Self {
            pool,
            schema: schema.to_owned(),
            default_tenant,
        }
    }

    fn tenant(&self, requested: &str) -> Result<TenantId, ReadError> {
        match requested {
            "" => Ok(self.default_tenant.clone()),
            t => t.parse().map_err(|e| invalid("tenant_id", e)),
        }
    }

    const COLUMNS: &'static str =
        "id, tenant_id, number, account_id, currency, lines, total_excl_vat, total_vat,
         total_incl_vat, session_ids, flags, issued_at";

    async fn list(
        &self,
        request: v1::ListInvoicesRequest,
    ) -> Result<v1::ListInvoicesResponse, ReadError> {
        let tenant = self.tenant(&request.tenant_id)?;
        let account = match request.account_id.as_str() {
            "" => None,
            a => Some(
                a.parse::<AccountId>()
                    .map_err(|e| invalid("account_id", e))?
                    .to_string(),
            ),
        };
        let after = match request.cursor.as_str() {
            "" => None,
            c => Some(
                c.parse::<InvoiceNumber>()
                    .map_err(|e| invalid("cursor", e))?,
            ),
        };
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let after_sequence = after
            .map(|n| i64::try_from(n.sequence))
            .transpose()
            .map_err(|e| invalid("cursor", e))?;
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {}.invoices
             WHERE tenant_id = $1 AND ($2::text IS NULL OR account_id = $2)
               AND ($3::int IS NULL OR (year, sequence) > ($3, $4))
             ORDER BY year, sequence LIMIT $5",
            Self::COLUMNS,
            self.schema
        ))
        .bind(tenant.as_str())
        .bind(account)
        .bind(after.map(|n| n.year))
        .bind(after_sequence)
        // One row more than the page tells whether there is a next page.
        .bind(i64::from(page_size).saturating_add(1))
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() > page_size as usize;
        let invoices = rows
            .iter()
            .take(page_size as usize)
            .map(invoice_from_row)
            .collect::<Result<Vec<_>, _>>()?;
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
        let tenant = self.tenant(&request.tenant_id)?;
        let id: InvoiceId = request
            .invoice_id
            .parse()
            .map_err(|e| invalid("invoice_id", e))?;
        let row = sqlx::query(&format!(
            "SELECT {} FROM {}.invoices WHERE tenant_id = $1 AND id = $2",
            Self::COLUMNS,
            self.schema
        ))
        .bind(tenant.as_str())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ReadError::NotFound(request.invoice_id.clone()))?;
        invoice_from_row(&row)
    }
}

fn invoice_from_row(row: &PgRow) -> Result<v1::Invoice, ReadError> {
    let id: InvoiceId = row.try_get::<uuid::Uuid, _>("id")?.into();
    let corrupt = |reason: String| ReadError::Corrupt {
        id: id.to_string(),
        reason,
    };
    let account: String = row.try_get("account_id")?;
    let session_ids: Vec<String> = row.try_get("session_ids")?;
    let flags: Vec<String> = row.try_get("flags")?;
    let Json(lines): Json<Vec<InvoiceLine>> = row.try_get("lines")?;
    let invoice = IssuedInvoice {
        number: row
            .try_get::<String, _>("number")?
            .parse()
            .map_err(|e| corrupt(format!("number: {e}")))?,
        tenant_id: row
            .try_get::<String, _>("tenant_id")?
            .parse()
            .map_err(|e| corrupt(format!("tenant: {e}")))?,
        account_id: match account.as_str() {
            "" => None,
            a => Some(a.parse().map_err(|e| corrupt(format!("account_id: {e}")))?),
        },
        session_ids: session_ids
            .iter()
            .map(|s| s.parse::<SessionId>())
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt(format!("session_ids: {e}")))?,
        currency: row
            .try_get::<String, _>("currency")?
            .parse::<Currency>()
            .map_err(|e| corrupt(format!("currency: {e}")))?,
        lines,
        total_excl_vat: row.try_get("total_excl_vat")?,
        total_vat: row.try_get("total_vat")?,
        total_incl_vat: row.try_get("total_incl_vat")?,
        issued_at: row.try_get("issued_at")?,
        flags: flags.iter().filter_map(|f| InvoiceFlag::parse(f)).collect(),
    };
    Ok(invoice_to_proto(id, &invoice))
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
