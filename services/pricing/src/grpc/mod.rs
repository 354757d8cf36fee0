//! `joule.v1.TariffService`: the server type and what its resources share; each resource in its
//! own module ([`tariffs`], [`quotes`], [`sessions`], [`running`]), every error mapped to a status
//! in [`status`].

mod quotes;
mod running;
mod sessions;
mod status;
mod tariffs;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use joule_domain::{TariffId, TenantId};
use joule_proto::time::from_proto;
use joule_proto::v1;
use joule_proto::v1::tariff_service_server::TariffService;
use joule_store::{CommandMeta, Decided};
use postgres_es::PostgresCqrs;
use rust_decimal::Decimal;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::domain::priced_session::PricedSession;
use crate::domain::tariff::{Tariff, TariffCommand};
use crate::projections::tariffs::{self as stored, StoredTariff};
use status::Error;

/// gRPC metadata of an ALREADY_EXISTS answer to `CreateTariff`: the Joule id of the tariff that has
/// the OCPI identity already.
pub const EXISTING_TARIFF: &str = "joule-existing-tariff-id";

/// How an ALREADY_EXISTS answer to `CreateTariff` for a tariff in use ends.
pub const PUBLISH_INSTEAD: &str = "publish a new version of it instead";

pub struct TariffGrpc {
    pub pool: PgPool,
    pub cqrs: Arc<PostgresCqrs<Decided<Tariff>>>,
    pub sessions: Arc<PostgresCqrs<Decided<PricedSession>>>,
    /// The tenant of requests that name none.
    pub default_tenant: String,
}

impl TariffGrpc {
    fn tenant(&self, requested: &str) -> Result<String, Error> {
        match requested {
            "" => Ok(self.default_tenant.clone()),
            t => t
                .parse::<TenantId>()
                .map(|t| t.to_string())
                .map_err(|e| Error::field("tenant_id", e)),
        }
    }

    fn meta(&self, tenant_id: String) -> CommandMeta {
        CommandMeta {
            tenant_id,
            correlation_id: uuid::Uuid::new_v4().to_string(),
            causation_id: String::new(),
        }
    }

    /// The tariff `raw` names, checked to belong to the tenant: another tenant's tariff does not
    /// exist for this caller.
    async fn owned(&self, tenant_id: &str, raw: &str) -> Result<(TariffId, StoredTariff), Error> {
        let id: TariffId = raw.parse().map_err(|e| Error::field("tariff_id", e))?;
        let not_found = || Error::NotFound(format!("no tariff with id {id}"));
        let stored = stored::tariff(&self.pool, &id.to_string())
            .await?
            .ok_or_else(not_found)?;
        if stored.tenant_id != tenant_id {
            return Err(not_found());
        }
        Ok((id, stored))
    }

    async fn command(
        &self,
        id: TariffId,
        command: TariffCommand,
        tenant: String,
    ) -> Result<(), Error> {
        Ok(joule_store::execute(&self.cqrs, &id.to_string(), command, self.meta(tenant)).await?)
    }
}

/// An optional time of a request.
fn timestamp(
    t: Option<&joule_proto::Timestamp>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, Error> {
    match t {
        None => Ok(None),
        Some(ts) => from_proto(Some(ts))
            .map(Some)
            .ok_or_else(|| Error::field(field, "not a valid time")),
    }
}

/// A decimal of a request.
fn decimal(raw: &str, field: &str) -> Result<Decimal, Error> {
    raw.trim()
        .parse()
        .map_err(|_| Error::field(field, format!("{raw:?} is not a decimal number")))
}

/// Answers a request with what `work` gives, in the request's span.
async fn answer<T>(
    span: tracing::Span,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<Response<T>, Status> {
    work.instrument(span)
        .await
        .map(Response::new)
        .map_err(Status::from)
}

#[tonic::async_trait]
impl TariffService for TariffGrpc {
    async fn create_tariff(
        &self,
        request: Request<v1::CreateTariffRequest>,
    ) -> Result<Response<v1::Tariff>, Status> {
        let span = joule_telemetry::grpc_server_span("CreateTariff", &request);
        answer(span, tariffs::create(self, request.into_inner())).await
    }

    async fn get_tariff(
        &self,
        request: Request<v1::GetTariffRequest>,
    ) -> Result<Response<v1::Tariff>, Status> {
        let span = joule_telemetry::grpc_server_span("GetTariff", &request);
        answer(span, tariffs::get(self, request.into_inner())).await
    }

    async fn list_tariffs(
        &self,
        request: Request<v1::ListTariffsRequest>,
    ) -> Result<Response<v1::ListTariffsResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListTariffs", &request);
        answer(span, tariffs::list(self, request.into_inner())).await
    }

    async fn publish_tariff_version(
        &self,
        request: Request<v1::PublishTariffVersionRequest>,
    ) -> Result<Response<v1::TariffVersion>, Status> {
        let span = joule_telemetry::grpc_server_span("PublishTariffVersion", &request);
        answer(span, tariffs::publish_version(self, request.into_inner())).await
    }

    async fn correct_tariff_version(
        &self,
        request: Request<v1::CorrectTariffVersionRequest>,
    ) -> Result<Response<v1::TariffVersion>, Status> {
        let span = joule_telemetry::grpc_server_span("CorrectTariffVersion", &request);
        answer(span, tariffs::correct_version(self, request.into_inner())).await
    }

    async fn list_tariff_versions(
        &self,
        request: Request<v1::ListTariffVersionsRequest>,
    ) -> Result<Response<v1::ListTariffVersionsResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListTariffVersions", &request);
        answer(span, tariffs::list_versions(self, request.into_inner())).await
    }

    async fn retire_tariff(
        &self,
        request: Request<v1::RetireTariffRequest>,
    ) -> Result<Response<v1::Acknowledged>, Status> {
        let span = joule_telemetry::grpc_server_span("RetireTariff", &request);
        answer(span, tariffs::retire(self, request.into_inner())).await
    }

    async fn assign_tariff(
        &self,
        request: Request<v1::AssignTariffRequest>,
    ) -> Result<Response<v1::Acknowledged>, Status> {
        let span = joule_telemetry::grpc_server_span("AssignTariff", &request);
        answer(span, tariffs::assign(self, request.into_inner())).await
    }

    async fn set_contract(
        &self,
        request: Request<v1::SetContractRequest>,
    ) -> Result<Response<v1::Acknowledged>, Status> {
        let span = joule_telemetry::grpc_server_span("SetContract", &request);
        answer(span, tariffs::set_contract(self, request.into_inner())).await
    }

    async fn quote(
        &self,
        request: Request<v1::QuoteRequest>,
    ) -> Result<Response<v1::PriceBreakdown>, Status> {
        let span = joule_telemetry::grpc_server_span("Quote", &request);
        answer(span, quotes::quote(self, request.into_inner())).await
    }

    async fn price_cdr(
        &self,
        request: Request<v1::PriceCdrRequest>,
    ) -> Result<Response<v1::PriceBreakdown>, Status> {
        let span = joule_telemetry::grpc_server_span("PriceCdr", &request);
        answer(span, quotes::price_cdr(self, request.into_inner())).await
    }

    async fn get_priced_session(
        &self,
        request: Request<v1::GetPricedSessionRequest>,
    ) -> Result<Response<v1::PricedSessionView>, Status> {
        let span = joule_telemetry::grpc_server_span("GetPricedSession", &request);
        answer(span, sessions::get(self, request.into_inner())).await
    }

    async fn get_running_cost(
        &self,
        request: Request<v1::GetRunningCostRequest>,
    ) -> Result<Response<v1::RunningCost>, Status> {
        let span = joule_telemetry::grpc_server_span("GetRunningCost", &request);
        answer(span, running::get(self, request.into_inner())).await
    }

    async fn estimate_session_cost(
        &self,
        request: Request<v1::EstimateSessionCostRequest>,
    ) -> Result<Response<v1::RunningCost>, Status> {
        let span = joule_telemetry::grpc_server_span("EstimateSessionCost", &request);
        answer(span, running::estimate(self, request.into_inner())).await
    }

    async fn rerate(
        &self,
        request: Request<v1::RerateRequest>,
    ) -> Result<Response<v1::RerateResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("Rerate", &request);
        answer(span, sessions::rerate(self, request.into_inner())).await
    }
}
