//! `GET /v1/transactions`: one list of a tenant's customer transactions (charges, credit and debit
//! notes, payments, refunds, wallet top-ups and wallet payments), read from the ledger, oldest
//! first, with filters `account_id`, `fleet_id`, `cost_centre_id` (of the session's token when it
//! started, ADR 037), `type` (comma-separated), `created_after`, `created_before` and a cursor. A
//! fleet manager reads her fleets' sessions' transactions only.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use joule_domain::AccountId;
use joule_proto::v1;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Answer, AppState, listed, upstream_decimal};

use super::reach::Reach;
use crate::access::Scope;
use crate::auth::Caller;
use crate::extract::{Listed, RawQuery};
use crate::problem::ApiError;

const SERVICE: &str = "ledger";

crate::query_params!(pub TransactionQuery, list {
    "account_id": Id => "Transactions of this account.",
    "fleet_id": Id => "Of sessions this fleet held at their start.",
    "cost_centre_id": Id => "Of sessions this cost centre held at their start.",
    "type": Text => "charge, credit_note, debit_note, payment, wallet_payment, refund or wallet_top_up; comma-separated for several.",
    "created_after": Time => "Created at or after this time.",
    "created_before": Time => "Created before this time.",
});

/// One transaction as the API shows it.
#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TransactionView {
    pub id: String,
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Never negative; the type says what it does.
    pub amount: Decimal,
    pub currency: String,
    pub source_type: String,
    pub source_id: String,
    pub session_id: Option<String>,
    pub description: String,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub created_at: Option<DateTime<Utc>>,
}

fn view(t: v1::Transaction) -> Result<TransactionView, ApiError> {
    Ok(TransactionView {
        amount: upstream_decimal(SERVICE, "amount", &t.amount)?,
        created_at: joule_proto::time::from_proto(t.occurred_at.as_ref()),
        session_id: Some(t.session_id).filter(|s| !s.is_empty()),
        id: t.id,
        account_id: t.account_id,
        kind: t.r#type,
        currency: t.currency,
        source_type: t.source_type,
        source_id: t.source_id,
        description: t.description,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<TransactionQuery>,
) -> Result<Json<Listed<TransactionView>>, ApiError> {
    let mut v = query.checked();
    let occurred_after = query.proto_time(&mut v, "created_after");
    let occurred_before = query.proto_time(&mut v, "created_before");
    let account = query.get("account_id").and_then(|raw| {
        v.check(
            "account_id",
            raw.parse::<AccountId>().map_err(|e| e.to_string()),
        )
    });
    let fleet_id = query.proto_id(&mut v, "fleet_id");
    let cost_centre_id = query.proto_id(&mut v, "cost_centre_id");
    v.finish()?;
    // A fleet manager reads the transactions of her fleets' sessions only.
    let within_fleets = Reach::of(&caller, Scope::TransactionsRead, "transactions")?.fleets;
    let page = query.page()?;
    let request = v1::ListTransactionsRequest {
        tenant_id: caller.tenant.to_string(),
        account_id: account.map(|a| a.to_string()).unwrap_or_default(),
        types: query
            .get("type")
            .map(|t| t.split(',').map(|t| t.trim().to_owned()).collect())
            .unwrap_or_default(),
        occurred_after,
        occurred_before,
        cursor: page.cursor.unwrap_or_default(),
        page_size: page.limit,
        fleet_id,
        cost_centre_id,
        within_fleets,
    };
    let page = state
        .ledger()
        .list_transactions(request)
        .await
        .map_err(|status| match status.message().strip_prefix("types: ") {
            // The ledger's field is `types`; this list's parameter is `type`.
            Some(reason) if status.code() == tonic::Code::InvalidArgument => {
                tonic::Status::invalid_argument(format!("type: {reason}"))
            }
            _ => status,
        })
        .answer(SERVICE)?;
    listed(page.transactions, page.next_cursor, view).map(Json)
}
