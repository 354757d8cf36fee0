//! The ledger for finance, read from the ledger service: `/v1/ledger/trial-balance[?as_of=]`,
//! the chart of accounts (`/v1/ledger/accounts`), the general ledger's postings with filters
//! (`/v1/ledger/postings`), its CSV export (`/v1/ledger/general-ledger.csv`) and a customer's
//! statement of account (`/v1/accounts/{id}/statement`).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use joule_proto::v1::{self, TrialBalanceRequest};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Answer, AppState, upstream_decimal};
use crate::auth::Caller;
use crate::extract::{Listed, RawQuery};
use crate::problem::{ApiError, Validator};
use crate::reply::Csv;

const SERVICE: &str = "ledger";

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TrialBalanceRowView {
    pub account: String,
    pub currency: String,
    pub debit: Decimal,
    pub credit: Decimal,
    /// Debit minus credit.
    pub balance: Decimal,
}

#[derive(Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TrialBalanceView {
    pub accounts: Vec<TrialBalanceRowView>,
    pub total_debit: Decimal,
    pub total_credit: Decimal,
}

pub fn trial_balance_view(tb: v1::TrialBalance) -> Result<TrialBalanceView, ApiError> {
    let row = |r: v1::TrialBalanceRow| -> Result<TrialBalanceRowView, ApiError> {
        Ok(TrialBalanceRowView {
            debit: upstream_decimal(SERVICE, "debit", &r.debit)?,
            credit: upstream_decimal(SERVICE, "credit", &r.credit)?,
            balance: upstream_decimal(SERVICE, "balance", &r.balance)?,
            account: r.account,
            currency: r.currency,
        })
    };
    Ok(TrialBalanceView {
        total_debit: upstream_decimal(SERVICE, "total_debit", &tb.total_debit)?,
        total_credit: upstream_decimal(SERVICE, "total_credit", &tb.total_credit)?,
        accounts: tb.rows.into_iter().map(row).collect::<Result<_, _>>()?,
    })
}

crate::query_params!(pub TrialBalanceQuery {
    "as_of": Time => "The balances as they stood at this time (postings at or before it); default: now.",
});

pub async fn trial_balance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<TrialBalanceQuery>,
) -> Result<Json<TrialBalanceView>, ApiError> {
    let mut v = query.checked();
    let as_of = query.time(&mut v, "as_of");
    v.finish()?;
    let request = TrialBalanceRequest {
        tenant_id: caller.tenant.to_string(),
        as_of: as_of.map(joule_proto::time::to_proto),
    };
    let tb = state
        .ledger()
        .get_trial_balance(request)
        .await
        .answer(SERVICE)?;
    trial_balance_view(tb).map(Json)
}

/// An account of the chart of accounts.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LedgerAccountView {
    pub code: String,
    pub name: String,
    /// `asset`, `liability`, `revenue`, `expense` or `memo` (payment holds, netting to zero).
    pub kind: String,
    /// The side its balance normally stands on: `debit` or `credit`.
    pub normal_balance: String,
}

/// `GET /v1/ledger/accounts`: every account the ledger posts to.
pub async fn accounts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Listed<LedgerAccountView>>, ApiError> {
    let chart = state
        .ledger()
        .get_chart_of_accounts(v1::ChartOfAccountsRequest {
            tenant_id: caller.tenant.to_string(),
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(Listed {
        data: chart
            .accounts
            .into_iter()
            .map(|a| LedgerAccountView {
                code: a.code,
                name: a.name,
                kind: a.kind,
                normal_balance: a.normal_balance,
            })
            .collect(),
        next_cursor: None,
    }))
}

/// One line of a journal entry.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PostingView {
    pub entry_id: String,
    pub line: u32,
    pub account: String,
    pub currency: String,
    pub debit: Decimal,
    pub credit: Decimal,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub posted_at: DateTime<Utc>,
    /// The document the entry records: `invoice`, `adjustment`, `payment`, `wallet`, `settlement`.
    pub source_type: String,
    pub source_id: String,
}

fn posting_view(p: v1::LedgerPosting) -> Result<PostingView, ApiError> {
    Ok(PostingView {
        debit: upstream_decimal(SERVICE, "debit", &p.debit)?,
        credit: upstream_decimal(SERVICE, "credit", &p.credit)?,
        posted_at: joule_proto::time::from_proto(p.posted_at.as_ref()).ok_or_else(|| {
            ApiError::UpstreamContract {
                service: SERVICE,
                reason: "a posting without posted_at".into(),
            }
        })?,
        entry_id: p.entry_id,
        line: p.line,
        account: p.account,
        currency: p.currency,
        source_type: p.source_type,
        source_id: p.source_id,
    })
}

crate::query_params!(pub PostingsQuery, list {
    "account": Text => "Postings to this account (`accounts_receivable`, ...).",
    "entry_id": Id => "The postings of this journal entry.",
    "source_type": Text => "Entries recording this kind of document (`invoice`, `adjustment`, `payment`, `wallet`, `settlement`).",
    "source_id": Text => "Entries recording this document.",
    "posted_after": Time => "Posted at or after this time.",
    "posted_before": Time => "Posted before this time.",
});

crate::query_params!(pub GeneralLedgerQuery {
    "account": Text => "Postings to this account.",
    "source_type": Text => "Entries recording this kind of document.",
    "source_id": Text => "Entries recording this document.",
    "posted_after": Time => "Posted at or after this time.",
    "posted_before": Time => "Posted before this time.",
});

/// The filters both reads of the postings take; a bad one is recorded in `v`.
fn postings_request<P>(
    query: &RawQuery<P>,
    v: &mut Validator,
    caller: &Caller,
) -> v1::ListPostingsRequest {
    let text = |name: &str| query.get(name).unwrap_or_default().to_owned();
    v1::ListPostingsRequest {
        tenant_id: caller.tenant.to_string(),
        account: text("account"),
        entry_id: query.proto_id(v, "entry_id"),
        source_type: text("source_type"),
        source_id: text("source_id"),
        posted_after: query
            .time(v, "posted_after")
            .map(joule_proto::time::to_proto),
        posted_before: query
            .time(v, "posted_before")
            .map(joule_proto::time::to_proto),
        cursor: String::new(),
        page_size: 0,
    }
}

/// `GET /v1/ledger/postings`: the general ledger, in the order it was posted.
pub async fn postings(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<PostingsQuery>,
) -> Result<Json<Listed<PostingView>>, ApiError> {
    let mut v = query.checked();
    let mut request = postings_request(&query, &mut v, &caller);
    v.finish()?;
    let page = query.page()?;
    request.cursor = page.cursor.unwrap_or_default();
    request.page_size = page.limit;
    let answer = state
        .ledger()
        .list_postings(request)
        .await
        .answer(SERVICE)?;
    Ok(Json(Listed {
        data: answer
            .postings
            .into_iter()
            .map(posting_view)
            .collect::<Result<_, _>>()?,
        next_cursor: Some(answer.next_cursor).filter(|c| !c.is_empty()),
    }))
}

/// The CSV export's header row: one row per posting follows.
pub const GENERAL_LEDGER_HEADER: &str =
    "posted_at,entry_id,line,account,debit,credit,currency,source_type,source_id\n";

fn csv_row(p: &v1::LedgerPosting) -> String {
    let posted_at = joule_proto::time::from_proto(p.posted_at.as_ref())
        .map(|t| crate::time::format(&t))
        .unwrap_or_default();
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    format!(
        "{posted_at},{},{},{},{},{},{},{},{}\n",
        field(&p.entry_id),
        p.line,
        field(&p.account),
        field(&p.debit),
        field(&p.credit),
        field(&p.currency),
        field(&p.source_type),
        field(&p.source_id)
    )
}

/// `GET /v1/ledger/general-ledger.csv`: every posting matching the filters, for an accounting
/// system, read page by page from the ledger as it is sent. A bad filter is a problem before any
/// row is sent; a failure in between ends the document early (it then lacks its last rows).
pub async fn general_ledger_csv(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<GeneralLedgerQuery>,
) -> Result<Csv, ApiError> {
    let mut v = query.checked();
    let mut request = postings_request(&query, &mut v, &caller);
    v.finish()?;
    request.page_size = 500;
    let client = state.ledger();
    let first = client
        .clone()
        .list_postings(request.clone())
        .await
        .answer(SERVICE)?;
    let header = futures::stream::once(async { Ok(GENERAL_LEDGER_HEADER.to_owned()) });
    let pages = futures::stream::unfold(Some(first), move |page| {
        let (mut client, mut request) = (client.clone(), request.clone());
        async move {
            let page = page?;
            let rows: String = page.postings.iter().map(csv_row).collect();
            let next = match page.next_cursor.as_str() {
                "" => None,
                cursor => {
                    request.cursor = cursor.to_owned();
                    match client.list_postings(request).await {
                        Ok(answer) => Some(answer.into_inner()),
                        Err(status) => {
                            tracing::warn!(%status, "general ledger export cut short");
                            return Some((Err(std::io::Error::other(status.to_string())), None));
                        }
                    }
                }
            };
            Some((Ok(rows), next))
        }
    });
    use futures::StreamExt;
    Ok(Csv {
        filename: "general-ledger.csv",
        body: axum::body::Body::from_stream(header.chain(pages)),
    })
}

/// A currency's balance of a statement.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatementBalanceView {
    pub currency: String,
    /// What the customer owed at the period's start, and at its end (negative: in credit).
    pub opening: Decimal,
    pub closing: Decimal,
}

/// An entry that moved what the customer owes.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatementLineView {
    pub entry_id: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub posted_at: DateTime<Utc>,
    /// `charge`, `credit_note`, `debit_note`, `payment`, `wallet_payment`, `refund`, `wallet_top_up`.
    pub r#type: String,
    pub source_type: String,
    pub source_id: String,
    pub description: String,
    pub currency: String,
    /// Added to what the customer owes.
    pub debit: Decimal,
    /// Taken from it.
    pub credit: Decimal,
    /// What it owes in this currency after this line.
    pub balance: Decimal,
}

/// A customer's statement of account: its receivable entry by entry over a period.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatementView {
    pub account_id: String,
    pub balances: Vec<StatementBalanceView>,
    pub lines: Vec<StatementLineView>,
}

crate::query_params!(pub StatementQuery {
    "from": Time => "The period's start (entries posted at or after it); default: the first.",
    "to": Time => "The period's end (entries posted before it); default: now.",
});

/// `GET /v1/accounts/{id}/statement`.
pub async fn statement(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: RawQuery<StatementQuery>,
) -> Result<Json<StatementView>, ApiError> {
    let account: joule_domain::AccountId = super::path_id(&id, "account")?;
    let mut v = query.checked();
    let (from, to) = (query.time(&mut v, "from"), query.time(&mut v, "to"));
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        v.reject("to", "must not be before from");
    }
    v.finish()?;
    let known: Option<crate::projections::read::AccountView> =
        crate::projections::read::get(&state.pool, &caller.tenant, account.as_uuid()).await?;
    if known.is_none() {
        return Err(ApiError::NotFound(format!("no account with id {account}")));
    }
    let answer = state
        .ledger()
        .get_account_statement(v1::AccountStatementRequest {
            tenant_id: caller.tenant.to_string(),
            account_id: account.to_string(),
            from: from.map(joule_proto::time::to_proto),
            to: to.map(joule_proto::time::to_proto),
        })
        .await
        .answer(SERVICE)?;
    let decimal = |field: &str, raw: &str| upstream_decimal(SERVICE, field, raw);
    Ok(Json(StatementView {
        account_id: answer.account_id,
        balances: answer
            .balances
            .into_iter()
            .map(|b| {
                Ok(StatementBalanceView {
                    opening: decimal("opening", &b.opening)?,
                    closing: decimal("closing", &b.closing)?,
                    currency: b.currency,
                })
            })
            .collect::<Result<_, ApiError>>()?,
        lines: answer
            .lines
            .into_iter()
            .map(|l| {
                Ok(StatementLineView {
                    debit: decimal("debit", &l.debit)?,
                    credit: decimal("credit", &l.credit)?,
                    balance: decimal("balance", &l.balance)?,
                    posted_at: joule_proto::time::from_proto(l.posted_at.as_ref()).ok_or_else(
                        || ApiError::UpstreamContract {
                            service: SERVICE,
                            reason: "a statement line without posted_at".into(),
                        },
                    )?,
                    entry_id: l.entry_id,
                    r#type: l.r#type,
                    source_type: l.source_type,
                    source_id: l.source_id,
                    description: l.description,
                    currency: l.currency,
                })
            })
            .collect::<Result<_, ApiError>>()?,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_become_accounts_with_string_amounts() {
        let tb = v1::TrialBalance {
            rows: vec![
                v1::TrialBalanceRow {
                    account: "accounts_receivable".into(),
                    currency: "EUR".into(),
                    debit: "4.40".into(),
                    credit: "0".into(),
                    balance: "4.40".into(),
                },
                v1::TrialBalanceRow {
                    account: "vat_payable".into(),
                    currency: "EUR".into(),
                    debit: "0".into(),
                    credit: "0.70".into(),
                    balance: "-0.70".into(),
                },
            ],
            total_debit: "4.40".into(),
            total_credit: "4.40".into(),
        };
        let value = serde_json::to_value(trial_balance_view(tb).unwrap()).unwrap();
        assert_eq!(
            value,
            json!({
                "accounts": [
                    {"account": "accounts_receivable", "currency": "EUR", "debit": "4.40", "credit": "0", "balance": "4.40"},
                    {"account": "vat_payable", "currency": "EUR", "debit": "0", "credit": "0.70", "balance": "-0.70"}
                ],
                "total_debit": "4.40",
                "total_credit": "4.40"
            })
        );
    }
}
