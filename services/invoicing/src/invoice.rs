//! The Invoice aggregate: a receipt for one priced session, issued once under a number from its
//! [`InvoiceSeries`](crate::series::InvoiceSeries). The issued event carries the rounded lines and totals,
//! so the read model and the published message never recompute money.

use chrono::{DateTime, Datelike, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::{AccountId, Currency, SessionId, TenantId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::receipt::{InvoiceLine, PricedLine, Totals};
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
    AmountOverflow(#[from] crate::receipt::AmountOverflow),
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
    for (line, priced) in lines.iter().enumerate() {
        if let Some(percent) = priced.vat_percent.filter(|p| *p < Decimal::ZERO) {
            return Err(InvoiceError::NegativeVatPercent { line, percent });
        }
    }
    Ok(())
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

impl Aggregate for Invoice {
    const TYPE: &'static str = "Invoice";
    type Command = InvoiceCommand;
    type Event = InvoiceEvent;
    type Error = InvoiceError;
    type Services = ();

    async fn handle(
        &mut self,
        command: InvoiceCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), InvoiceError> {
        let InvoiceCommand::Issue(cmd) = command;
        match self.number {
            Some(issued) if issued == cmd.number => return Ok(()),
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
        let lines: Vec<InvoiceLine> = cmd
            .lines
            .iter()
            .map(|l| InvoiceLine::from_priced(l, cmd.currency, cmd.session_id))
            .collect::<Result<_, _>>()?;
        let totals = Totals::of(&lines)?;
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
        sink.write(InvoiceEvent::InvoiceIssued(issued), self).await;
        Ok(())
    }

    fn apply(&mut self, event: InvoiceEvent) {
        match event {
            InvoiceEvent::InvoiceIssued(issued) => self.number = Some(issued.number),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use rust_decimal_macros::dec;

    type Invoices = TestFramework<Invoice>;

    fn number(sequence: u64) -> InvoiceNumber {
        InvoiceNumber {
            year: 2026,
            sequence,
        }
    }

    fn line(amount: Decimal, vat: Option<Decimal>) -> PricedLine {
        PricedLine {
            description: "Energy".into(),
            quantity: Some(dec!(10.5)),
            unit: "kWh".into(),
            unit_price: Some(dec!(0.3999)),
            vat_percent: vat,
            amount_excl_vat: amount,
        }
    }

    fn issue(sequence: u64, account: Option<AccountId>, lines: Vec<PricedLine>) -> IssueInvoice {
        IssueInvoice {
            number: number(sequence),
            tenant_id: TenantId::default_tenant(),
            account_id: account,
            session_id: SessionId::derived("cp1/7"),
            currency: Currency::EUR,
            lines,
            issued_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        }
    }

    fn issued_event(cmd: &IssueInvoice) -> InvoiceEvent {
        let mut events = Invoices::with(())
            .given_no_previous_events()
            .when(InvoiceCommand::Issue(cmd.clone()))
            .inspect_result()
            .expect("issued");
        assert_eq!(events.len(), 1);
        events.remove(0)
    }

    #[test]
    fn issuing_rounds_lines_and_sums_totals() {
        let account = AccountId::derived("acme");
        // 4.19895 -> 4.20, VAT 19 % of 4.20 = 0.798 -> 0.80; 1.004 -> 1.00, VAT 0.19; no VAT: 0.005 -> 0.01.
        let cmd = issue(
            1,
            Some(account),
            vec![
                line(dec!(4.19895), Some(dec!(19))),
                line(dec!(1.004), Some(dec!(19))),
                line(dec!(0.005), None),
            ],
        );
        let InvoiceEvent::InvoiceIssued(issued) = issued_event(&cmd);
        let amounts: Vec<_> = issued
            .lines
            .iter()
            .map(|l| (l.amount_excl_vat, l.vat, l.amount_incl_vat))
            .collect();
        assert_eq!(
            amounts,
            vec![
                (dec!(4.20), dec!(0.80), dec!(5.00)),
                (dec!(1.00), dec!(0.19), dec!(1.19)),
                (dec!(0.01), dec!(0), dec!(0.01))
            ]
        );
        assert_eq!(
            (
                issued.total_excl_vat,
                issued.total_vat,
                issued.total_incl_vat
            ),
            (dec!(5.21), dec!(0.99), dec!(6.20))
        );
        assert_eq!(issued.number, number(1));
        assert_eq!(issued.account_id, Some(account));
        assert_eq!(issued.session_ids, vec![SessionId::derived("cp1/7")]);
        assert!(issued.flags.is_empty());
    }

    #[test]
    fn a_session_without_account_is_still_issued_and_flagged() {
        let InvoiceEvent::InvoiceIssued(issued) =
            issued_event(&issue(1, None, vec![line(dec!(3), Some(dec!(20)))]));
        assert_eq!(issued.account_id, None);
        assert_eq!(issued.flags, vec![InvoiceFlag::NoAccount]);
        assert_eq!(issued.total_incl_vat, dec!(3.60));
    }

    #[test]
    fn issuing_again_under_the_same_number_emits_nothing() {
        let cmd = issue(1, None, vec![line(dec!(3), None)]);
        let first = issued_event(&cmd);
        Invoices::with(())
            .given(vec![first])
            .when(InvoiceCommand::Issue(cmd))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_issued_invoice_never_takes_a_second_number() {
        let first = issued_event(&issue(1, None, vec![line(dec!(3), None)]));
        Invoices::with(())
            .given(vec![first])
            .when(InvoiceCommand::Issue(issue(
                2,
                None,
                vec![line(dec!(3), None)],
            )))
            .then_expect_error(InvoiceError::AlreadyIssued {
                issued: number(1),
                requested: number(2),
            });
    }

    #[test]
    fn a_negative_total_is_refused_but_a_negative_cap_line_is_not() {
        Invoices::with(())
            .given_no_previous_events()
            .when(InvoiceCommand::Issue(issue(
                1,
                None,
                vec![line(dec!(1), None), line(dec!(-1.01), None)],
            )))
            .then_expect_error_message(
                "the lines total -0.01 excl. VAT; a receipt cannot be negative",
            );
        let issued = Invoices::with(())
            .given_no_previous_events()
            .when(InvoiceCommand::Issue(issue(
                1,
                None,
                vec![line(dec!(12), None), line(dec!(-2), None)],
            )))
            .inspect_result()
            .expect("a capped receipt is issued");
        let InvoiceEvent::InvoiceIssued(invoice) = &issued[0];
        assert_eq!(invoice.total_excl_vat, dec!(10.00));
        Invoices::with(())
            .given_no_previous_events()
            .when(InvoiceCommand::Issue(issue(
                1,
                None,
                vec![line(dec!(1), Some(dec!(-5)))],
            )))
            .then_expect_error(InvoiceError::NegativeVatPercent {
                line: 0,
                percent: dec!(-5),
            });
    }

    #[test]
    fn the_number_must_come_from_the_year_of_issue() {
        let mut cmd = issue(1, None, vec![]);
        cmd.number = InvoiceNumber {
            year: 2025,
            sequence: 1,
        };
        Invoices::with(())
            .given_no_previous_events()
            .when(InvoiceCommand::Issue(cmd.clone()))
            .then_expect_error(InvoiceError::NumberOutsideYear {
                number: cmd.number,
                issued_at: cmd.issued_at,
            });
    }

    #[test]
    fn a_session_priced_at_zero_gets_a_zero_receipt() {
        let InvoiceEvent::InvoiceIssued(issued) = issued_event(&issue(1, None, vec![]));
        assert!(issued.lines.is_empty());
        assert_eq!(issued.total_incl_vat, Decimal::ZERO);
    }
}
