//! The one mapping from an issued invoice to its wire form (`joule.v1.Invoice`), used by the published
//! `InvoiceIssued` and by the gRPC reads alike.

use joule_domain::InvoiceId;
use joule_proto::v1;
use rust_decimal::Decimal;

use crate::invoice::IssuedInvoice;
use crate::receipt::wire_amount;

pub const STATUS_ISSUED: &str = "issued";

pub fn invoice_to_proto(id: InvoiceId, invoice: &IssuedInvoice) -> v1::Invoice {
    let currency = invoice.currency;
    let plain = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
    v1::Invoice {
        id: id.to_string(),
        number: invoice.number.to_string(),
        status: STATUS_ISSUED.into(),
        account_id: invoice
            .account_id
            .map(|a| a.to_string())
            .unwrap_or_default(),
        currency: currency.to_string(),
        lines: invoice
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
