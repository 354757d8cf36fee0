//! Issuing one receipt: allocate the number in the tenant's series for the year of issue, then issue
//! the invoice under it. Each step is idempotent on the invoice id, so a redelivery or a crash
//! between the two steps resumes with the same number: no second number, no gap.

use chrono::{DateTime, Datelike, Utc};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use joule_domain::{AccountId, Currency, InvoiceId, SessionId, TenantId};
use joule_store::CommandMeta;
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sqlx::PgPool;

use crate::invoice::{Invoice, InvoiceCommand, IssueInvoice, check_lines};
use crate::receipt::PricedLine;
use crate::series::{InvoiceNumber, InvoiceSeries, SeriesCommand, series_id};

/// A series gets a snapshot every this many numbers, so allocating stays cheap late in the year.
const SERIES_SNAPSHOT_EVERY: usize = 100;

/// What to issue: a priced session, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRequest {
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub account_id: Option<AccountId>,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    /// Decides the series (year) and the invoice date. It must be the same on every redelivery of the
    /// same session, or a year boundary could give one session numbers in two series.
    pub issued_at: DateTime<Utc>,
}

impl ReceiptRequest {
    pub fn invoice_id(&self) -> InvoiceId {
        InvoiceId::derived(&self.session_id.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    New(InvoiceNumber),
    /// The invoice existed already (a redelivered message).
    Existing(InvoiceNumber),
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The request can never be issued.
    #[error("{0}")]
    Rejected(String),
    /// Database trouble; trying again may succeed.
    #[error("{0}")]
    Infrastructure(String),
}

impl IssueError {
    fn from_aggregate<E: std::error::Error>(step: &str, error: AggregateError<E>) -> Self {
        if joule_store::is_transient(&error) {
            IssueError::Infrastructure(format!("{step}: {error}"))
        } else {
            IssueError::Rejected(format!("{step}: {error}"))
        }
    }
}

type Store<A> = PersistedEventStore<PostgresEventRepository, A>;

pub struct Issuer {
    invoices: PostgresCqrs<Invoice>,
    series: PostgresCqrs<InvoiceSeries>,
    invoice_store: Store<Invoice>,
    series_store: Store<InvoiceSeries>,
}

impl Issuer {
    pub fn new(pool: PgPool, schema: &str) -> Self {
        let repo = || {
            PostgresEventRepository::new(pool.clone())
                .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"))
        };
        Self {
            invoices: joule_store::cqrs(pool.clone(), schema, ()),
            series: joule_store::cqrs_with_snapshots(
                pool.clone(),
                schema,
                SERIES_SNAPSHOT_EVERY,
                (),
            ),
            invoice_store: PersistedEventStore::new_event_store(repo()),
            series_store: PersistedEventStore::new_snapshot_store(repo(), SERIES_SNAPSHOT_EVERY),
        }
    }

    pub async fn issue(
        &self,
        request: ReceiptRequest,
        meta: CommandMeta,
    ) -> Result<Issued, IssueError> {
        let invoice_id = request.invoice_id();
        let invoice: Invoice = load(&self.invoice_store, &invoice_id.to_string()).await?;
        // Checked before allocating: a redelivery in a later year must not open a number in that year's series.
        if let Some(number) = invoice.number() {
            return Ok(Issued::Existing(number));
        }

        check_lines(&request.lines).map_err(|e| IssueError::Rejected(e.to_string()))?;

        let year = request.issued_at.year();
        let series = series_id(&request.tenant_id, year);
        joule_store::execute(
            &self.series,
            &series,
            SeriesCommand::AllocateNumber { year, invoice_id },
            meta.clone(),
        )
        .await
        .map_err(|e| IssueError::from_aggregate("allocating a number", e))?;
        let state: InvoiceSeries = load(&self.series_store, &series).await?;
        let number = state.number_of(&invoice_id).ok_or_else(|| {
            IssueError::Infrastructure(format!("series {series} has no number for {invoice_id}"))
        })?;

        let command = InvoiceCommand::Issue(IssueInvoice {
            number,
            tenant_id: request.tenant_id,
            account_id: request.account_id,
            session_id: request.session_id,
            currency: request.currency,
            lines: request.lines,
            issued_at: request.issued_at,
        });
        joule_store::execute(&self.invoices, &invoice_id.to_string(), command, meta)
            .await
            .map_err(|e| IssueError::from_aggregate("issuing", e))?;
        Ok(Issued::New(number))
    }
}

async fn load<A: Aggregate + Clone>(store: &Store<A>, id: &str) -> Result<A, IssueError> {
    let mut context = store
        .load_aggregate(id)
        .await
        .map_err(|e| IssueError::from_aggregate("loading", e))?;
    Ok(context.aggregate().clone())
}
