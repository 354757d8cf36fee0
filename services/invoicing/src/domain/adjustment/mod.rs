//! Adjustment notes: when pricing re-rates a session (`SessionPriceAdjusted`), invoicing issues a
//! document for the difference — a credit note when the price went down, an additional charge when it
//! went up — instead of touching the receipt already issued.
//!
//! Notes have their own gapless series per tenant and year (`CN-<YYYY>-<NNNNNN>`), allocated with the
//! same [`InvoiceSeries`](crate::series::InvoiceSeries) aggregate as receipts under another series id. Lines are rounded with the
//! domain's invoice-line and tax rules; totals may be negative. The `AdjustmentNote` aggregate is
//! published as `AdjustmentIssued` on `invoice.<id>.adjusted` and kept in `adjustment_notes`
//! ([`crate::projections`]).

use chrono::{DateTime, Datelike, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{AccountId, Currency, InvoiceId, SessionId, TenantId};
use joule_store::Decider;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::receipt::{self, AmountOverflow, InvoiceLine, PricedLine};
use crate::series::InvoiceNumber;

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
    AmountOverflow(#[from] AmountOverflow),
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

/// The checks on priced lines that can refuse a note (its total may be negative). The issuer runs
/// them before it allocates a number, so that a refused note leaves no gap.
pub fn check(lines: &[PricedLine]) -> Result<(), AdjustmentError> {
    match receipt::negative_vat(lines) {
        Some((line, percent)) => Err(AdjustmentError::NegativeVatPercent { line, percent }),
        None => Ok(()),
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentNote {
    number: Option<InvoiceNumber>,
}

impl AdjustmentNote {
    /// The number the note was issued under; `None` while it is not issued.
    pub fn number(&self) -> Option<InvoiceNumber> {
        self.number
    }
}

impl Decider for AdjustmentNote {
    const TYPE: &'static str = "AdjustmentNote";
    type Command = AdjustmentCommand;
    type Event = AdjustmentEvent;
    type Error = AdjustmentError;

    fn decide(&self, command: AdjustmentCommand) -> Result<Vec<AdjustmentEvent>, AdjustmentError> {
        let AdjustmentCommand::Issue(cmd) = command;
        match self.number {
            Some(n) if n == cmd.number => return Ok(vec![]),
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
        let (lines, totals) = receipt::rounded(&cmd.lines, cmd.currency, cmd.session_id)?;
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
        Ok(vec![AdjustmentEvent::AdjustmentNoteIssued(issued)])
    }

    fn evolve(&mut self, event: AdjustmentEvent) {
        let AdjustmentEvent::AdjustmentNoteIssued(issued) = event;
        self.number = Some(issued.number);
    }
}

#[cfg(test)]
mod tests;
