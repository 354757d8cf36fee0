//! `/v1/drivers` and `/v1/vehicles`: the members of a fleet. A fleet manager registers and changes
//! them in her fleets only; a `fleet_id` or `cost_centre_id` she cannot reach is 404 naming it.

use crate::reply::Created;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use joule_domain::FleetId;
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Changeable, changed, ensure_active, limit, nullable, nullable_of, optional, reachable,
    status_of, to_change,
};
use crate::access::Scope;
use crate::auth::Caller;
use crate::domain::driver::DriverCommand;
use crate::domain::vehicle::{self, VehicleCommand, Vin};
use crate::domain::{CostCentreId, DriverId, Email, Name, Status};
use crate::extract::ApiJson;
use crate::problem::{ApiError, Validator};
use crate::projections::fleets::{CostCentreView, DriverView, FleetView, VehicleView};
use crate::projections::read;
use crate::routes::AppState;
use crate::routes::payments::Amount;
use crate::routes::registry::{create, now};

/// The fleet a new member joins: one the caller reaches (else 404 naming `fleet_id`) and active.
async fn fleet_for(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    fleet_id: FleetId,
) -> Result<FleetView, ApiError> {
    let fleets = limit(caller, scope);
    let fleet: FleetView = reachable(
        state,
        caller,
        fleets.as_deref(),
        "fleet_id",
        fleet_id.as_uuid(),
    )
    .await?;
    ensure_active(&fleet, "fleet_id")?;
    Ok(fleet)
}

/// A cost centre a member is charged to: one the caller reaches (else 404 naming
/// `cost_centre_id`), active, of the account that holds the member's fleet.
async fn cost_centre_for(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    fleet: &FleetView,
    cost_centre_id: CostCentreId,
) -> Result<(), ApiError> {
    let fleets = limit(caller, scope);
    let id = cost_centre_id.as_uuid();
    let cost_centre: CostCentreView =
        reachable(state, caller, fleets.as_deref(), "cost_centre_id", id).await?;
    if cost_centre.account_id != fleet.account_id {
        return Err(ApiError::field(
            "cost_centre_id",
            "a cost centre of another account than the one that holds the fleet",
        ));
    }
    ensure_active(&cost_centre, "cost_centre_id")
}

/// Where a new member goes: a fleet the caller reaches under `scope` and, if given, a cost centre of
/// that fleet's account ([`fleet_for`], [`cost_centre_for`]).
async fn placement(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    fleet_id: FleetId,
    cost_centre_id: Option<CostCentreId>,
) -> Result<(), ApiError> {
    let fleet = fleet_for(state, caller, scope, fleet_id).await?;
    if let Some(cost_centre_id) = cost_centre_id {
        cost_centre_for(state, caller, scope, &fleet, cost_centre_id).await?;
    }
    Ok(())
}

/// A cost centre a PATCH gives an existing member (of `fleet_id`, which never changes): checked
/// against the fleet as it is ([`cost_centre_for`]). Keeping or removing it checks nothing.
async fn new_cost_centre(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    fleet_id: Uuid,
    cost_centre: Option<Option<CostCentreId>>,
) -> Result<(), ApiError> {
    let Some(Some(cost_centre_id)) = cost_centre else {
        return Ok(());
    };
    let fleet: FleetView = read::get(&state.pool, &caller.tenant, fleet_id)
        .await?
        .ok_or_else(|| {
            ApiError::internal(format!("fleet {fleet_id} of a member is not projected"))
        })?;
    cost_centre_for(state, caller, scope, &fleet, cost_centre_id).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDriver {
    fleet_id: String,
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    cost_centre_id: Option<String>,
}

/// `POST /v1/drivers` `{fleet_id, name, email?, cost_centre_id?}`.
pub async fn create_driver(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewDriver>,
) -> Result<Created<DriverView>, ApiError> {
    let mut v = Validator::default();
    let fleet = v.check("fleet_id", body.fleet_id.parse::<FleetId>());
    let name = v.check("name", body.name.parse::<Name>());
    let email = optional::<Email>(&mut v, "email", body.email.as_deref());
    let cost_centre = optional(&mut v, "cost_centre_id", body.cost_centre_id.as_deref());
    let (Some(fleet_id), Some(name), Some(email), Some(cost_centre_id)) =
        (fleet, name, email, cost_centre)
    else {
        return Err(v.into_error());
    };
    placement(&state, &caller, DriverView::WRITE, fleet_id, cost_centre_id).await?;
    let driver_id = DriverId::new();
    let at = now();
    let fallback = DriverView {
        seq: 0,
        id: driver_id.as_uuid(),
        fleet_id: fleet_id.as_uuid(),
        name: name.to_string(),
        email: email.as_ref().map(|e| e.as_str().to_owned()),
        cost_centre_id: cost_centre_id.map(|c| c.as_uuid()),
        status: Status::Active.as_str().to_owned(),
        created_at: at,
        updated_at: at,
    };
    let command = DriverCommand::Register {
        driver_id,
        fleet_id,
        name,
        email,
        cost_centre_id,
        at,
    };
    let drivers = &state.registry.drivers;
    create(&state, &caller, drivers, command, "/v1/drivers", fallback).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriverChange {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    cost_centre_id: Option<Option<String>>,
    #[serde(default)]
    status: Option<String>,
}

/// `PATCH /v1/drivers/{id}` `{name?, email?, cost_centre_id?, status?}`; `null` removes an email or
/// cost centre.
pub async fn change_driver(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
    ApiJson(body): ApiJson<DriverChange>,
) -> Result<Json<DriverView>, ApiError> {
    let current: DriverView = to_change(&state, &caller, &raw_id).await?;
    let mut v = Validator::default();
    let name = body
        .name
        .as_deref()
        .and_then(|n| v.check("name", n.parse::<Name>()));
    let email = nullable_of::<Email>(&mut v, "email", body.email);
    let cost_centre = nullable_of(&mut v, "cost_centre_id", body.cost_centre_id);
    let status = status_of(&body.status, &mut v);
    v.finish()?;
    let scope = DriverView::WRITE;
    new_cost_centre(&state, &caller, scope, current.fleet_id, cost_centre).await?;
    let expected = DriverView {
        name: name.as_ref().map_or(current.name.clone(), Name::to_string),
        email: email
            .clone()
            .map_or(current.email.clone(), |e| e.map(|e| e.as_str().to_owned())),
        cost_centre_id: cost_centre.map_or(current.cost_centre_id, |c| c.map(|c| c.as_uuid())),
        status: status.map_or(current.status.clone(), |s| s.as_str().to_owned()),
        ..current.clone()
    };
    let change = |at| DriverCommand::Change {
        name,
        email,
        cost_centre_id: cost_centre,
        status,
        at,
    };
    changed(&state, &caller, current, expected, change).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVehicle {
    fleet_id: String,
    vin: String,
    make: String,
    model: String,
    battery_capacity_kwh: Amount,
    #[serde(default)]
    cost_centre_id: Option<String>,
}

/// A battery capacity as sent: a decimal string (or a JSON number, read as its text), in kWh.
fn capacity(raw: &Amount) -> Result<Decimal, String> {
    let text = raw.text();
    let kwh: Decimal = text
        .parse()
        .map_err(|_| format!("{text:?} is not a decimal number of kWh such as \"77.5\""))?;
    vehicle::battery_capacity_kwh(kwh)
}

/// `POST /v1/vehicles` `{fleet_id, vin, make, model, battery_capacity_kwh, cost_centre_id?}`; a VIN
/// is registered once per fleet (409).
pub async fn create_vehicle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewVehicle>,
) -> Result<Created<VehicleView>, ApiError> {
    let mut v = Validator::default();
    let fleet = v.check("fleet_id", body.fleet_id.parse::<FleetId>());
    let vin = v.check("vin", body.vin.parse::<Vin>());
    let make = v.check("make", body.make.parse::<Name>());
    let model = v.check("model", body.model.parse::<Name>());
    let kwh = v.check("battery_capacity_kwh", capacity(&body.battery_capacity_kwh));
    let cost_centre = optional(&mut v, "cost_centre_id", body.cost_centre_id.as_deref());
    let (Some(fleet_id), Some(vin), Some(make), Some(model), Some(kwh), Some(cost_centre_id)) =
        (fleet, vin, make, model, kwh, cost_centre)
    else {
        return Err(v.into_error());
    };
    placement(
        &state,
        &caller,
        VehicleView::WRITE,
        fleet_id,
        cost_centre_id,
    )
    .await?;
    let id_key = state.id_key(&caller.tenant);
    let vehicle_id = vehicle::vehicle_id(&caller.tenant, &id_key, fleet_id, &vin);
    let at = now();
    let fallback = VehicleView {
        seq: 0,
        id: vehicle_id.as_uuid(),
        fleet_id: fleet_id.as_uuid(),
        vin: vin.to_string(),
        make: make.to_string(),
        model: model.to_string(),
        battery_capacity_kwh: kwh,
        cost_centre_id: cost_centre_id.map(|c| c.as_uuid()),
        status: Status::Active.as_str().to_owned(),
        created_at: at,
        updated_at: at,
    };
    let command = VehicleCommand::Register {
        vehicle_id,
        fleet_id,
        vin,
        make,
        model,
        battery_capacity_kwh: kwh,
        cost_centre_id,
        at,
    };
    let vehicles = &state.registry.vehicles;
    create(&state, &caller, vehicles, command, "/v1/vehicles", fallback).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VehicleChange {
    #[serde(default)]
    make: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    battery_capacity_kwh: Option<Amount>,
    #[serde(default, deserialize_with = "nullable")]
    cost_centre_id: Option<Option<String>>,
    #[serde(default)]
    status: Option<String>,
}

/// `PATCH /v1/vehicles/{id}` `{make?, model?, battery_capacity_kwh?, cost_centre_id?, status?}`;
/// `null` removes the cost centre. The VIN and the fleet do not change.
pub async fn change_vehicle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
    ApiJson(body): ApiJson<VehicleChange>,
) -> Result<Json<VehicleView>, ApiError> {
    let current: VehicleView = to_change(&state, &caller, &raw_id).await?;
    let mut v = Validator::default();
    let make = body
        .make
        .as_deref()
        .and_then(|m| v.check("make", m.parse::<Name>()));
    let model = body
        .model
        .as_deref()
        .and_then(|m| v.check("model", m.parse::<Name>()));
    let kwh = body
        .battery_capacity_kwh
        .as_ref()
        .and_then(|k| v.check("battery_capacity_kwh", capacity(k)));
    let cost_centre = nullable_of(&mut v, "cost_centre_id", body.cost_centre_id);
    let status = status_of(&body.status, &mut v);
    v.finish()?;
    let scope = VehicleView::WRITE;
    new_cost_centre(&state, &caller, scope, current.fleet_id, cost_centre).await?;
    let expected = VehicleView {
        make: make.as_ref().map_or(current.make.clone(), Name::to_string),
        model: model
            .as_ref()
            .map_or(current.model.clone(), Name::to_string),
        battery_capacity_kwh: kwh.unwrap_or(current.battery_capacity_kwh),
        cost_centre_id: cost_centre.map_or(current.cost_centre_id, |c| c.map(|c| c.as_uuid())),
        status: status.map_or(current.status.clone(), |s| s.as_str().to_owned()),
        ..current.clone()
    };
    let change = |at| VehicleCommand::Change {
        make,
        model,
        battery_capacity_kwh: kwh,
        cost_centre_id: cost_centre,
        status,
        at,
    };
    changed(&state, &caller, current, expected, change).await
}
