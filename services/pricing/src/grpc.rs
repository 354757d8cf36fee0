//! `joule.v1.TariffService`: creating and reading tariffs, and the one mapping of pricing errors to
//! gRPC status codes.

use std::sync::Arc;

use chrono::Utc;
use cqrs_es::AggregateError;
use joule_domain::{TariffId, TenantId};
use joule_proto::v1;
use joule_proto::v1::tariff_service_server::TariffService;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::read;
use crate::tariff::{Tariff, TariffCommand, TariffError};

pub struct TariffGrpc {
    pub pool: PgPool,
    pub cqrs: Arc<PostgresCqrs<Tariff>>,
    /// The tenant of requests that name none.
    pub default_tenant: String,
}

impl TariffGrpc {
    fn tenant(&self, requested: &str) -> Result<String, Status> {
        match requested {
            "" => Ok(self.default_tenant.clone()),
            t => t
                .parse::<TenantId>()
                .map(|t| t.to_string())
                .map_err(|e| Status::invalid_argument(format!("tenant_id: {e}"))),
        }
    }
}

/// The mapping from pricing's errors to gRPC status.
fn status(error: AggregateError<TariffError>) -> Status {
    match error {
        AggregateError::UserError(TariffError::Invalid(e)) => {
            Status::invalid_argument(e.to_string())
        }
        AggregateError::UserError(TariffError::AlreadyExists) => {
            Status::already_exists("tariff already exists")
        }
        other => {
            tracing::error!(error = %other, "tariff command failed");
            Status::unavailable("tariff store unavailable")
        }
    }
}

fn store_unavailable(error: sqlx::Error) -> Status {
    tracing::error!(error = %error, "tariff query failed");
    Status::unavailable("tariff store unavailable")
}

#[tonic::async_trait]
impl TariffService for TariffGrpc {
    async fn create_tariff(
        &self,
        request: Request<v1::CreateTariffRequest>,
    ) -> Result<Response<v1::Tariff>, Status> {
        let span = joule_telemetry::grpc_server_span("CreateTariff", &request);
        async move {
            let request = request.into_inner();
            let tenant_id = self.tenant(&request.tenant_id)?;
            // Validated here as well as in the aggregate so that the caller gets the field-naming
            // message without a round trip through the event store.
            let parsed = joule_tariff::Tariff::parse(&request.ocpi_json)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let id = TariffId::new();
            let meta = CommandMeta {
                tenant_id,
                correlation_id: uuid::Uuid::new_v4().to_string(),
                causation_id: String::new(),
            };
            let command = TariffCommand::Create {
                ocpi_json: request.ocpi_json.clone(),
                created_at: Utc::now(),
            };
            joule_store::execute(&self.cqrs, &id.to_string(), command, meta)
                .await
                .map_err(status)?;
            let stored = read::tariff(&self.pool, &id.to_string())
                .await
                .map_err(store_unavailable)?
                .ok_or_else(|| Status::internal("the created tariff was not stored"))?;
            tracing::info!(tariff_id = %id, ocpi_id = %parsed.id, "tariff created");
            Ok(Response::new(v1::Tariff {
                id: id.to_string(),
                currency: stored.currency,
                ocpi_json: stored.ocpi_json,
            }))
        }
        .instrument(span)
        .await
    }

    async fn get_tariff(
        &self,
        request: Request<v1::GetTariffRequest>,
    ) -> Result<Response<v1::Tariff>, Status> {
        let span = joule_telemetry::grpc_server_span("GetTariff", &request);
        async move {
            let request = request.into_inner();
            let tenant_id = self.tenant(&request.tenant_id)?;
            let id: TariffId = request
                .tariff_id
                .parse()
                .map_err(|e| Status::invalid_argument(format!("tariff_id: {e}")))?;
            let not_found = || Status::not_found(format!("tariff {id} not found"));
            let stored = read::tariff(&self.pool, &id.to_string())
                .await
                .map_err(store_unavailable)?
                .ok_or_else(not_found)?;
            // Another tenant's tariff does not exist for this caller.
            if stored.tenant_id != tenant_id {
                return Err(not_found());
            }
            Ok(Response::new(v1::Tariff {
                id: stored.id,
                currency: stored.currency,
                ocpi_json: stored.ocpi_json,
            }))
        }
        .instrument(span)
        .await
    }
}
