//! Payments, through the payments service's `joule.v1.PaymentsService`:
//!
//! - `POST /v1/payment_methods`, `GET /v1/payment_methods?account_id=`: saved provider tokens.
//! - `GET /v1/payments?session_id=&account_id=&cursor=&limit=`, `GET /v1/payments/{id}`: intents with
//!   their event history.
//! - `POST /v1/payments/{id}/refunds`, `/capture`, `/void`, `/extend`: money movements.
//! - `POST /v1/settlements`: a provider's settlement report (CSV or JSON).
//! - Wallets: see [`super::wallets`].
//!
//! Every POST needs an `Idempotency-Key` header: the same key with the same body answers as the first
//! time; with another body it is a 409. Amounts are decimal strings (numbers are accepted).

use crate::reply::Created;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};

use super::table::RouteTable;
use crate::access::Scope;
use joule_domain::AccountId;
use joule_proto::v1;
use serde::{Deserialize, Serialize};

use super::registry::referenced_account;
use super::{Answer, AppState, listed, path_id};
use crate::auth::Caller;
use crate::extract::{ApiJson, Listed, Page, RawQuery, idempotency_key};
use crate::problem::ApiError;

pub(super) const SERVICE: &str = "payments";

/// `bulk`: the body limit of settlement reports.
pub fn routes(t: RouteTable) -> RouteTable {
    t.get(
        "/v1/payment_methods",
        Scope::PaymentsRead,
        list_payment_methods,
    )
    .post(
        "/v1/payment_methods",
        Scope::PaymentsWrite,
        save_payment_method,
    )
    .get("/v1/payments", Scope::PaymentsRead, list_payments)
    .get("/v1/payments/{id}", Scope::PaymentsRead, get_payment)
    .post("/v1/payments/{id}/refunds", Scope::RefundsWrite, refund)
    .post("/v1/payments/{id}/capture", Scope::PaymentsWrite, capture)
    .post("/v1/payments/{id}/void", Scope::PaymentsWrite, void)
    .post("/v1/payments/{id}/extend", Scope::PaymentsWrite, extend)
    .post_bulk(
        "/v1/settlements",
        Scope::ReconciliationWrite,
        import_settlement,
    )
}

/// A decimal amount as a JSON string or number.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(super) enum Amount {
    Text(String),
    Number(serde_json::Number),
}

impl Amount {
    pub(super) fn text(&self) -> String {
        match self {
            Amount::Text(s) => s.clone(),
            Amount::Number(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MethodView {
    pub id: String,
    pub account_id: String,
    pub provider: String,
    pub kind: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub is_default: bool,
}

fn method_view(m: v1::PaymentMethod) -> MethodView {
    MethodView {
        id: m.id,
        account_id: m.account_id,
        provider: m.provider,
        kind: m.kind,
        brand: m.brand,
        last4: m.last4,
        exp_month: m.exp_month,
        exp_year: m.exp_year,
        is_default: m.is_default,
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct EventView {
    pub sequence: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub amount: Option<String>,
    pub detail: String,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PaymentView {
    pub id: String,
    pub session_id: Option<String>,
    pub order_id: Option<String>,
    pub account_id: String,
    pub provider: String,
    pub kind: String,
    pub purpose: String,
    pub payment_method_id: String,
    pub status: String,
    pub amount_authorized: String,
    pub amount_captured: String,
    pub amount_refunded: String,
    pub currency: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub events: Vec<EventView>,
}

fn some(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

pub(super) fn payment_view(p: v1::PaymentIntent) -> PaymentView {
    PaymentView {
        id: p.id,
        session_id: some(p.session_id),
        order_id: some(p.order_id),
        account_id: p.account_id,
        provider: p.provider,
        kind: p.kind,
        purpose: p.purpose,
        payment_method_id: p.payment_method_id,
        status: p.status,
        amount_authorized: p.amount_authorized,
        amount_captured: p.amount_captured,
        amount_refunded: p.amount_refunded,
        currency: p.currency,
        failure_code: some(p.failure_code),
        failure_message: some(p.failure_message),
        events: p
            .events
            .into_iter()
            .map(|e| EventView {
                sequence: e.sequence,
                kind: e.r#type,
                amount: some(e.amount),
                detail: e.detail,
                occurred_at: joule_proto::time::from_proto(e.occurred_at.as_ref()),
            })
            .collect(),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveMethodBody {
    pub account_id: String,
    pub provider: String,
    pub provider_token: String,
    #[serde(default)]
    pub make_default: bool,
}

async fn save_payment_method(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SaveMethodBody>,
) -> Result<Created<MethodView>, ApiError> {
    let key = idempotency_key(&headers)?;
    let account_id = body
        .account_id
        .parse::<AccountId>()
        .map_err(|e| ApiError::field("account_id", e.to_string()))?;
    referenced_account(&state, &caller, Scope::PaymentsWrite, account_id).await?;
    let method = state
        .payments()
        .save_payment_method(v1::SavePaymentMethodRequest {
            tenant_id: caller.tenant.to_string(),
            idempotency_key: key,
            account_id: account_id.to_string(),
            provider: body.provider,
            provider_token: body.provider_token,
            make_default: body.make_default,
        })
        .await
        .answer(SERVICE)?;
    Ok(Created::new(method_view(method)))
}

crate::query_params!(pub AccountQuery, list {
    "account_id": Id => "The account whose records to list (required).",
});

/// The `account_id` a list of an account's records (payment methods, wallets) requires, with its
/// page; every other parameter is refused.
pub(super) fn account_page(query: &RawQuery<AccountQuery>) -> Result<(AccountId, Page), ApiError> {
    let mut v = query.checked();
    let account_id = v.check(
        "account_id",
        query
            .get("account_id")
            .ok_or_else(|| "is required".to_owned())
            .and_then(|raw| raw.parse::<AccountId>().map_err(|e| e.to_string())),
    );
    let Some(account_id) = account_id else {
        return Err(v.into_error());
    };
    v.finish()?;
    Ok((account_id, query.page()?))
}

async fn list_payment_methods(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<AccountQuery>,
) -> Result<Json<Listed<MethodView>>, ApiError> {
    let (account_id, page) = account_page(&query)?;
    let response = state
        .payments()
        .list_payment_methods(v1::ListPaymentMethodsRequest {
            tenant_id: caller.tenant.to_string(),
            account_id: account_id.to_string(),
            page_size: page.limit,
            cursor: page.cursor.unwrap_or_default(),
        })
        .await
        .answer(SERVICE)?;
    let view = |m| Ok(method_view(m));
    listed(response.payment_methods, response.next_cursor, view).map(Json)
}

crate::query_params!(pub PaymentQuery, list {
    "session_id": Id => "The payment of this session.",
    "account_id": Id => "Payments of this account.",
    "status": Text => "The payment's status.",
    "created_after": Time => "Created at or after this time.",
    "created_before": Time => "Created before this time.",
});

async fn list_payments(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<PaymentQuery>,
) -> Result<Json<Listed<PaymentView>>, ApiError> {
    let mut v = query.checked();
    let created_after = query.proto_time(&mut v, "created_after");
    let created_before = query.proto_time(&mut v, "created_before");
    v.finish()?;
    let page = query.page()?;
    let response = state
        .payments()
        .list_payments(v1::ListPaymentsRequest {
            tenant_id: caller.tenant.to_string(),
            session_id: query.get("session_id").unwrap_or_default().to_owned(),
            account_id: query.get("account_id").unwrap_or_default().to_owned(),
            page_size: page.limit,
            cursor: page.cursor.unwrap_or_default(),
            created_after,
            created_before,
            status: query.get("status").unwrap_or_default().to_owned(),
        })
        .await
        .answer(SERVICE)?;
    let view = |p| Ok(payment_view(p));
    listed(response.payments, response.next_cursor, view).map(Json)
}

fn intent_id(raw: &str) -> Result<String, ApiError> {
    path_id::<uuid::Uuid>(raw, "payment").map(|u| u.to_string())
}

async fn get_payment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    let payment = state
        .payments()
        .get_payment(v1::GetPaymentRequest {
            tenant_id: caller.tenant.to_string(),
            intent_id: intent_id(&id)?,
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(payment_view(payment)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub amount: Amount,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RefundView {
    pub id: String,
    pub payment_id: String,
    pub amount: String,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub failure_code: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RefundAnswer {
    pub refund: Option<RefundView>,
    pub payment: Option<PaymentView>,
}

async fn refund(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<Created<RefundAnswer>, ApiError> {
    let intent_id = intent_id(&id)?;
    let key = idempotency_key(&headers)?;
    let answer = state
        .payments()
        .refund_payment(v1::RefundPaymentRequest {
            tenant_id: caller.tenant.to_string(),
            idempotency_key: key,
            intent_id,
            amount: body.amount.text(),
            currency: body.currency,
            reason: body.reason,
        })
        .await
        .answer(SERVICE)?;
    Ok(Created::new(RefundAnswer {
        refund: answer.refund.map(|r| RefundView {
            id: r.id,
            payment_id: r.intent_id,
            amount: r.amount,
            currency: r.currency,
            reason: r.reason,
            status: r.status,
            failure_code: some(r.failure_code),
        }),
        payment: answer.intent.map(payment_view),
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    pub amount: Amount,
    #[serde(default)]
    pub currency: String,
}

async fn capture(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CaptureBody>,
) -> Result<Json<PaymentView>, ApiError> {
    let intent_id = intent_id(&id)?;
    let key = idempotency_key(&headers)?;
    let payment = state
        .payments()
        .capture_payment(v1::CapturePaymentRequest {
            tenant_id: caller.tenant.to_string(),
            idempotency_key: key,
            intent_id,
            amount: body.amount.text(),
            currency: body.currency,
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(payment_view(payment)))
}

async fn void(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<PaymentView>, ApiError> {
    let intent_id = intent_id(&id)?;
    let key = idempotency_key(&headers)?;
    let payment = state
        .payments()
        .void_payment(v1::VoidPaymentRequest {
            tenant_id: caller.tenant.to_string(),
            idempotency_key: key,
            intent_id,
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(payment_view(payment)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    pub new_amount: Amount,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ExtendAnswer {
    pub extended: bool,
    pub mode: Option<String>,
    pub exhausted_reason: Option<String>,
    pub provider_code: Option<String>,
    pub payment: Option<PaymentView>,
}

async fn extend(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ExtendBody>,
) -> Result<Json<ExtendAnswer>, ApiError> {
    let intent_id = intent_id(&id)?;
    let key = idempotency_key(&headers)?;
    let answer = state
        .payments()
        .extend_hold(v1::ExtendHoldRequest {
            tenant_id: caller.tenant.to_string(),
            idempotency_key: key,
            intent_id,
            new_amount: body.new_amount.text(),
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(ExtendAnswer {
        extended: answer.extended,
        mode: some(answer.mode),
        exhausted_reason: some(answer.exhausted_reason),
        provider_code: some(answer.provider_code),
        payment: answer.intent.map(payment_view),
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementBody {
    pub provider: String,
    pub format: String,
    pub content: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SettlementAnswer {
    pub lines: u32,
    pub lines_new: u32,
    pub currency: String,
    pub fees: String,
    pub payouts: String,
}

async fn import_settlement(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SettlementBody>,
) -> Result<Created<SettlementAnswer>, ApiError> {
    let key = idempotency_key(&headers)?;
    let answer = state
        .payments()
        .import_settlement_report(v1::ImportSettlementReportRequest {
            tenant_id: caller.tenant.to_string(),
            idempotency_key: key,
            provider: body.provider,
            format: body.format,
            content: body.content,
        })
        .await
        .answer(SERVICE)?;
    Ok(Created::new(SettlementAnswer {
        lines: answer.lines,
        lines_new: answer.lines_new,
        currency: answer.currency,
        fees: answer.fees,
        payouts: answer.payouts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_its_field() {
        let upstream = |status| ApiError::upstream(SERVICE)(status);
        let e = upstream(tonic::Status::invalid_argument(
            "amount: 12 is more than the 10 captured and not yet refunded",
        ));
        match e {
            ApiError::Validation(errors) => assert_eq!(errors[0].field, "amount"),
            other => panic!("expected a validation problem, got {other:?}"),
        }
        assert!(matches!(
            upstream(tonic::Status::already_exists("idempotency_key: reused")),
            ApiError::Upstream { .. }
        ));
    }

    #[test]
    fn writes_need_an_idempotency_key() {
        let mut headers = HeaderMap::new();
        assert!(idempotency_key(&headers).is_err());
        headers.insert("idempotency-key", "k1".parse().unwrap());
        assert_eq!(idempotency_key(&headers).unwrap(), "k1");
    }

    #[test]
    fn amounts_may_be_strings_or_numbers() {
        let body: RefundBody = serde_json::from_str(r#"{"amount": 12.5}"#).unwrap();
        assert_eq!(body.amount.text(), "12.5");
        let body: RefundBody = serde_json::from_str(r#"{"amount": "12.50"}"#).unwrap();
        assert_eq!(body.amount.text(), "12.50");
    }
}
