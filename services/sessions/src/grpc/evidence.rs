//! `joule.v1.SessionEvidenceService`: the signed meter values of a session, byte-exact.

use joule_proto::v1;
use joule_proto::v1::session_evidence_service_server::SessionEvidenceService;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::status::ReadError;
use super::{SessionEvidenceGrpc, tenant};
use crate::projections::{session_view, signed_values};
use crate::wire;

impl SessionEvidenceGrpc {
    async fn list(
        &self,
        r: v1::ListSignedMeterValuesRequest,
    ) -> Result<v1::ListSignedMeterValuesResponse, ReadError> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        // The session must be the tenant's before any of its values are read.
        let transaction_id = session_view::transaction_id(&self.pool, &tenant, &r.session_id)
            .await?
            .ok_or_else(|| ReadError::NotFound(r.session_id.clone()))?;
        let values = signed_values::of_session(&self.pool, &r.session_id)
            .await?
            .into_iter()
            .map(|row| wire::signed_value(&r.session_id, &transaction_id, row))
            .collect();
        Ok(v1::ListSignedMeterValuesResponse { values })
    }
}

#[tonic::async_trait]
impl SessionEvidenceService for SessionEvidenceGrpc {
    async fn list_signed_meter_values(
        &self,
        request: Request<v1::ListSignedMeterValuesRequest>,
    ) -> Result<Response<v1::ListSignedMeterValuesResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListSignedMeterValues", &request);
        let response = self.list(request.into_inner()).instrument(span).await?;
        Ok(Response::new(response))
    }
}
