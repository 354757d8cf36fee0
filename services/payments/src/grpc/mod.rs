//! `joule.v1.PaymentsService`: the server type and the dispatch of its methods, one module per
//! resource ([`intents`], [`methods`], [`wallets`], [`settlements`]) and [`status`], the one mapping
//! of the service's errors to gRPC status codes. Every write runs under its idempotency key
//! ([`idempotency`]); refusals name the field.

pub mod idempotency;
mod intents;
mod methods;
mod settlements;
pub mod status;
mod wallets;

use std::sync::Arc;

use joule_domain::TenantId;
use joule_proto::v1;
use joule_proto::v1::payments_service_server::PaymentsService;
use joule_store::CommandMeta;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use uuid::Uuid;

use crate::domain::settlement::SettlementRecord;
use crate::domain::wallet::Wallet;
use crate::flow::Flow;
use crate::projections::Page;
use crate::store::Aggregates;
use idempotency::IdempotencyStore;

pub struct PaymentsGrpc {
    pub flow: Arc<Flow>,
    pub wallets: Arc<Aggregates<Wallet>>,
    pub settlements: Aggregates<SettlementRecord>,
    pub idempotency: IdempotencyStore,
    pub pool: PgPool,
    pub schema: String,
    pub default_tenant: TenantId,
}

/// The request's tenant; the deployment's when it names none.
fn tenant(default: &TenantId, given: &str) -> Result<TenantId, Status> {
    match given {
        "" => Ok(default.clone()),
        given => given.parse().map_err(|e| status::invalid("tenant_id", e)),
    }
}

/// The metadata of a command the API asks for: a correlation of its own.
fn meta(tenant: &TenantId) -> CommandMeta {
    CommandMeta {
        tenant_id: tenant.to_string(),
        correlation_id: Uuid::new_v4().to_string(),
        causation_id: String::new(),
    }
}

/// A required id of a request, refused naming its field.
fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, Status>
where
    T::Err: std::fmt::Display,
{
    if raw.trim().is_empty() {
        return Err(status::invalid(field, "is required"));
    }
    raw.trim().parse().map_err(|e| status::invalid(field, e))
}

/// The page a list request asks for: after its `cursor`, `page_size` rows (0: 50; at most 500).
fn page(cursor: &str, page_size: u32) -> Result<Page, Status> {
    Page::requested(cursor, page_size).map_err(|e| status::invalid("cursor", e))
}

/// The `next_cursor` of a page: empty on the last.
fn next_cursor(next: Option<i64>) -> String {
    Page::next_cursor(next)
}

/// Runs `$body` (a `Result`) in the method's span and wraps its answer.
macro_rules! traced {
    ($name:literal, $request:expr, $body:expr) => {{
        let span = joule_telemetry::grpc_server_span($name, &$request);
        async move { $body.map(Response::new) }
            .instrument(span)
            .await
    }};
}

/// Where an idempotency key is unique: the tenant's method, so one tenant's keys never meet
/// another's. An unparsable tenant is refused by the method itself, under a scope of its own.
fn key_scope(default: &TenantId, given: &str, method: &str) -> String {
    match given.trim() {
        "" => format!("{default}/{method}"),
        given => format!("{given}/{method}"),
    }
}

/// The request's idempotency key, and the request without it: what "the same request" means.
macro_rules! keyed {
    ($r:expr) => {{
        let mut hashed = $r.clone();
        let key = std::mem::take(&mut hashed.idempotency_key);
        (key, hashed)
    }};
}

/// The methods of `joule.v1.PaymentsService`, each `<method>(<request>) -> <response>` with the name
/// of its span and what runs it: `write` runs it at most once per idempotency key and request (the
/// key's scope is the tenant's method), `call` runs it as it is.
macro_rules! payments_service {
    ($($how:ident $method:ident($request:ident) -> $response:ident, $name:literal, $run:ident;)+) => {
        #[tonic::async_trait]
        impl PaymentsService for PaymentsGrpc {$(
            async fn $method(
                &self,
                request: Request<v1::$request>,
            ) -> Result<Response<v1::$response>, Status> {
                traced!($name, request, payments_service!(@$how self, $method, request, $run))
            }
        )+}
    };
    (@write $self:ident, $method:ident, $request:ident, $run:ident) => {{
        let r = $request.into_inner();
        let (key, hashed) = keyed!(r);
        let scope = key_scope(&$self.default_tenant, &r.tenant_id, stringify!($method));
        $self
            .idempotency
            .run(&scope, &key, &hashed, || $self.$run(r))
            .await
    }};
    (@call $self:ident, $method:ident, $request:ident, $run:ident) => {
        $self.$run($request.into_inner()).await
    };
}

payments_service! {
    write save_payment_method(SavePaymentMethodRequest) -> PaymentMethod,
        "SavePaymentMethod", save_method;
    call list_payment_methods(ListPaymentMethodsRequest) -> ListPaymentMethodsResponse,
        "ListPaymentMethods", list_methods;
    write authorize_session_payment(AuthorizeSessionPaymentRequest)
        -> AuthorizeSessionPaymentResponse, "AuthorizeSessionPayment", authorize_session;
    write extend_hold(ExtendHoldRequest) -> ExtendHoldResponse, "ExtendHold", extend;
    write capture_payment(CapturePaymentRequest) -> PaymentIntent, "CapturePayment", capture;
    write void_payment(VoidPaymentRequest) -> PaymentIntent, "VoidPayment", void;
    call refund_payment(RefundPaymentRequest) -> RefundPaymentResponse,
        "RefundPayment", refund_once;
    call list_payments(ListPaymentsRequest) -> ListPaymentsResponse, "ListPayments", list;
    call get_payment(GetPaymentRequest) -> PaymentIntent, "GetPayment", get;
    write create_wallet(CreateWalletRequest) -> Wallet, "CreateWallet", create_wallet;
    write top_up_wallet(TopUpWalletRequest) -> Wallet, "TopUpWallet", top_up;
    call get_wallet(GetWalletRequest) -> Wallet, "GetWallet", get_wallet;
    call list_wallets(ListWalletsRequest) -> ListWalletsResponse, "ListWallets", list_wallets;
    call list_wallet_transactions(ListWalletTransactionsRequest) -> ListWalletTransactionsResponse,
        "ListWalletTransactions", wallet_transactions;
    write import_settlement_report(ImportSettlementReportRequest)
        -> ImportSettlementReportResponse, "ImportSettlementReport", import;
}

impl PaymentsGrpc {
    /// A refund, at most once per idempotency key and request, answered with the intent's history
    /// as it is now (also when the answer is the stored one).
    async fn refund_once(
        &self,
        r: v1::RefundPaymentRequest,
    ) -> Result<v1::RefundPaymentResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let (key, hashed) = keyed!(r);
        let scope = key_scope(&self.default_tenant, &r.tenant_id, "refund_payment");
        let mut response = self
            .idempotency
            .run(&scope, &key, &hashed, || self.refund(r))
            .await?;
        if let Some(intent) = response.intent.take() {
            response.intent = Some(self.with_history(&tenant, intent).await);
        }
        Ok(response)
    }
}
