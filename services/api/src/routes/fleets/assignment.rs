//! `PUT /v1/tokens/{id}/assignment` `{driver_id?, vehicle_id?}`: hands a token to a driver and/or a
//! vehicle of one fleet of the token's account; an absent or `null` id means none, and `{}` takes
//! the token out of its fleet. The assignment is recorded on the token and published on REGISTRY
//! (`registry.assignment.<token id>`).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use uuid::Uuid;

use super::{ensure_active, limit, reachable};
use crate::access::Scope;
use crate::auth::Caller;
use crate::domain::token::{Assignment, TokenCommand};
use crate::domain::{CostCentreId, DriverId, VehicleId};
use crate::extract::ApiJson;
use crate::problem::{ApiError, Validator};
use crate::projections::fleets::{DriverView, FleetView, VehicleView};
use crate::projections::read::{self, TokenView};
use crate::routes::registry::{execute, now};
use crate::routes::{AppState, path_id};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAssignment {
    #[serde(default)]
    driver_id: Option<String>,
    #[serde(default)]
    vehicle_id: Option<String>,
}

pub async fn assign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
    ApiJson(body): ApiJson<NewAssignment>,
) -> Result<Json<TokenView>, ApiError> {
    let token_id: Uuid = path_id(&raw_id, "token")?;
    let fleets = limit(&caller, Scope::TokensWrite);
    let fleets = fleets.as_deref();
    let token: TokenView = read::find_within(&state.pool, &caller.tenant, fleets, token_id).await?;
    let mut v = Validator::default();
    let driver = body
        .driver_id
        .as_deref()
        .map(|d| v.check("driver_id", d.parse::<DriverId>()));
    let vehicle = body
        .vehicle_id
        .as_deref()
        .map(|d| v.check("vehicle_id", d.parse::<VehicleId>()));
    v.finish()?;
    let (driver_id, vehicle_id) = (driver.flatten(), vehicle.flatten());

    // Each must be one the caller reaches, active; both of one fleet of the token's account.
    let mut fleet_id = None;
    let mut cost_centre: Option<Uuid> = None;
    if let Some(driver_id) = driver_id {
        let id = driver_id.as_uuid();
        let driver: DriverView = reachable(&state, &caller, fleets, "driver_id", id).await?;
        ensure_active(&driver, "driver_id")?;
        fleet_id = Some(("driver_id", driver.fleet_id));
        cost_centre = driver.cost_centre_id;
    }
    if let Some(vehicle_id) = vehicle_id {
        let id = vehicle_id.as_uuid();
        let vehicle: VehicleView = reachable(&state, &caller, fleets, "vehicle_id", id).await?;
        ensure_active(&vehicle, "vehicle_id")?;
        if fleet_id.is_some_and(|(_, f)| f != vehicle.fleet_id) {
            return Err(ApiError::field(
                "vehicle_id",
                "a vehicle of another fleet than the driver's",
            ));
        }
        fleet_id = fleet_id.or(Some(("vehicle_id", vehicle.fleet_id)));
        cost_centre = cost_centre.or(vehicle.cost_centre_id);
    }
    if let Some((field, fleet)) = fleet_id {
        let fleet: Option<FleetView> = read::get(&state.pool, &caller.tenant, fleet).await?;
        if fleet.is_none_or(|f| f.account_id != token.account_id) {
            return Err(ApiError::field(
                field,
                "of a fleet of another account than the token's",
            ));
        }
    }
    let assignment = Assignment {
        fleet_id: fleet_id.map(|(_, f)| f.into()),
        driver_id,
        vehicle_id,
        cost_centre_id: cost_centre.map(CostCentreId::from),
    };
    let fleet_uuid = assignment.fleet_id.map(|f| f.as_uuid());
    let driver_uuid = driver_id.map(|d| d.as_uuid());
    let vehicle_uuid = vehicle_id.map(|d| d.as_uuid());
    let unchanged = token.fleet_id == fleet_uuid
        && token.driver_id == driver_uuid
        && token.vehicle_id == vehicle_uuid
        && token.cost_centre_id == cost_centre;
    // A repeated assignment changes nothing; a first empty one neither (the token is in no fleet).
    if unchanged {
        return Ok(Json(token));
    }
    let at = now();
    let command = TokenCommand::Assign { assignment, at };
    execute(&state.registry.tokens, token_id, command, &caller).await?;
    let settled = |t: &TokenView| t.assigned_at == Some(at);
    let projected = read::wait_until(&state.pool, &caller.tenant, token_id, settled).await?;
    Ok(Json(projected.unwrap_or_else(|| {
        tracing::warn!(%token_id, "projection is behind; answering from the command");
        TokenView {
            fleet_id: fleet_uuid,
            driver_id: driver_uuid,
            vehicle_id: vehicle_uuid,
            cost_centre_id: cost_centre,
            assigned_at: Some(at),
            ..token
        }
    })))
}
