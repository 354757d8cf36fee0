//! `joule.v1.ChargerCommands`, served by every replica: a command is routed to the replica holding
//! the charger's connection ([`crate::commands::route`]); [`status`] maps why it failed. A request
//! names its tenant (empty: the deployment's); a charge point of another tenant is NOT_FOUND.

pub mod status;

use std::time::Duration;

use joule_bus::Bus;
use joule_domain::TenantId;
use joule_proto::v1::charger_commands_server::ChargerCommands;
use joule_proto::v1::{ChargerCommandRequest, ChargerCommandResult};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::commands::{RouteError, route};

/// `joule.v1.ChargerCommands`.
pub struct ChargerCommandsGrpc {
    pub pool: PgPool,
    pub bus: Bus,
    /// How long the charger may take to answer; the request waits a little longer.
    pub timeout: Duration,
    /// The deployment's tenant, for requests that name none.
    pub default_tenant: TenantId,
}

impl ChargerCommandsGrpc {
    async fn execute_inner(
        &self,
        request: ChargerCommandRequest,
    ) -> Result<ChargerCommandResult, Status> {
        let tenant = match request.tenant_id.as_str() {
            "" => self.default_tenant.clone(),
            given => given
                .parse()
                .map_err(|e| RouteError::Invalid(format!("tenant_id: {e}")))?,
        };
        let wait = self.timeout + Duration::from_secs(2);
        Ok(route(&self.pool, &self.bus, &tenant, request, wait).await?)
    }
}

#[tonic::async_trait]
impl ChargerCommands for ChargerCommandsGrpc {
    async fn execute(
        &self,
        request: Request<ChargerCommandRequest>,
    ) -> Result<Response<ChargerCommandResult>, Status> {
        let span = joule_telemetry::grpc_server_span("ChargerCommands.Execute", &request);
        let request = request.into_inner();
        async move {
            let cp = request.charge_point_id.clone();
            let outcome = self.execute_inner(request).await;
            match &outcome {
                Ok(r) => tracing::info!(charge_point_id = %cp, action = %r.action, status = %r.status, "command answered"),
                Err(s) => tracing::info!(charge_point_id = %cp, code = ?s.code(), message = %s.message(), "command failed"),
            }
            outcome.map(Response::new)
        }
        .instrument(span)
        .await
    }
}
