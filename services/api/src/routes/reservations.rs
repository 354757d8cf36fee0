//! `/v1/reservations`: a charger held for a token until a time. Creating one sends OCPP ReserveNow
//! (through the gateway's `ChargerCommands`) and records the charger's answer; cancelling sends
//! CancelReservation. Expiry, use by a session and the fee happen without a request
//! ([`crate::reservations`], [`crate::consumers::session_started`]).
//!
//! A request refused before the charger is asked (a bad field, another tenant's charger or token)
//! writes nothing. Once asked, the charger's answer is recorded whatever it is: a refusal (409
//! naming the charger's status) and a failure (not connected: 409; no answer: 504) stay readable as
//! `refused` and `failed` reservations.

use crate::reply::Created;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use joule_domain::{ChargerId, TariffId, TokenId};
use joule_proto::v1::charger_command_request::Command;
use joule_proto::v1::{self, ChargerCommandRequest};
use joule_store::CommandMeta;
use serde::Deserialize;
use uuid::Uuid;

use super::table::RouteTable;
use super::{Answer, AppState, path_id};
use crate::access::Scope;
use crate::auth::Caller;
use crate::domain::reservation::{Requested, ReservationCommand, ReservationId, Status};
use crate::extract::{ApiJson, Listed, RawQuery};
use crate::problem::{ApiError, Validator};
use crate::projections::read::{self, TokenView};
use crate::projections::reservations::{self as reservations, Filter, ReservationView};

/// How far ahead a reservation may hold.
const MAX_HOLD: TimeDelta = TimeDelta::hours(24);

/// OCPP's connectorId / evseId is an `integer` (int32).
const MAX_CONNECTOR_ID: u32 = i32::MAX as u32;

/// The charger's answer that holds the connector.
const ACCEPTED: &str = "Accepted";

pub fn routes(t: RouteTable) -> RouteTable {
    t.post("/v1/reservations", Scope::ReservationsWrite, create)
        .get("/v1/reservations", Scope::ReservationsRead, list)
        .get("/v1/reservations/{id}", Scope::ReservationsRead, one)
        .post(
            "/v1/reservations/{id}/cancel",
            Scope::ReservationsWrite,
            cancel,
        )
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReservation {
    charger_id: String,
    /// 0 or absent: any connector.
    #[serde(default)]
    connector_id: Option<u32>,
    token_id: String,
    /// RFC 3339; in the future and at most 24 h ahead.
    expires_at: String,
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn meta(caller: &Caller) -> CommandMeta {
    CommandMeta {
        tenant_id: caller.tenant.to_string(),
        correlation_id: Uuid::new_v4().to_string(),
        causation_id: String::new(),
    }
}

fn time(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(6))
        .map_err(|e| format!("must be an RFC 3339 time such as 2027-01-15T08:00:00Z: {e}"))
}

fn uuid(raw: &str, noun: &str) -> Result<Uuid, String> {
    raw.parse()
        .map_err(|_| format!("must be the id of a {noun}, not {raw:?}"))
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewReservation>,
) -> Result<Created<ReservationView>, ApiError> {
    let at = now();
    let mut v = Validator::default();
    let charger_id = v.check("charger_id", uuid(&body.charger_id, "charger"));
    let token_id = v.check("token_id", uuid(&body.token_id, "token"));
    let expires_at = v.check(
        "expires_at",
        time(&body.expires_at).and_then(|t| {
            if t <= at {
                Err(format!("{t} is not in the future"))
            } else if t > at + MAX_HOLD {
                Err(format!("{t} is more than 24 hours ahead"))
            } else {
                Ok(t)
            }
        }),
    );
    let connector_id = body.connector_id.unwrap_or(0);
    if connector_id > MAX_CONNECTOR_ID {
        v.reject(
            "connector_id",
            format!("must be at most {MAX_CONNECTOR_ID} (an OCPP integer)"),
        );
    }
    let (Some(charger_id), Some(token_id), Some(expires_at)) = (charger_id, token_id, expires_at)
    else {
        return Err(v.into_error());
    };
    v.finish()?;
    let pool = &state.pool;
    // A fleet manager reserves with the tokens she reaches only.
    let fleets = super::fleets::limit(&caller, Scope::ReservationsWrite);
    let (charger, token) = tokio::join!(
        reservations::charger_pricing(pool, &caller.tenant, charger_id),
        read::get_within::<TokenView>(pool, &caller.tenant, fleets.as_deref(), token_id),
    );
    let Some((charge_point_id, tariff_id, time_zone)) = charger? else {
        return Err(ApiError::NotFound(format!(
            "no charger with id {charger_id}"
        )));
    };
    let Some(token) = token? else {
        return Err(ApiError::NotFound(format!("no token with id {token_id}")));
    };
    let reservation = Requested {
        reservation_id: ReservationId::new(),
        ocpp_reservation_id: reservations::next_ocpp_id(pool).await?,
        charger_id: ChargerId::from(charger_id),
        charge_point_id: charge_point_id
            .parse()
            .map_err(|e| ApiError::internal(format!("stored charge point id: {e}")))?,
        connector_id,
        token_id: TokenId::from(token_id),
        token_uid: token
            .uid
            .parse()
            .map_err(|e| ApiError::internal(format!("stored token uid: {e}")))?,
        tariff_id: TariffId::from(tariff_id),
        time_zone,
        expires_at,
    };
    let id = reservation.reservation_id;
    let request = ChargerCommandRequest {
        tenant_id: caller.tenant.to_string(),
        charge_point_id: reservation.charge_point_id.to_string(),
        command: Some(Command::ReserveNow(v1::ReserveNow {
            reservation_id: reservation.ocpp_reservation_id,
            connector_id: reservation.connector_id,
            id_token: reservation.token_uid.to_string(),
            expires_at: Some(joule_proto::time::to_proto(expires_at)),
            id_token_type: String::new(),
        })),
    };
    let charge_point = reservation.charge_point_id.clone();
    let command = ReservationCommand::Request { reservation, at };
    state
        .reservations
        .execute(id, command, meta(&caller))
        .await?;

    let answer = state.gateway().execute(request).await;
    let at = now();
    let (command, outcome) = match answer {
        Ok(answer) => {
            let status = answer.into_inner().status;
            if status == ACCEPTED {
                (ReservationCommand::Accept { at }, Ok(()))
            } else {
                let status = if status.is_empty() {
                    "(none)".into()
                } else {
                    status
                };
                let problem = ApiError::conflict(
                    "charger_id",
                    format!(
                        "charger {charge_point} refused the reservation with status {status}; it is recorded as reservation {id}"
                    ),
                );
                let command = ReservationCommand::Refuse {
                    charger_status: status,
                    at,
                };
                (command, Err(problem))
            }
        }
        Err(status) => {
            let reason = status.message().to_owned();
            let problem = if status.code() == tonic::Code::FailedPrecondition {
                ApiError::conflict(
                    "charger_id",
                    format!("{reason}; the reservation is recorded as failed (reservation {id})"),
                )
            } else {
                ApiError::upstream("gateway")(status)
            };
            (ReservationCommand::Fail { reason, at }, Err(problem))
        }
    };
    let recorded = match &command {
        ReservationCommand::Accept { .. } => Status::Accepted,
        ReservationCommand::Refuse { .. } => Status::Refused,
        _ => Status::Failed,
    };
    state
        .reservations
        .execute(id, command, meta(&caller))
        .await?;
    // Whatever the answer, what the client is told is readable once it is told.
    let view = reservations::wait_until(pool, &caller.tenant, id.as_uuid(), |r| {
        r.status == recorded.as_str()
    })
    .await?;
    outcome?;
    let view = view.ok_or_else(|| {
        ApiError::Unavailable(format!(
            "reservation {id} is accepted but not readable yet; GET /v1/reservations/{id} shortly"
        ))
    })?;
    Ok(Created::at(format!("/v1/reservations/{id}"), view))
}

crate::query_params!(pub ReservationQuery, list {
    "charger_id": Id => "Reservations of this charger.",
    "token_id": Id => "Reservations for this token.",
    "status": Text => "The reservation's status.",
    "created_after": Time => "Created at or after this time.",
    "created_before": Time => "Created before this time.",
});

async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<ReservationView>, ApiError> {
    let id: Uuid = path_id(&raw, "reservation")?;
    reachable(&state, &caller, Scope::ReservationsRead, id)
        .await
        .map(Json)
}

/// Reservation `id` of the caller's tenant; for a fleet manager, only one of a token she reaches
/// (another is a 404, as another tenant's).
async fn reachable(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    id: Uuid,
) -> Result<ReservationView, ApiError> {
    let view = reservations::find(&state.pool, &caller.tenant, id).await?;
    if let Some(fleets) = super::fleets::limit(caller, scope) {
        let token = read::get_within::<TokenView>(
            &state.pool,
            &caller.tenant,
            Some(&fleets),
            view.token_id,
        )
        .await?;
        if token.is_none() {
            return Err(ApiError::NotFound(format!("no reservation with id {id}")));
        }
    }
    Ok(view)
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<ReservationQuery>,
) -> Result<Json<Listed<ReservationView>>, ApiError> {
    let page = query.page()?;
    let mut v = query.checked();
    let mut filter = Filter::default();
    if let Some(raw) = query.get("charger_id") {
        filter.charger_id = v.check("charger_id", uuid(raw, "charger"));
    }
    if let Some(raw) = query.get("token_id") {
        filter.token_id = v.check("token_id", uuid(raw, "token"));
    }
    if let Some(raw) = query.get("status") {
        if Status::NAMES.contains(&raw) {
            filter.status = Some(raw.to_owned());
        } else {
            v.reject(
                "status",
                format!("must be one of {}", Status::NAMES.join(", ")),
            );
        }
    }
    filter.created_after = query.time(&mut v, "created_after");
    filter.created_before = query.time(&mut v, "created_before");
    v.finish()?;
    filter.fleets = super::fleets::limit(&caller, Scope::ReservationsRead);
    reservations::list(&state.pool, &caller.tenant, &filter, &page)
        .await
        .map(Json)
}

async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<ReservationView>, ApiError> {
    let id: Uuid = path_id(&raw, "reservation")?;
    let view = reachable(&state, &caller, Scope::ReservationsWrite, id).await?;
    if view.status != Status::Accepted.as_str() {
        return Err(ApiError::conflict(
            "id",
            format!("reservation {id} is {}, not active", view.status),
        ));
    }
    let request = ChargerCommandRequest {
        tenant_id: caller.tenant.to_string(),
        charge_point_id: view.charge_point_id.clone(),
        command: Some(Command::CancelReservation(v1::CancelReservation {
            reservation_id: view.ocpp_reservation_id,
        })),
    };
    let answer = state.gateway().execute(request).await.answer("gateway")?;
    if answer.status != ACCEPTED {
        return Err(ApiError::conflict(
            "id",
            format!(
                "charger {} refused to cancel reservation {id} with status {}",
                view.charge_point_id, answer.status
            ),
        ));
    }
    let reservation_id = ReservationId::from(id);
    let command = ReservationCommand::Cancel { at: now() };
    state
        .reservations
        .execute(reservation_id, command, meta(&caller))
        .await?;
    // The cancellation stands whatever pricing does; the sweep prices what is left.
    let priced = state
        .reservations
        .try_record_fee(reservation_id, meta(&caller))
        .await;
    let cancelled = Status::Cancelled.as_str();
    let view = reservations::wait_until(&state.pool, &caller.tenant, id, |r| {
        r.status == cancelled && (!priced || r.fee.is_some())
    })
    .await?
    .ok_or_else(|| {
        ApiError::Unavailable(format!(
            "reservation {id} is cancelled but not readable yet; GET /v1/reservations/{id} shortly"
        ))
    })?;
    Ok(Json(view))
}
