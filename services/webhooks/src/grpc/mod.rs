//! `joule.v1.WebhooksService`: the server type; endpoints and deliveries in their own modules,
//! every error mapped to a status in [`status`].

mod deliveries;
mod endpoints;
mod status;

use std::sync::Arc;
use std::time::Duration;

use joule_domain::TenantId;
use joule_proto::v1;
use joule_proto::v1::webhooks_service_server::WebhooksService;
use sqlx::PgPool;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use uuid::Uuid;

use crate::endpoints::OwnAddrs;
use status::Error;

pub struct WebhooksGrpc {
    pool: PgPool,
    schema: String,
    own_addrs: OwnAddrs,
    /// The default (and longest) overlap of a rotated-out secret.
    secret_overlap: Duration,
    /// Wakes this process's delivery worker (a redelivery goes out at once).
    wake: Arc<Notify>,
}

impl WebhooksGrpc {
    pub fn new(
        pool: PgPool,
        schema: &str,
        own_addrs: OwnAddrs,
        secret_overlap: Duration,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            schema: schema.to_owned(),
            own_addrs,
            secret_overlap,
            wake,
        }
    }

    /// The request's tenant: every request names one.
    fn tenant(given: &str) -> Result<TenantId, Error> {
        match given.trim() {
            "" => Err(Error::field("tenant_id", "is required")),
            t => t
                .parse()
                .map_err(|e: joule_domain::IdError| Error::field("tenant_id", e)),
        }
    }

    fn id(field: &'static str, given: &str) -> Result<Uuid, Error> {
        given
            .trim()
            .parse()
            .map_err(|_| Error::field(field, "is not an id"))
    }
}

macro_rules! rpc {
    ($self:ident, $name:literal, $request:ident, $module:ident :: $function:ident) => {{
        let span = joule_telemetry::grpc_server_span($name, &$request);
        let result = $module::$function($self, $request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(result?))
    }};
}

#[tonic::async_trait]
impl WebhooksService for WebhooksGrpc {
    async fn create_endpoint(
        &self,
        request: Request<v1::CreateWebhookEndpointRequest>,
    ) -> Result<Response<v1::CreateWebhookEndpointResponse>, Status> {
        rpc!(self, "CreateEndpoint", request, endpoints::create)
    }

    async fn get_endpoint(
        &self,
        request: Request<v1::GetWebhookEndpointRequest>,
    ) -> Result<Response<v1::WebhookEndpoint>, Status> {
        rpc!(self, "GetEndpoint", request, endpoints::get)
    }

    async fn list_endpoints(
        &self,
        request: Request<v1::ListWebhookEndpointsRequest>,
    ) -> Result<Response<v1::ListWebhookEndpointsResponse>, Status> {
        rpc!(self, "ListEndpoints", request, endpoints::list)
    }

    async fn update_endpoint(
        &self,
        request: Request<v1::UpdateWebhookEndpointRequest>,
    ) -> Result<Response<v1::WebhookEndpoint>, Status> {
        rpc!(self, "UpdateEndpoint", request, endpoints::update)
    }

    async fn delete_endpoint(
        &self,
        request: Request<v1::DeleteWebhookEndpointRequest>,
    ) -> Result<Response<v1::DeleteWebhookEndpointResponse>, Status> {
        rpc!(self, "DeleteEndpoint", request, endpoints::delete)
    }

    async fn rotate_secret(
        &self,
        request: Request<v1::RotateWebhookSecretRequest>,
    ) -> Result<Response<v1::RotateWebhookSecretResponse>, Status> {
        rpc!(self, "RotateSecret", request, endpoints::rotate)
    }

    async fn list_deliveries(
        &self,
        request: Request<v1::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<v1::ListWebhookDeliveriesResponse>, Status> {
        rpc!(self, "ListDeliveries", request, deliveries::list)
    }

    async fn redeliver(
        &self,
        request: Request<v1::RedeliverWebhookRequest>,
    ) -> Result<Response<v1::WebhookDelivery>, Status> {
        rpc!(self, "Redeliver", request, deliveries::redeliver)
    }
}
