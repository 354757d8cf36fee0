//! `joule.v1.LedgerService`: the server type; each resource in its own module, every error mapped
//! to a status in [`status`].

mod postings;
mod status;
mod transactions;
mod trial_balance;

use joule_domain::TenantId;
use joule_proto::v1;
use joule_proto::v1::ledger_service_server::LedgerService;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use tracing::Instrument;

pub struct LedgerGrpc {
    pool: PgPool,
    schema: String,
    /// The tenant of requests that name none.
    default_tenant: TenantId,
}

impl LedgerGrpc {
    pub fn new(pool: PgPool, schema: &str, default_tenant: TenantId) -> Self {
        Self {
            pool,
            schema: schema.to_owned(),
            default_tenant,
        }
    }
}

#[tonic::async_trait]
impl LedgerService for LedgerGrpc {
    async fn get_trial_balance(
        &self,
        request: Request<v1::TrialBalanceRequest>,
    ) -> Result<Response<v1::TrialBalance>, Status> {
        let span = joule_telemetry::grpc_server_span("GetTrialBalance", &request);
        let result = trial_balance::get(self, request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(result?))
    }

    async fn list_transactions(
        &self,
        request: Request<v1::ListTransactionsRequest>,
    ) -> Result<Response<v1::ListTransactionsResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListTransactions", &request);
        let result = transactions::list(self, request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(result?))
    }

    async fn list_postings(
        &self,
        request: Request<v1::ListPostingsRequest>,
    ) -> Result<Response<v1::ListPostingsResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListPostings", &request);
        let result = postings::list(self, request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(result?))
    }

    async fn get_account_statement(
        &self,
        request: Request<v1::AccountStatementRequest>,
    ) -> Result<Response<v1::AccountStatement>, Status> {
        let span = joule_telemetry::grpc_server_span("GetAccountStatement", &request);
        let result = postings::statement(self, request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(result?))
    }

    async fn get_chart_of_accounts(
        &self,
        request: Request<v1::ChartOfAccountsRequest>,
    ) -> Result<Response<v1::ChartOfAccounts>, Status> {
        self.tenant(&request.get_ref().tenant_id)?;
        Ok(Response::new(postings::chart()))
    }
}

impl LedgerGrpc {
    /// The request's tenant; the deployment's when it names none.
    fn tenant(&self, given: &str) -> Result<TenantId, status::Error> {
        match given {
            "" => Ok(self.default_tenant.clone()),
            t => t
                .parse()
                .map_err(|e: joule_domain::IdError| status::Error::InvalidArgument {
                    field: "tenant_id",
                    reason: e.to_string(),
                }),
        }
    }
}
