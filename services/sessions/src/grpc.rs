//! `joule.v1.SessionsService`: reads of the session read model; `joule.v1.SessionEvidenceService`:
//! the signed meter values of a session, byte-exact, for tying to invoice lines.

use chrono::{DateTime, Utc};
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_proto::v1::sessions_service_server::SessionsService;
use rust_decimal::Decimal;
use sqlx::{PgPool, Row};
use tonic::{Request, Response, Status};
use tracing::Instrument;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

pub struct SessionsGrpc {
    pub pool: PgPool,
}

fn internal(e: sqlx::Error) -> Status {
    tracing::error!(error = %e, "session query failed");
    Status::internal("session store unavailable")
}

fn to_session(row: &sqlx::postgres::PgRow) -> Result<v1::Session, sqlx::Error> {
    let dec = |name: &str| -> Result<String, sqlx::Error> {
        Ok(row
            .try_get::<Option<Decimal>, _>(name)?
            .map(|d| d.normalize().to_string())
            .unwrap_or_default())
    };
    Ok(v1::Session {
        id: row.try_get("id")?,
        charger_id: row.try_get("charger_id")?,
        charge_point_id: row.try_get("charge_point_id")?,
        connector_id: row.try_get::<i32, _>("connector_id")? as u32,
        transaction_id: row.try_get("transaction_id")?,
        token_uid: row.try_get("token_uid")?,
        account_id: row.try_get("account_id")?,
        status: row.try_get("status")?,
        started_at: row
            .try_get::<Option<DateTime<Utc>>, _>("started_at")?
            .map(to_proto),
        stopped_at: row
            .try_get::<Option<DateTime<Utc>>, _>("stopped_at")?
            .map(to_proto),
        energy_wh: dec("energy_wh")?,
        cost_excl_vat: dec("cost_excl_vat")?,
        cost_incl_vat: dec("cost_incl_vat")?,
        currency: row
            .try_get::<Option<String>, _>("currency")?
            .unwrap_or_default(),
        invoice_id: row
            .try_get::<Option<String>, _>("invoice_id")?
            .unwrap_or_default(),
        flags: row.try_get("flags")?,
    })
}

const COLUMNS: &str = "seq, id, charger_id, charge_point_id, connector_id, transaction_id, token_uid, account_id,
    status, started_at, stopped_at, energy_wh, cost_excl_vat, cost_incl_vat, currency, invoice_id, flags";

#[tonic::async_trait]
impl SessionsService for SessionsGrpc {
    async fn list_sessions(
        &self,
        request: Request<v1::ListSessionsRequest>,
    ) -> Result<Response<v1::ListSessionsResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListSessions", &request);
        let r = request.into_inner();
        async move {
            let limit = match r.page_size {
                0 => DEFAULT_PAGE,
                n => i64::from(n).min(MAX_PAGE),
            };
            let after: i64 = if r.cursor.is_empty() {
                0
            } else {
                r.cursor
                    .parse()
                    .map_err(|_| Status::invalid_argument("cursor: not a cursor from this API"))?
            };
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM sessions.session_view
                 WHERE seq > $1 AND ($2 = '' OR charger_id = $2) AND ($3 = '' OR account_id = $3)
                 ORDER BY seq LIMIT $4"
            ))
            .bind(after)
            .bind(&r.charger_id)
            .bind(&r.account_id)
            // One row more than the page tells whether there is a next page.
            .bind(limit.saturating_add(1))
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
            let more = rows.len() as i64 > limit;
            let page = &rows[..rows.len().min(limit as usize)];
            let sessions = page
                .iter()
                .map(to_session)
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            let next_cursor = match (more, page.last()) {
                (true, Some(last)) => last.try_get::<i64, _>("seq").map_err(internal)?.to_string(),
                _ => String::new(),
            };
            Ok(Response::new(v1::ListSessionsResponse {
                sessions,
                next_cursor,
            }))
        }
        .instrument(span)
        .await
    }

    async fn get_session(
        &self,
        request: Request<v1::GetSessionRequest>,
    ) -> Result<Response<v1::Session>, Status> {
        let span = joule_telemetry::grpc_server_span("GetSession", &request);
        let r = request.into_inner();
        async move {
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM sessions.session_view WHERE id = $1"
            ))
            .bind(&r.session_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("session {} not found", r.session_id)))?;
            Ok(Response::new(to_session(&row).map_err(internal)?))
        }
        .instrument(span)
        .await
    }
}

pub struct SessionEvidenceGrpc {
    pub pool: PgPool,
}

#[tonic::async_trait]
impl v1::session_evidence_service_server::SessionEvidenceService for SessionEvidenceGrpc {
    async fn list_signed_meter_values(
        &self,
        request: Request<v1::ListSignedMeterValuesRequest>,
    ) -> Result<Response<v1::ListSignedMeterValuesResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListSignedMeterValues", &request);
        let r = request.into_inner();
        async move {
            let transaction_id: Option<String> = sqlx::query_scalar(
                "SELECT transaction_id FROM sessions.session_view WHERE id = $1",
            )
            .bind(&r.session_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
            let Some(transaction_id) = transaction_id else {
                return Err(Status::not_found(format!(
                    "session {} not found",
                    r.session_id
                )));
            };
            let rows = sqlx::query(
                "SELECT context, measurand, charger_time, format, signed_meter_data, signing_method,
                        encoding_method, public_key
                 FROM sessions.signed_meter_values WHERE session_id = $1 ORDER BY charger_time, id",
            )
            .bind(&r.session_id)
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
            let values = rows
                .iter()
                .map(|row| -> Result<v1::SessionSignedMeterValue, sqlx::Error> {
                    Ok(v1::SessionSignedMeterValue {
                        session_id: r.session_id.clone(),
                        transaction_id: transaction_id.clone(),
                        context: row.try_get("context")?,
                        measurand: row.try_get("measurand")?,
                        charger_time: row
                            .try_get::<Option<DateTime<Utc>>, _>("charger_time")?
                            .map(to_proto),
                        format: row.try_get("format")?,
                        signed: Some(v1::SignedMeterValue {
                            signed_meter_data: row.try_get("signed_meter_data")?,
                            signing_method: row.try_get("signing_method")?,
                            encoding_method: row.try_get("encoding_method")?,
                            public_key: row.try_get("public_key")?,
                        }),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            Ok(Response::new(v1::ListSignedMeterValuesResponse { values }))
        }
        .instrument(span)
        .await
    }
}
