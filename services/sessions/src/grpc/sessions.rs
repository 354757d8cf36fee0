//! `joule.v1.SessionsService`: reads of the session read model.

use joule_proto::v1;
use joule_proto::v1::sessions_service_server::SessionsService;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::status::ReadError;
use super::{SessionsGrpc, tenant};
use crate::projections::session_view::{self, SessionFilter};
use crate::wire;
use uuid::Uuid;

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
        let id = |field: &'static str, raw: &str| -> Result<Option<Uuid>, ReadError> {
            match raw {
                "" => Ok(None),
                raw => raw
                    .parse()
                    .map(Some)
                    .map_err(|_| ReadError::InvalidArgument {
                        field,
                        reason: "not an id",
                    }),
            }
        };
        let time = |field: &'static str, t: Option<&joule_proto::Timestamp>| {
            t.map(|t| {
                joule_proto::time::from_proto(Some(t)).ok_or(ReadError::InvalidArgument {
                    field,
                    reason: "not a valid time",
                })
            })
            .transpose()
        };
        let within_fleets = match r.within_fleets.as_slice() {
            [] => None,
            fleets => Some(
                fleets
                    .iter()
                    .map(|f| id("within_fleets", f).map(Option::unwrap_or_default))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let filter = SessionFilter {
            charger_id: &r.charger_id,
            account_id: &r.account_id,
            fleet_id: id("fleet_id", &r.fleet_id)?,
            driver_id: id("driver_id", &r.driver_id)?,
            vehicle_id: id("vehicle_id", &r.vehicle_id)?,
            status: &r.status,
            started_after: time("started_after", r.started_after.as_ref())?,
            started_before: time("started_before", r.started_before.as_ref())?,
            within_fleets,
            within_driver: id("within_driver", &r.within_driver)?,
        };
        // One row more than the page tells whether there is a next page.
        let mut rows =
            session_view::list(&self.pool, &tenant, after, &filter, limit.saturating_add(1))
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
