//! `joule.v1.SessionsService`: reads of the session read model.

use joule_proto::v1;
use joule_proto::v1::sessions_service_server::SessionsService;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::status::ReadError;
use super::{SessionsGrpc, tenant};
use crate::projections::session_view;
use crate::wire;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

impl SessionsGrpc {
    async fn list(
        &self,
        r: v1::ListSessionsRequest,
    ) -> Result<v1::ListSessionsResponse, ReadError> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let limit = match r.page_size {
            0 => DEFAULT_PAGE,
            n => i64::from(n).min(MAX_PAGE),
        };
        let after: i64 = if r.cursor.is_empty() {
            0
        } else {
            r.cursor.parse().map_err(|_| ReadError::InvalidArgument {
                field: "cursor",
                reason: "not a cursor from this API",
            })?
        };
        // One row more than the page tells whether there is a next page.
        let mut rows = session_view::list(
            &self.pool,
            &tenant,
            after,
            &r.charger_id,
            &r.account_id,
            limit.saturating_add(1),
        )
        .await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = match (more, rows.last()) {
            (true, Some(last)) => last.seq.to_string(),
            _ => String::new(),
        };
        Ok(v1::ListSessionsResponse {
            sessions: rows.into_iter().map(wire::session).collect(),
            next_cursor,
        })
    }

    async fn get(&self, r: v1::GetSessionRequest) -> Result<v1::Session, ReadError> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let row = session_view::get(&self.pool, &tenant, &r.session_id)
            .await?
            .ok_or(ReadError::NotFound(r.session_id))?;
        Ok(wire::session(row))
    }
}

#[tonic::async_trait]
impl SessionsService for SessionsGrpc {
    async fn list_sessions(
        &self,
        request: Request<v1::ListSessionsRequest>,
    ) -> Result<Response<v1::ListSessionsResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListSessions", &request);
        let response = self.list(request.into_inner()).instrument(span).await?;
        Ok(Response::new(response))
    }

    async fn get_session(
        &self,
        request: Request<v1::GetSessionRequest>,
    ) -> Result<Response<v1::Session>, Status> {
        let span = joule_telemetry::grpc_server_span("GetSession", &request);
        let session = self.get(request.into_inner()).instrument(span).await?;
        Ok(Response::new(session))
    }
}
