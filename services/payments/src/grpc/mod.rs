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

/// Runs `$body` (a `Result`) in the method's span and wraps its answer.
macro_rules! traced {
    ($name:literal, $request:expr, $body:expr) => {{
        let span = joule_telemetry::grpc_server_span($name, &$request);
        async move { $body.map(Response::new) }
            .instrument(span)
            .await
    }};
}

/// The request's idempotency key, and the request without it: what "the same request" means.
macro_rules! keyed {
    ($r:expr) => {{
        let mut hashed = $r.clone();
        let key = std::mem::take(&mut hashed.idempotency_key);
        (key, hashed)
    }};
}

/// A write that takes an idempotency key: it runs at most once per key and request.
macro_rules! idempotent_write {
    ($self:ident, $name:literal, $op:literal, $request:ident, $method:ident) => {
        traced!($name, $request, {
            let r = $request.into_inner();
            let (key, hashed) = keyed!(r);
            $self
                .idempotency
                .run($op, &key, &hashed, || $self.$method(r))
                .await
        })
    };
}

/// A read.
macro_rules! read {
    ($self:ident, $name:literal, $request:ident, $method:ident) => {
        traced!($name, $request, $self.$method($request.into_inner()).await)
    };
}

#[tonic::async_trait]
impl PaymentsService for PaymentsGrpc {
    async fn save_payment_method(
        &self,
        request: Request<v1::SavePaymentMethodRequest>,
    ) -> Result<Response<v1::PaymentMethod>, Status> {
        idempotent_write!(
            self,
            "SavePaymentMethod",
            "save_payment_method",
            request,
            save_method
        )
    }

    async fn list_payment_methods(
        &self,
        request: Request<v1::ListPaymentMethodsRequest>,
    ) -> Result<Response<v1::ListPaymentMethodsResponse>, Status> {
        read!(self, "ListPaymentMethods", request, list_methods)
    }

    async fn authorize_session_payment(
        &self,
        request: Request<v1::AuthorizeSessionPaymentRequest>,
    ) -> Result<Response<v1::AuthorizeSessionPaymentResponse>, Status> {
        idempotent_write!(
            self,
            "AuthorizeSessionPayment",
            "authorize_session_payment",
            request,
            authorize_session
        )
    }

    async fn extend_hold(
        &self,
        request: Request<v1::ExtendHoldRequest>,
    ) -> Result<Response<v1::ExtendHoldResponse>, Status> {
        idempotent_write!(self, "ExtendHold", "extend_hold", request, extend)
    }

    async fn capture_payment(
        &self,
        request: Request<v1::CapturePaymentRequest>,
    ) -> Result<Response<v1::PaymentIntent>, Status> {
        idempotent_write!(self, "CapturePayment", "capture_payment", request, capture)
    }

    async fn void_payment(
        &self,
        request: Request<v1::VoidPaymentRequest>,
    ) -> Result<Response<v1::PaymentIntent>, Status> {
        idempotent_write!(self, "VoidPayment", "void_payment", request, void)
    }

    async fn refund_payment(
        &self,
        request: Request<v1::RefundPaymentRequest>,
    ) -> Result<Response<v1::RefundPaymentResponse>, Status> {
        traced!("RefundPayment", request, {
            let r = request.into_inner();
            let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
            let (key, hashed) = keyed!(r);
            let mut response = self
                .idempotency
                .run("refund_payment", &key, &hashed, || self.refund(r))
                .await?;
            // The history as it is now, also when the answer is a stored one.
            if let Some(intent) = response.intent.take() {
                response.intent = Some(self.with_history(&tenant, intent).await);
            }
            Ok::<_, Status>(response)
        })
    }

    async fn list_payments(
        &self,
        request: Request<v1::ListPaymentsRequest>,
    ) -> Result<Response<v1::ListPaymentsResponse>, Status> {
        read!(self, "ListPayments", request, list)
    }

    async fn get_payment(
        &self,
        request: Request<v1::GetPaymentRequest>,
    ) -> Result<Response<v1::PaymentIntent>, Status> {
        read!(self, "GetPayment", request, get)
    }

    async fn create_wallet(
        &self,
        request: Request<v1::CreateWalletRequest>,
    ) -> Result<Response<v1::Wallet>, Status> {
        idempotent_write!(
            self,
            "CreateWallet",
            "create_wallet",
            request,
            create_wallet
        )
    }

    async fn top_up_wallet(
        &self,
        request: Request<v1::TopUpWalletRequest>,
    ) -> Result<Response<v1::Wallet>, Status> {
        idempotent_write!(self, "TopUpWallet", "top_up_wallet", request, top_up)
    }

    async fn get_wallet(
        &self,
        request: Request<v1::GetWalletRequest>,
    ) -> Result<Response<v1::Wallet>, Status> {
        read!(self, "GetWallet", request, get_wallet)
    }

    async fn list_wallet_transactions(
        &self,
        request: Request<v1::GetWalletRequest>,
    ) -> Result<Response<v1::ListWalletTransactionsResponse>, Status> {
        read!(self, "ListWalletTransactions", request, wallet_transactions)
    }

    async fn import_settlement_report(
        &self,
        request: Request<v1::ImportSettlementReportRequest>,
    ) -> Result<Response<v1::ImportSettlementReportResponse>, Status> {
        idempotent_write!(
            self,
            "ImportSettlementReport",
            "import_settlement_report",
            request,
            import
        )
    }
}
