//! Adjustment notes: when pricing re-rates a session (`SessionPriceAdjusted`), invoicing issues a
//! document for the difference — a credit note when the price went down, an additional charge when it
//! went up — instead of touching the receipt already issued.
//!
//! Notes have their own gapless series per tenant and year (`CN-<YYYY>-<NNNNNN>`), allocated with the
//! same [`InvoiceSeries`] aggregate as receipts under another series id. Lines are rounded with the
//! domain's invoice-line and tax rules; totals may be negative. The `AdjustmentNote` aggregate is
//! published as `AdjustmentIssued` on `invoice.<id>.adjusted` and kept in `adjustment_notes`.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, DomainEvent, EventStore};
use joule_bus::{BoxFuture as BusFuture, Handler, HandlerError, Outgoing, Received};
use joule_domain::{AccountId, Currency, InvoiceId, SessionId, TenantId};
use joule_proto::v1;
use joule_store::{BoxFuture, CommandMeta, OutboxHandler, ProjectionError, StoredEvent};
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use crate::receipt::{InvoiceLine, PricedLine, Totals, wire_amount};
use crate::series::{InvoiceNumber, InvoiceSeries, SeriesCommand};

pub const STATUS_ADJUSTMENT: &str = "adjustment";

/// The series of adjustment notes of a tenant and year, apart from the receipts'.
pub fn series_id(tenant: &TenantId, year: i32) -> String {
    format!("{tenant}-CN-{year:04}")
}

/// How a note's number reads: `CN-2026-000001`.
pub fn note_number(number: InvoiceNumber) -> String {
    format!("CN-{number}")
}

/// The note of one price adjustment.
pub fn note_id(adjustment_id: &str) -> InvoiceId {
    InvoiceId::derived(&format!("adjustment/{adjustment_id}"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueAdjustment {
    pub number: InvoiceNumber,
    pub tenant_id: TenantId,
    pub account_id: Option<AccountId>,
    pub session_id: SessionId,
    pub adjustment_id: String,
    pub reason: String,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedAdjustment {
    pub number: InvoiceNumber,
    pub tenant_id: TenantId,
    pub account_id: Option<AccountId>,
    pub session_id: SessionId,
    pub adjustment_id: String,
    pub reason: String,
    pub currency: Currency,
    pub lines: Vec<InvoiceLine>,
    pub total_excl_vat: Decimal,
    pub total_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdjustmentCommand {
    Issue(IssueAdjustment),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdjustmentEvent {
    AdjustmentNoteIssued(IssuedAdjustment),
}

impl DomainEvent for AdjustmentEvent {
    fn event_type(&self) -> String {
        "AdjustmentNoteIssued".into()
    }
    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustmentError {
    #[error(transparent)]
    AmountOverflow(#[from] crate::receipt::AmountOverflow),
    #[error("lines[{line}].vat_percent must not be negative, got {percent}")]
    NegativeVatPercent { line: usize, percent: Decimal },
    #[error("number {number} belongs to another year than issued_at {issued_at}")]
    NumberOutsideYear {
        number: InvoiceNumber,
        issued_at: DateTime<Utc>,
    },
    #[error("the note is already issued as {0}")]
    AlreadyIssued(InvoiceNumber),
}

fn check(lines: &[PricedLine]) -> Result<(), AdjustmentError> {
    for (line, l) in lines.iter().enumerate() {
        if let Some(percent) = l.vat_percent.filter(|p| *p < Decimal::ZERO) {
            return Err(AdjustmentError::NegativeVatPercent { line, percent });
        }
    }
    Ok(())
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentNote {
    number: Option<InvoiceNumber>,
}

impl Aggregate for AdjustmentNote {
    const TYPE: &'static str = "AdjustmentNote";
    type Command = AdjustmentCommand;
    type Event = AdjustmentEvent;
    type Error = AdjustmentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AdjustmentCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AdjustmentError> {
        let AdjustmentCommand::Issue(cmd) = command;
        match self.number {
            Some(n) if n == cmd.number => return Ok(()),
            Some(n) => return Err(AdjustmentError::AlreadyIssued(n)),
            None => {}
        }
        check(&cmd.lines)?;
        if cmd.issued_at.year() != cmd.number.year {
            return Err(AdjustmentError::NumberOutsideYear {
                number: cmd.number,
                issued_at: cmd.issued_at,
            });
        }
        let lines: Vec<InvoiceLine> = cmd
            .lines
            .iter()
            .map(|l| InvoiceLine::from_priced(l, cmd.currency, cmd.session_id))
            .collect::<Result<_, _>>()?;
        let totals = Totals::of(&lines)?;
        let issued = IssuedAdjustment {
            number: cmd.number,
            tenant_id: cmd.tenant_id,
            account_id: cmd.account_id,
            session_id: cmd.session_id,
            adjustment_id: cmd.adjustment_id,
            reason: cmd.reason,
            currency: cmd.currency,
            lines,
            total_excl_vat: totals.excl_vat,
            total_vat: totals.vat,
            total_incl_vat: totals.incl_vat,
            issued_at: cmd.issued_at,
        };
        sink.write(AdjustmentEvent::AdjustmentNoteIssued(issued), self)
            .await;
        Ok(())
    }

    fn apply(&mut self, event: AdjustmentEvent) {
        let AdjustmentEvent::AdjustmentNoteIssued(issued) = event;
        self.number = Some(issued.number);
    }
}

/// Reads a `SessionPriceAdjusted` into what a note needs, naming the field that breaks the contract.
pub fn note_request(
    m: &v1::SessionPriceAdjusted,
    envelope: &v1::Envelope,
    default_tenant: &TenantId,
) -> Result<(TenantId, IssueRequest), String> {
    let tenant_id = match envelope.tenant_id.as_str() {
        "" => default_tenant.clone(),
        t => t.parse().map_err(|e| format!("tenant_id: {e}"))?,
    };
    let session_id: SessionId = m
        .session_id
        .parse()
        .map_err(|e| format!("session_id: {e}"))?;
    let account_id = match m.account_id.as_str() {
        "" => None,
        a => Some(a.parse().map_err(|e| format!("account_id: {e}"))?),
    };
    let currency: Currency = m.currency.parse().map_err(|e| format!("currency: {e}"))?;
    if m.adjustment_id.is_empty() {
        return Err("adjustment_id: is required".into());
    }
    let decimal = |i: usize, name: &str, raw: &str| -> Result<Option<Decimal>, String> {
        match raw.trim() {
            "" => Ok(None),
            v => Decimal::from_str(v)
                .map(Some)
                .map_err(|e| format!("lines[{i}].{name}: {v:?} is not a decimal: {e}")),
        }
    };
    let lines = m
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(PricedLine {
                description: if l.description.is_empty() {
                    l.dimension.clone()
                } else {
                    l.description.clone()
                },
                quantity: decimal(i, "volume", &l.volume)?,
                unit: l.unit.clone(),
                unit_price: decimal(i, "unit_price", &l.unit_price)?,
                vat_percent: decimal(i, "vat_percent", &l.vat_percent)?,
                amount_excl_vat: decimal(i, "amount_excl_vat", &l.amount_excl_vat)?
                    .ok_or_else(|| format!("lines[{i}].amount_excl_vat: is required"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let issued_at = joule_proto::time::from_proto(envelope.occurred_at.as_ref())
        .or_else(|| joule_proto::time::from_proto(m.adjusted_at.as_ref()))
        .unwrap_or_else(Utc::now)
        .trunc_subsecs(6);
    Ok((
        tenant_id,
        IssueRequest {
            account_id,
            session_id,
            adjustment_id: m.adjustment_id.clone(),
            reason: m.reason.clone(),
            currency,
            lines,
            issued_at,
        },
    ))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    pub account_id: Option<AccountId>,
    pub session_id: SessionId,
    pub adjustment_id: String,
    pub reason: String,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    pub issued_at: DateTime<Utc>,
}

type Store<A> = PersistedEventStore<PostgresEventRepository, A>;

/// Allocates the next note number and issues the note; both steps are idempotent on the note id.
pub struct NoteIssuer {
    notes: PostgresCqrs<AdjustmentNote>,
    series: PostgresCqrs<InvoiceSeries>,
    note_store: Store<AdjustmentNote>,
    series_store: Store<InvoiceSeries>,
}

impl NoteIssuer {
    pub fn new(pool: PgPool, schema: &str) -> Self {
        let repo = || {
            PostgresEventRepository::new(pool.clone())
                .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"))
        };
        Self {
            notes: joule_store::cqrs(pool.clone(), schema, ()),
            series: joule_store::cqrs_with_snapshots(pool.clone(), schema, 100, ()),
            note_store: PersistedEventStore::new_event_store(repo()),
            series_store: PersistedEventStore::new_snapshot_store(repo(), 100),
        }
    }

    pub async fn issue(
        &self,
        tenant_id: TenantId,
        request: IssueRequest,
        meta: CommandMeta,
    ) -> Result<InvoiceNumber, HandlerError> {
        let id = note_id(&request.adjustment_id);
        let note: AdjustmentNote = load(&self.note_store, &id.to_string()).await?;
        if let Some(n) = note.number {
            return Ok(n);
        }
        check(&request.lines).map_err(|e| HandlerError::Rejected(e.to_string()))?;
        let year = request.issued_at.year();
        let series = series_id(&tenant_id, year);
        joule_store::execute(
            &self.series,
            &series,
            SeriesCommand::AllocateNumber {
                year,
                invoice_id: id,
            },
            meta.clone(),
        )
        .await
        .map_err(failure("allocating a note number"))?;
        let state: InvoiceSeries = load(&self.series_store, &series).await?;
        let number = state.number_of(&id).ok_or_else(|| {
            HandlerError::Transient(format!("series {series} has no number for {id}"))
        })?;
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
        joule_store::execute(&self.notes, &id.to_string(), command, meta)
            .await
            .map_err(failure("issuing a note"))?;
        Ok(number)
    }
}

fn failure<E: std::error::Error>(step: &'static str) -> impl Fn(AggregateError<E>) -> HandlerError {
    move |e| {
        if joule_store::is_transient(&e) {
            HandlerError::Transient(format!("{step}: {e}"))
        } else {
            HandlerError::Rejected(format!("{step}: {e}"))
        }
    }
}

async fn load<A: Aggregate + Clone>(store: &Store<A>, id: &str) -> Result<A, HandlerError> {
    let mut context = store.load_aggregate(id).await.map_err(failure("loading"))?;
    Ok(cqrs_es::AggregateContext::aggregate(&mut context).clone())
}

/// The consumer of `SessionPriceAdjusted` (`pricing.*.adjusted`).
pub struct AdjustedHandler {
    issuer: Arc<NoteIssuer>,
    default_tenant: TenantId,
}

impl AdjustedHandler {
    pub fn new(issuer: Arc<NoteIssuer>, default_tenant: TenantId) -> Self {
        Self {
            issuer,
            default_tenant,
        }
    }
}

impl Handler for AdjustedHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BusFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let m: v1::SessionPriceAdjusted = received
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            let (tenant, request) = note_request(&m, &received.envelope, &self.default_tenant)
                .map_err(|e| {
                    HandlerError::Rejected(format!("SessionPriceAdjusted {}: {e}", m.adjustment_id))
                })?;
            let mut meta = CommandMeta::caused_by(&received.envelope);
            meta.tenant_id = tenant.to_string();
            let number = self.issuer.issue(tenant, request, meta).await?;
            tracing::info!(adjustment = %m.adjustment_id, number = %note_number(number), "adjustment note issued");
            Ok(())
        })
    }
}

/// The wire form of a note: a `joule.v1.Invoice` with status `adjustment`.
pub fn note_to_proto(id: InvoiceId, note: &IssuedAdjustment) -> v1::Invoice {
    let currency = note.currency;
    let plain = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
    v1::Invoice {
        id: id.to_string(),
        number: note_number(note.number),
        status: STATUS_ADJUSTMENT.into(),
        account_id: note.account_id.map(|a| a.to_string()).unwrap_or_default(),
        currency: currency.to_string(),
        lines: note
            .lines
            .iter()
            .map(|l| v1::InvoiceLine {
                description: l.description.clone(),
                quantity: plain(l.quantity),
                unit: l.unit.clone(),
                unit_price: plain(l.unit_price),
                vat_percent: plain(l.vat_percent),
                amount_excl_vat: wire_amount(l.amount_excl_vat, currency),
                vat: wire_amount(l.vat, currency),
                amount_incl_vat: wire_amount(l.amount_incl_vat, currency),
                session_id: l.session_id.to_string(),
            })
            .collect(),
        total_excl_vat: wire_amount(note.total_excl_vat, currency),
        total_vat: wire_amount(note.total_vat, currency),
        total_incl_vat: wire_amount(note.total_incl_vat, currency),
        session_ids: vec![note.session_id.to_string()],
        issued_at: Some(joule_proto::time::to_proto(note.issued_at)),
    }
}

fn issued(event: &StoredEvent) -> Result<Option<(InvoiceId, IssuedAdjustment)>, String> {
    if event.aggregate_type != AdjustmentNote::TYPE {
        return Ok(None);
    }
    let id: InvoiceId = event
        .aggregate_id
        .parse()
        .map_err(|e| format!("aggregate id: {e}"))?;
    let AdjustmentEvent::AdjustmentNoteIssued(note) = event
        .decode::<AdjustmentEvent>()
        .map_err(|e| e.to_string())?;
    Ok(Some((id, note)))
}

/// Invoicing's outbox handler with adjustment notes added: notes are projected and published here,
/// everything else goes to the wrapped handler (one relay serves a schema).
pub struct WithAdjustments<H> {
    inner: H,
    schema: String,
}

impl<H> WithAdjustments<H> {
    pub fn new(inner: H, schema: &str) -> Self {
        Self {
            inner,
            schema: schema.to_owned(),
        }
    }
}

impl<H: OutboxHandler> OutboxHandler for WithAdjustments<H> {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        if event.aggregate_type != AdjustmentNote::TYPE {
            return self.inner.project(conn, event);
        }
        Box::pin(async move {
            let Some((id, note)) = issued(event).map_err(|e| ProjectionError::decode(event, e))?
            else {
                return Ok(());
            };
            sqlx::query(&format!(
                "INSERT INTO {}.adjustment_notes (id, tenant_id, number, year, sequence, account_id, currency,
                     session_id, adjustment_id, reason, lines, total_excl_vat, total_vat, total_incl_vat, issued_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (id) DO NOTHING",
                self.schema
            ))
            .bind(id.as_uuid())
            .bind(note.tenant_id.as_str())
            .bind(note_number(note.number))
            .bind(note.number.year)
            .bind(i64::try_from(note.number.sequence).map_err(|e| ProjectionError::decode(event, e))?)
            .bind(note.account_id.map(|a| a.to_string()).unwrap_or_default())
            .bind(note.currency.code())
            .bind(note.session_id.to_string())
            .bind(&note.adjustment_id)
            .bind(&note.reason)
            .bind(Json(&note.lines))
            .bind(note.total_excl_vat)
            .bind(note.total_vat)
            .bind(note.total_incl_vat)
            .bind(note.issued_at)
            .execute(conn)
            .await?;
            Ok(())
        })
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        let Some((id, note)) = issued(event)? else {
            return self.inner.messages(event);
        };
        let message = v1::AdjustmentIssued {
            adjustment: Some(note_to_proto(id, &note)),
            adjustment_id: note.adjustment_id.clone(),
            session_id: note.session_id.to_string(),
            reason: note.reason.clone(),
        };
        Ok(vec![Outgoing {
            subject: format!("invoice.{id}.adjusted"),
            envelope: joule_bus::envelope(&message, event.meta(0, note.issued_at)),
            trace_headers: event.trace_headers(),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use rust_decimal_macros::dec;

    fn line(amount: Decimal) -> PricedLine {
        PricedLine {
            description: "Energy".into(),
            quantity: Some(dec!(20)),
            unit: "kWh".into(),
            unit_price: Some(dec!(0.3)),
            vat_percent: Some(dec!(10)),
            amount_excl_vat: amount,
        }
    }

    fn issue(sequence: u64) -> IssueAdjustment {
        IssueAdjustment {
            number: InvoiceNumber {
                year: 2026,
                sequence,
            },
            tenant_id: TenantId::default_tenant(),
            account_id: None,
            session_id: SessionId::derived("cp/1"),
            adjustment_id: "r1/s1".into(),
            reason: "tariff correction".into(),
            currency: Currency::EUR,
            lines: vec![line(dec!(-6)), line(dec!(5.6))],
            issued_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_credit_note_rounds_each_line_and_may_be_negative() {
        let events = TestFramework::<AdjustmentNote>::with(())
            .given_no_previous_events()
            .when(AdjustmentCommand::Issue(issue(1)))
            .inspect_result()
            .unwrap();
        let AdjustmentEvent::AdjustmentNoteIssued(note) = &events[0];
        // -6.00 (VAT -0.60) + 5.60 (VAT 0.56): -0.40, VAT -0.04, -0.44.
        assert_eq!(
            (note.total_excl_vat, note.total_vat, note.total_incl_vat),
            (dec!(-0.40), dec!(-0.04), dec!(-0.44))
        );
        assert_eq!(note_number(note.number), "CN-2026-000001");
        TestFramework::<AdjustmentNote>::with(())
            .given(events.clone())
            .when(AdjustmentCommand::Issue(issue(1)))
            .then_expect_events(vec![]);
        TestFramework::<AdjustmentNote>::with(())
            .given(events)
            .when(AdjustmentCommand::Issue(issue(2)))
            .then_expect_error(AdjustmentError::AlreadyIssued(InvoiceNumber {
                year: 2026,
                sequence: 1,
            }));
    }

    #[test]
    fn notes_have_their_own_series() {
        let tenant = TenantId::default_tenant();
        assert_ne!(
            series_id(&tenant, 2026),
            crate::series::series_id(&tenant, 2026)
        );
    }
}
