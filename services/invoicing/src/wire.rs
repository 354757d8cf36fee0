//! The proto mapping, in one place: issued documents to their wire form (`joule.v1.Invoice`, used by
//! the published `InvoiceIssued` and `AdjustmentIssued` and by the gRPC reads alike), and the
//! fields of pricing's messages (`SessionPriced`, `SessionPriceAdjusted`) read into the domain,
//! each error naming its field.

use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use joule_domain::{AccountId, Currency, InvoiceId, SessionId, TenantId};
use joule_proto::v1;
use rust_decimal::Decimal;

use crate::domain::adjustment::{IssuedAdjustment, note_number};
use crate::domain::invoice::IssuedInvoice;
use crate::domain::receipt::{InvoiceLine, PricedLine};

pub const STATUS_ISSUED: &str = "issued";
pub const STATUS_ADJUSTMENT: &str = "adjustment";

/// An amount as it travels on the wire: padded to the currency's minor unit ("12.30", not "12.3").
/// Only pads: the amounts it sees are already rounded, and it never changes a value.
pub fn wire_amount(amount: Decimal, currency: Currency) -> String {
    let mut padded = amount;
    if padded.scale() < currency.minor_units() {
        padded.rescale(currency.minor_units());
    }
    padded.to_string()
}

/// A decimal that is not an amount (quantity, unit price, VAT percentage) as it was priced,
/// without trailing zeros; empty when there is none.
fn plain(d: Option<Decimal>) -> String {
    d.map(|d| d.normalize().to_string()).unwrap_or_default()
}

fn line_to_proto(l: &InvoiceLine, currency: Currency) -> v1::InvoiceLine {
    v1::InvoiceLine {
        description: l.description.clone(),
        quantity: plain(l.quantity),
        unit: l.unit.clone(),
        unit_price: plain(l.unit_price),
        vat_percent: plain(l.vat_percent),
        amount_excl_vat: wire_amount(l.amount_excl_vat, currency),
        vat: wire_amount(l.vat, currency),
        amount_incl_vat: wire_amount(l.amount_incl_vat, currency),
        session_id: l.session_id.to_string(),
    }
}

fn account(account_id: Option<AccountId>) -> String {
    account_id.map(|a| a.to_string()).unwrap_or_default()
}

pub fn invoice_to_proto(id: InvoiceId, invoice: &IssuedInvoice) -> v1::Invoice {
    let currency = invoice.currency;
    v1::Invoice {
        id: id.to_string(),
        number: invoice.number.to_string(),
        status: STATUS_ISSUED.into(),
        account_id: account(invoice.account_id),
        currency: currency.to_string(),
        lines: invoice
            .lines
            .iter()
            .map(|l| line_to_proto(l, currency))
            .collect(),
        total_excl_vat: wire_amount(invoice.total_excl_vat, currency),
        total_vat: wire_amount(invoice.total_vat, currency),
        total_incl_vat: wire_amount(invoice.total_incl_vat, currency),
        session_ids: invoice
            .session_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
        issued_at: Some(joule_proto::time::to_proto(invoice.issued_at)),
    }
}

/// The wire form of a note: a `joule.v1.Invoice` with status `adjustment`.
pub fn note_to_proto(id: InvoiceId, note: &IssuedAdjustment) -> v1::Invoice {
    let currency = note.currency;
    v1::Invoice {
        id: id.to_string(),
        number: note_number(note.number),
        status: STATUS_ADJUSTMENT.into(),
        account_id: account(note.account_id),
        currency: currency.to_string(),
        lines: note
            .lines
            .iter()
            .map(|l| line_to_proto(l, currency))
            .collect(),
        total_excl_vat: wire_amount(note.total_excl_vat, currency),
        total_vat: wire_amount(note.total_vat, currency),
        total_incl_vat: wire_amount(note.total_incl_vat, currency),
        session_ids: vec![note.session_id.to_string()],
        issued_at: Some(joule_proto::time::to_proto(note.issued_at)),
    }
}

/// A field of a pricing message that breaks the contract, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl ToString) -> Self {
        Self {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// The tenant a message or request names; `default` when it names none.
pub fn tenant(raw: &str, default: &TenantId) -> Result<TenantId, FieldError> {
    match raw {
        "" => Ok(default.clone()),
        t => t.parse().map_err(|e| FieldError::new("tenant_id", e)),
    }
}

pub fn session_id(raw: &str) -> Result<SessionId, FieldError> {
    raw.parse().map_err(|e| FieldError::new("session_id", e))
}

/// The account a message names; empty is none.
pub fn account_id(raw: &str) -> Result<Option<AccountId>, FieldError> {
    match raw {
        "" => Ok(None),
        a => a
            .parse()
            .map(Some)
            .map_err(|e| FieldError::new("account_id", e)),
    }
}

pub fn currency(raw: &str) -> Result<Currency, FieldError> {
    raw.parse().map_err(|e| FieldError::new("currency", e))
}

/// The price lines of a message, each amount read as the decimal pricing computed.
pub fn priced_lines(lines: &[v1::PriceLine]) -> Result<Vec<PricedLine>, FieldError> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| priced_line(i, l))
        .collect()
}

fn priced_line(index: usize, line: &v1::PriceLine) -> Result<PricedLine, FieldError> {
    let optional = |name: &str, value: &str| -> Result<Option<Decimal>, FieldError> {
        match value.trim() {
            "" => Ok(None),
            v => Decimal::from_str(v).map(Some).map_err(|e| {
                FieldError::new(
                    format!("lines[{index}].{name}"),
                    format!("{v:?} is not a decimal: {e}"),
                )
            }),
        }
    };
    let amount_excl_vat = optional("amount_excl_vat", &line.amount_excl_vat)?
        .ok_or_else(|| FieldError::new(format!("lines[{index}].amount_excl_vat"), "is required"))?;
    let description = if line.description.is_empty() {
        line.dimension.clone()
    } else {
        line.description.clone()
    };
    Ok(PricedLine {
        description,
        quantity: optional("volume", &line.volume)?,
        unit: line.unit.clone(),
        unit_price: optional("unit_price", &line.unit_price)?,
        vat_percent: optional("vat_percent", &line.vat_percent)?,
        amount_excl_vat,
    })
}

/// When a priced message's document is issued: when the message's event occurred, else its own
/// time (`fallback`), else now. The read model keeps microseconds; so do the event and the
/// published message, so all agree.
pub fn issued_at(
    envelope: &v1::Envelope,
    fallback: Option<&joule_proto::Timestamp>,
) -> DateTime<Utc> {
    joule_proto::time::from_proto(envelope.occurred_at.as_ref())
        .or_else(|| joule_proto::time::from_proto(fallback))
        .unwrap_or_else(Utc::now)
        .trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn wire_amounts_are_padded_never_changed() {
        assert_eq!(wire_amount(dec!(12.3), Currency::EUR), "12.30");
        assert_eq!(wire_amount(dec!(7), Currency::EUR), "7.00");
        assert_eq!(wire_amount(dec!(0.01), Currency::EUR), "0.01");
        assert_eq!(wire_amount(dec!(5), "JPY".parse().unwrap()), "5");
    }
}
