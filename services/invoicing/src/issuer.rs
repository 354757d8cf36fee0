//! Issuing one document, a receipt or an adjustment note: allocate the number in its series (the
//! tenant's receipts or notes, for the year of issue), then issue the document under it. Each step
//! is idempotent on the document's id, so a redelivery or a crash between the two steps resumes
//! with the same number: no second number, no gap.

use chrono::{DateTime, Datelike, Utc};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use joule_domain::{AccountId, Currency, InvoiceId, SessionId, TenantId};
use joule_store::{CommandMeta, Decided};
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sqlx::PgPool;

use crate::domain::adjustment::{self, AdjustmentCommand, AdjustmentNote, IssueAdjustment};
use crate::domain::invoice::{Invoice, InvoiceCommand, IssueInvoice, check_lines};
use crate::domain::receipt::PricedLine;
use crate::series::{self, InvoiceNumber, InvoiceSeries, SeriesCommand};

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

/// What to issue for a re-rating: the difference, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteRequest {
    pub account_id: Option<AccountId>,
    pub session_id: SessionId,
    pub adjustment_id: String,
    pub reason: String,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    /// Decides the series (year) and the note's date, as for a receipt.
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    New(InvoiceNumber),
    /// The document existed already (a redelivered message).
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
    invoices: PostgresCqrs<Decided<Invoice>>,
    notes: PostgresCqrs<Decided<AdjustmentNote>>,
    series: PostgresCqrs<Decided<InvoiceSeries>>,
    invoice_store: Store<Decided<Invoice>>,
    note_store: Store<Decided<AdjustmentNote>>,
    series_store: Store<Decided<InvoiceSeries>>,
}

impl Issuer {
    pub fn new(pool: PgPool, schema: &str) -> Self {
        let repo = || {
            PostgresEventRepository::new(pool.clone())
                .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"))
        };
        Self {
            invoices: joule_store::cqrs(pool.clone(), schema, ()),
            notes: joule_store::cqrs(pool.clone(), schema, ()),
            series: joule_store::cqrs_with_snapshots(
                pool.clone(),
                schema,
                SERIES_SNAPSHOT_EVERY,
                (),
            ),
            invoice_store: PersistedEventStore::new_event_store(repo()),
            note_store: PersistedEventStore::new_event_store(repo()),
            series_store: PersistedEventStore::new_snapshot_store(repo(), SERIES_SNAPSHOT_EVERY),
        }
    }

    /// Issues the receipt of a priced session.
    pub async fn issue(
        &self,
        request: ReceiptRequest,
        meta: CommandMeta,
    ) -> Result<Issued, IssueError> {
        let invoice_id = request.invoice_id();
        let invoice = load(&self.invoice_store, &invoice_id.to_string()).await?;
        // Checked before allocating: a redelivery in a later year must not open a number in that year's series.
        if let Some(number) = invoice.number() {
            return Ok(Issued::Existing(number));
        }

        check_lines(&request.lines).map_err(|e| IssueError::Rejected(e.to_string()))?;

        let year = request.issued_at.year();
        let series = series::series_id(&request.tenant_id, year);
        let number = self
            .allocate(&series, year, invoice_id, "allocating a number", &meta)
            .await?;

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

    /// Issues the adjustment note of a re-rating, in the tenant's series of notes.
    pub async fn issue_note(
        &self,
        tenant_id: TenantId,
        request: NoteRequest,
        meta: CommandMeta,
    ) -> Result<Issued, IssueError> {
        let note_id = adjustment::note_id(&request.adjustment_id);
        let note = load(&self.note_store, &note_id.to_string()).await?;
        if let Some(number) = note.number() {
            return Ok(Issued::Existing(number));
        }

        adjustment::check(&request.lines).map_err(|e| IssueError::Rejected(e.to_string()))?;

        let year = request.issued_at.year();
        let series = adjustment::series_id(&tenant_id, year);
        let number = self
            .allocate(&series, year, note_id, "allocating a note number", &meta)
            .await?;

        let command = AdjustmentCommand::Issue(IssueAdjustment {
            number,
            tenant_id,
            account_id: request.account_id,
            session_id: request.session_id,
            adjustment_id: request.adjustment_id,
            reason: request.reason,
            currency: request.currency,
            lines: request.lines,
            issued_at: request.issued_at,
        });
        joule_store::execute(&self.notes, &note_id.to_string(), command, meta)
            .await
            .map_err(|e| IssueError::from_aggregate("issuing a note", e))?;
        Ok(Issued::New(number))
    }

    /// The number `series` gives document `id` (the one it gave before, if any).
    async fn allocate(
        &self,
        series: &str,
        year: i32,
        id: InvoiceId,
        step: &str,
        meta: &CommandMeta,
    ) -> Result<InvoiceNumber, IssueError> {
        joule_store::execute(
            &self.series,
            series,
            SeriesCommand::AllocateNumber {
                year,
                invoice_id: id,
            },
            meta.clone(),
        )
        .await
        .map_err(|e| IssueError::from_aggregate(step, e))?;
        let state = load(&self.series_store, series).await?;
        state.number_of(&id).ok_or_else(|| {
            IssueError::Infrastructure(format!("series {series} has no number for {id}"))
        })
    }
}

async fn load<A: Aggregate + Clone>(store: &Store<A>, id: &str) -> Result<A, IssueError> {
    let mut context = store
        .load_aggregate(id)
        .await
        .map_err(|e| IssueError::from_aggregate("loading", e))?;
    Ok(context.aggregate().clone())
}
