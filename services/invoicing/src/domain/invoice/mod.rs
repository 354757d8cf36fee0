//! The Invoice aggregate: a receipt for one priced session, issued once under a number from its
//! [`InvoiceSeries`](crate::series::InvoiceSeries). The issued event carries the rounded lines and totals,
//! so the read model and the published message never recompute money.

use chrono::{DateTime, Datelike, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{AccountId, Currency, SessionId, TenantId};
use joule_store::Decider;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::receipt::{self, AmountOverflow, InvoiceLine, PricedLine};
use crate::series::InvoiceNumber;

/// Something about an issued invoice that needs a person's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceFlag {
    /// Pricing knew no account for the session. The receipt is issued anyway so the charge is on the
    /// books; someone has to assign it.
    NoAccount,
}

impl InvoiceFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceFlag::NoAccount => "no_account",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "no_account" => Some(InvoiceFlag::NoAccount),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceCommand {
    Issue(IssueInvoice),
}

/// Issue the receipt for one session under an already allocated number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueInvoice {
    pub number: InvoiceNumber,
    pub tenant_id: TenantId,
    pub account_id: Option<AccountId>,
    pub session_id: SessionId,
    pub currency: Currency,
    pub lines: Vec<PricedLine>,
    pub issued_at: DateTime<Utc>,
}

/// An issued invoice, as the event records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedInvoice {
    pub number: InvoiceNumber,
    pub tenant_id: TenantId,
    pub account_id: Option<AccountId>,
    pub session_ids: Vec<SessionId>,
    pub currency: Currency,
    pub lines: Vec<InvoiceLine>,
    pub total_excl_vat: Decimal,
    pub total_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub issued_at: DateTime<Utc>,
    pub flags: Vec<InvoiceFlag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvoiceEvent {
    InvoiceIssued(IssuedInvoice),
}

impl DomainEvent for InvoiceEvent {
    fn event_type(&self) -> String {
        match self {
            InvoiceEvent::InvoiceIssued(_) => "InvoiceIssued".into(),
        }
    }
    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    #[error(transparent)]
    AmountOverflow(#[from] AmountOverflow),
    #[error("the lines total {total} excl. VAT; a receipt cannot be negative")]
    NegativeTotal { total: Decimal },
    #[error("lines[{line}].vat_percent must not be negative, got {percent}")]
    NegativeVatPercent { line: usize, percent: Decimal },
    #[error("number {number} belongs to the series of another year than issued_at {issued_at}")]
    NumberOutsideYear {
        number: InvoiceNumber,
        issued_at: DateTime<Utc>,
    },
    #[error("the invoice is already issued as {issued}; it cannot become {requested}")]
    AlreadyIssued {
        issued: InvoiceNumber,
        requested: InvoiceNumber,
    },
}

/// The checks on priced lines that can refuse an issue. The issuer runs them before it allocates a
/// number too, because a number allocated to an invoice that is then refused would leave a gap.
///
/// A single line may be negative: pricing adds a negative `MAX_PRICE` line when a tariff's cap lowers
/// the total, so that the lines still add up to the price. The receipt as a whole may not be.
pub fn check_lines(lines: &[PricedLine]) -> Result<(), InvoiceError> {
    let total: Decimal = lines.iter().map(|l| l.amount_excl_vat).sum();
    if total < Decimal::ZERO {
        return Err(InvoiceError::NegativeTotal { total });
    }
    match receipt::negative_vat(lines) {
        Some((line, percent)) => Err(InvoiceError::NegativeVatPercent { line, percent }),
        None => Ok(()),
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    number: Option<InvoiceNumber>,
}

impl Invoice {
    /// The number the invoice was issued under; `None` while it is not issued.
    pub fn number(&self) -> Option<InvoiceNumber> {
        self.number
    }
}

impl Decider for Invoice {
    const TYPE: &'static str = "Invoice";
    type Command = InvoiceCommand;
    type Event = InvoiceEvent;
    type Error = InvoiceError;

    fn decide(&self, command: InvoiceCommand) -> Result<Vec<InvoiceEvent>, InvoiceError> {
        let InvoiceCommand::Issue(cmd) = command;
        match self.number {
            Some(issued) if issued == cmd.number => return Ok(vec![]),
            Some(issued) => {
                return Err(InvoiceError::AlreadyIssued {
                    issued,
                    requested: cmd.number,
                });
            }
            None => {}
        }
        check_lines(&cmd.lines)?;
        if cmd.issued_at.year() != cmd.number.year {
            return Err(InvoiceError::NumberOutsideYear {
                number: cmd.number,
                issued_at: cmd.issued_at,
            });
        }
        let (lines, totals) = receipt::rounded(&cmd.lines, cmd.currency, cmd.session_id)?;
        let flags = if cmd.account_id.is_none() {
            vec![InvoiceFlag::NoAccount]
        } else {
            vec![]
        };
        let issued = IssuedInvoice {
            number: cmd.number,
            tenant_id: cmd.tenant_id,
            account_id: cmd.account_id,
            session_ids: vec![cmd.session_id],
            currency: cmd.currency,
            lines,
            total_excl_vat: totals.excl_vat,
            total_vat: totals.vat,
            total_incl_vat: totals.incl_vat,
            issued_at: cmd.issued_at,
            flags,
        };
        Ok(vec![InvoiceEvent::InvoiceIssued(issued)])
    }

    fn evolve(&mut self, event: InvoiceEvent) {
        let InvoiceEvent::InvoiceIssued(issued) = event;
        self.number = Some(issued.number);
    }
}

#[cfg(test)]
mod tests;
