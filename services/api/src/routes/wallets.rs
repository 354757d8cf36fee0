//! Prepaid wallets, through the payments service: `POST /v1/wallets` {account_id, currency,
//! make_default}, `GET /v1/wallets?account_id=` (an account's wallets), `GET /v1/wallets/{id}`,
//! `POST /v1/wallets/{id}/top_ups` {amount, reference} or {amount, payment_method_id} (charged to a
//! saved card), `GET /v1/wallets/{id}/transactions` (the balance history). Writes need an
//! `Idempotency-Key` header; lists take `cursor` and `limit`.

use crate::reply::Created;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};

use super::table::RouteTable;
use crate::access::Scope;
use joule_domain::AccountId;
use joule_proto::v1;
use serde::{Deserialize, Serialize};

use super::payments::{Amount, SERVICE, account_page};
use super::registry::referenced_account;
use super::{Answer, AppState, listed, path_id};
use crate::auth::Caller;
use crate::extract::{ApiJson, Listed, PageQuery, RawQuery, idempotency_key};
use crate::problem::ApiError;

pub fn routes(t: RouteTable) -> RouteTable {
    t.post("/v1/wallets", Scope::WalletsWrite, create_wallet)
        .get("/v1/wallets", Scope::WalletsRead, list_wallets)
        .get("/v1/wallets/{id}", Scope::WalletsRead, get_wallet)
        .post("/v1/wallets/{id}/top_ups", Scope::WalletsWrite, top_up)
        .get(
            "/v1/wallets/{id}/transactions",
            Scope::WalletsRead,
            transactions,
        )
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WalletView {
    pub id: String,
    pub account_id: String,
    pub currency: String,
    pub balance: String,
    pub held: String,
    pub available: String,
}

fn wallet_view(w: v1::Wallet) -> WalletView {
    WalletView {
        id: w.id,
        account_id: w.account_id,
        currency: w.currency,
        balance: w.balance,
        held: w.held,
        available: w.available,
    }
}

fn wallet_id(raw: &str) -> Result<String, ApiError> {
    path_id::<uuid::Uuid>(raw, "wallet").map(|u| u.to_string())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub account_id: String,
    pub currency: String,
    #[serde(default)]
    pub make_default: bool,
}

async fn create_wallet(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Created<WalletView>, ApiError> {
    let key = idempotency_key(&headers)?;
    let account_id = body
        .account_id
        .parse::<AccountId>()
        .map_err(|e| ApiError::field("account_id", e.to_string()))?;
    let account = referenced_account(&state, &caller, Scope::WalletsWrite, account_id).await?;
    // A wallet pays the account's sessions, which are priced in the account's currency.
    if !body.currency.trim().eq_ignore_ascii_case(&account.currency) {
        return Err(ApiError::field(
            "currency",
            format!(
                "must be the currency of account {account_id}, {}",
                account.currency
            ),
        ));
    }
    let wallet = state
        .payments()
        .create_wallet(v1::CreateWalletRequest {
            tenant_id: caller.tenant.to_string(),
            idempotency_key: key,
            account_id: account_id.to_string(),
            currency: account.currency,
            make_default: body.make_default,
        })
        .await
        .answer(SERVICE)?;
    Ok(Created::new(wallet_view(wallet)))
}

async fn get_wallet(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<WalletView>, ApiError> {
    let wallet = state
        .payments()
        .get_wallet(v1::GetWalletRequest {
            tenant_id: caller.tenant.to_string(),
            wallet_id: wallet_id(&id)?,
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(wallet_view(wallet)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    pub amount: Amount,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub payment_method_id: String,
}

async fn top_up(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TopUpBody>,
) -> Result<Created<WalletView>, ApiError> {
    let wallet_id = wallet_id(&id)?;
    let key = idempotency_key(&headers)?;
    let wallet = state
        .payments()
        .top_up_wallet(v1::TopUpWalletRequest {
            tenant_id: caller.tenant.to_string(),
            idempotency_key: key,
            wallet_id,
            amount: body.amount.text(),
            currency: body.currency,
            reference: body.reference,
            payment_method_id: body.payment_method_id,
        })
        .await
        .answer(SERVICE)?;
    Ok(Created::new(wallet_view(wallet)))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TransactionView {
    pub sequence: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub amount: String,
    pub balance: String,
    pub held: String,
    pub reference: String,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
}

async fn list_wallets(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<super::payments::AccountQuery>,
) -> Result<Json<Listed<WalletView>>, ApiError> {
    let (account_id, page) = account_page(&query)?;
    let answer = state
        .payments()
        .list_wallets(v1::ListWalletsRequest {
            tenant_id: caller.tenant.to_string(),
            account_id: account_id.to_string(),
            page_size: page.limit,
            cursor: page.cursor.unwrap_or_default(),
        })
        .await
        .answer(SERVICE)?;
    let view = |w| Ok(wallet_view(w));
    listed(answer.wallets, answer.next_cursor, view).map(Json)
}

async fn transactions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: RawQuery<PageQuery>,
) -> Result<Json<Listed<TransactionView>>, ApiError> {
    let wallet_id = wallet_id(&id)?;
    query.checked().finish()?;
    let page = query.page()?;
    let answer = state
        .payments()
        .list_wallet_transactions(v1::ListWalletTransactionsRequest {
            tenant_id: caller.tenant.to_string(),
            wallet_id,
            page_size: page.limit,
            cursor: page.cursor.unwrap_or_default(),
        })
        .await
        .answer(SERVICE)?;
    let view = |t: v1::WalletTransaction| {
        Ok(TransactionView {
            occurred_at: joule_proto::time::from_proto(t.occurred_at.as_ref()),
            sequence: t.sequence,
            kind: t.r#type,
            amount: t.amount,
            balance: t.balance,
            held: t.held,
            reference: t.reference,
        })
    };
    listed(answer.transactions, answer.next_cursor, view).map(Json)
}
