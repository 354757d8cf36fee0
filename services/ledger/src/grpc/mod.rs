//! `joule.v1.LedgerService`: the server type; each resource in its own module, every error mapped
//! to a status in [`status`].

mod status;
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
}
