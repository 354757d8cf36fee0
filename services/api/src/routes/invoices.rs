//! `/v1/invoices`: invoices and receipts, read from the invoicing service; a fleet manager reads
//! those of her fleets' sessions, a driver his own receipts ([`Reach`]).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use joule_domain::{AccountId, InvoiceId, SessionId};
use joule_proto::v1::{self, GetInvoiceRequest, ListInvoicesRequest};
use rust_decimal::Decimal;
use serde::Serialize;

use super::reach::Reach;
use super::{
    Answer, AppState, listed, money, non_empty, optional_decimal, path_id, upstream_decimal,
};
use crate::access::Scope;
use crate::auth::Caller;
use crate::extract::{Listed, RawQuery};
use crate::problem::ApiError;

const SERVICE: &str = "invoicing";

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct InvoiceLineView {
    pub description: String,
    pub quantity: Decimal,
    pub unit: String,
    pub unit_price: Decimal,
    pub vat_percent: Option<Decimal>,
    pub amount_excl_vat: Decimal,
    pub vat: Decimal,
    pub amount_incl_vat: Decimal,
    pub session_id: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct InvoiceView {
    pub id: String,
    pub number: String,
    pub status: String,
    pub currency: String,
    pub account_id: String,
    pub lines: Vec<InvoiceLineView>,
    pub total_excl_vat: Decimal,
    pub total_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub session_ids: Vec<String>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub issued_at: Option<DateTime<Utc>>,
}

fn line_view(l: v1::InvoiceLine, currency: &str) -> Result<InvoiceLineView, ApiError> {
    let amount =
        |field, raw: &str| upstream_decimal(SERVICE, field, raw).map(|d| money(currency, d));
    Ok(InvoiceLineView {
        quantity: upstream_decimal(SERVICE, "quantity", &l.quantity)?,
        unit_price: amount("unit_price", &l.unit_price)?,
        vat_percent: optional_decimal(SERVICE, "vat_percent", &l.vat_percent)?,
        amount_excl_vat: amount("amount_excl_vat", &l.amount_excl_vat)?,
        vat: amount("vat", &l.vat)?,
        amount_incl_vat: amount("amount_incl_vat", &l.amount_incl_vat)?,
        session_id: non_empty(&l.session_id).map(str::to_owned),
        description: l.description,
        unit: l.unit,
    })
}

pub fn invoice_view(i: v1::Invoice) -> Result<InvoiceView, ApiError> {
    let currency = i.currency.as_str();
    let amount =
        |field, raw: &str| upstream_decimal(SERVICE, field, raw).map(|d| money(currency, d));
    Ok(InvoiceView {
        total_excl_vat: amount("total_excl_vat", &i.total_excl_vat)?,
        total_vat: amount("total_vat", &i.total_vat)?,
        total_incl_vat: amount("total_incl_vat", &i.total_incl_vat)?,
        issued_at: joule_proto::time::from_proto(i.issued_at.as_ref()),
        lines: i
            .lines
            .into_iter()
            .map(|l| line_view(l, currency))
            .collect::<Result<_, _>>()?,
        id: i.id,
        number: i.number,
        status: i.status,
        currency: i.currency,
        account_id: i.account_id,
        session_ids: i.session_ids,
    })
}

crate::query_params!(pub InvoiceQuery, list {
    "account_id": Id => "Receipts of this account.",
    "session_id": Id => "The receipt of this session.",
    "fleet_id": Id => "Receipts of sessions this fleet held at their start.",
    "driver_id": Id => "Receipts of sessions this driver held at their start.",
    "created_after": Time => "Issued at or after this time.",
    "created_before": Time => "Issued before this time.",
});

pub async fn list_invoices(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<InvoiceQuery>,
) -> Result<Json<Listed<InvoiceView>>, ApiError> {
    let mut v = query.checked();
    let account_id = query
        .get("account_id")
        .and_then(|a| v.check("account_id", a.parse::<AccountId>()));
    let session_id = query
        .get("session_id")
        .and_then(|s| v.check("session_id", s.parse::<SessionId>()));
    let fleet_id = query.proto_id(&mut v, "fleet_id");
    let driver_id = query.proto_id(&mut v, "driver_id");
    let issued_after = query.proto_time(&mut v, "created_after");
    let issued_before = query.proto_time(&mut v, "created_before");
    v.finish()?;
    let page = query.page()?;
    let reach = Reach::of(&caller, Scope::InvoicesRead, "invoices")?;
    let request = ListInvoicesRequest {
        tenant_id: caller.tenant.to_string(),
        account_id: account_id.map(|a| a.to_string()).unwrap_or_default(),
        page_size: page.limit,
        cursor: page.cursor.unwrap_or_default(),
        issued_after,
        issued_before,
        session_id: session_id.map(|s| s.to_string()).unwrap_or_default(),
        fleet_id,
        driver_id,
        within_fleets: reach.fleets,
        within_driver: reach.driver,
    };
    let response = state
        .invoicing()
        .list_invoices(request)
        .await
        .answer(SERVICE)?;
    listed(response.invoices, response.next_cursor, invoice_view).map(Json)
}

pub async fn get_invoice(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    let invoice_id: InvoiceId = path_id(&id, "invoice")?;
    // Beyond a fleet manager's or a driver's reach, invoicing finds none: a 404.
    let reach = Reach::of(&caller, Scope::InvoicesRead, "invoices")?;
    let request = GetInvoiceRequest {
        tenant_id: caller.tenant.to_string(),
        invoice_id: invoice_id.to_string(),
        within_fleets: reach.fleets,
        within_driver: reach.driver,
    };
    let invoice = state
        .invoicing()
        .get_invoice(request)
        .await
        .answer(SERVICE)?;
    invoice_view(invoice).map(Json)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn invoice() -> v1::Invoice {
        v1::Invoice {
            id: "i1".into(),
            number: "2024-000001".into(),
            status: "issued".into(),
            account_id: "a1".into(),
            currency: "EUR".into(),
            lines: vec![v1::InvoiceLine {
                description: "Energy".into(),
                quantity: "12.345".into(),
                unit: "kWh".into(),
                unit_price: "0.30".into(),
                vat_percent: "19".into(),
                amount_excl_vat: "3.70".into(),
                vat: "0.70".into(),
                amount_incl_vat: "4.40".into(),
                session_id: "s1".into(),
            }],
            total_excl_vat: "3.70".into(),
            total_vat: "0.70".into(),
            total_incl_vat: "4.40".into(),
            session_ids: vec!["s1".into()],
            issued_at: Some(joule_proto::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
        }
    }

    #[test]
    fn amounts_are_strings_and_times_rfc3339() {
        let value = serde_json::to_value(invoice_view(invoice()).unwrap()).unwrap();
        assert_eq!(value["total_incl_vat"], json!("4.40"));
        assert_eq!(value["issued_at"], json!("2023-11-14T22:13:20.000000Z"));
        assert_eq!(
            value["lines"][0],
            json!({
                "description": "Energy", "quantity": "12.345", "unit": "kWh", "unit_price": "0.30",
                "vat_percent": "19", "amount_excl_vat": "3.70", "vat": "0.70", "amount_incl_vat": "4.40",
                "session_id": "s1"
            })
        );
        assert_eq!(value["session_ids"], json!(["s1"]));
    }

    #[test]
    fn a_line_without_vat_has_null_vat_percent() {
        let mut i = invoice();
        i.lines[0].vat_percent = String::new();
        let value = serde_json::to_value(invoice_view(i).unwrap()).unwrap();
        assert_eq!(value["lines"][0]["vat_percent"], json!(null));
    }

    #[test]
    fn a_missing_total_is_an_upstream_failure() {
        let i = v1::Invoice {
            total_vat: String::new(),
            ..invoice()
        };
        assert!(matches!(
            invoice_view(i),
            Err(ApiError::UpstreamContract { .. })
        ));
    }
}
