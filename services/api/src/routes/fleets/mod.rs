//! Fleet records (issue 13): `/v1/fleets`, `/v1/cost-centres`, `/v1/drivers`, `/v1/vehicles`, and a
//! token's assignment to a driver and/or vehicle (`PUT /v1/tokens/{id}/assignment`).
//!
//! An account holds fleets and cost centres; a fleet has drivers and vehicles. A caller whose
//! roles grant a scope only through `fleet_manager` is limited to the key's fleets
//! ([`limit`]): she reaches her fleets, their drivers, vehicles and tokens, the unassigned tokens
//! and the cost centres of the accounts that hold them, and nothing else; anything beyond reads as
//! none (404), in a path or in a body (`fleet_id` of another fleet: 404 naming the field). Creating
//! fleets and cost centres takes `fleets:write` / `cost_centres:write`, which she does not hold.
//!
//! As in [`super::registry`], a write checks every field and every record it refers to before its
//! command runs, so a refused request writes nothing, and answers once the relay projected it.
//! Lists take `cursor`, `limit`, `created_after`, `created_before` and the filters each resource
//! names ([`crate::projections::read::Fleeted::FILTERS`]); an unknown parameter is refused.

mod assignment;
mod members;

use crate::reply::Created;
use std::fmt::Display;
use std::str::FromStr;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use joule_domain::{AccountId, FleetId};
use joule_store::{Decided, Decider};
use postgres_es::PostgresCqrs;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::registry::{create, execute, now};
use super::table::RouteTable;
use super::{AppState, path_id};
use crate::access::{Role, Scope};
use crate::auth::Caller;
use crate::domain::cost_centre::{self, CostCentre, CostCentreCommand};
use crate::domain::driver::Driver;
use crate::domain::fleet::{Fleet, FleetCommand};
use crate::domain::vehicle::Vehicle;
use crate::domain::{Code, Name, Status};
use crate::extract::{ApiJson, Listed, PAGE_PARAMS, Param, ParamKind, QueryParams, RawQuery};
use crate::problem::{ApiError, Validator};
use crate::projections::fleets::{CostCentreView, DriverView, FleetView, VehicleView};
use crate::projections::read::{
    self, AccountView, ChargerView, FilterKind, FilterValue, Fleeted, Listing, SiteView, TokenView,
};

pub fn routes(t: RouteTable) -> RouteTable {
    t.get("/v1/fleets", Scope::FleetsRead, list::<FleetView>)
        .post("/v1/fleets", Scope::FleetsWrite, create_fleet)
        .get("/v1/fleets/{id}", Scope::FleetsRead, one::<FleetView>)
        .patch(
            "/v1/fleets/{id}",
            Scope::FleetsWrite,
            change_named::<FleetView>,
        )
        .get(
            "/v1/cost-centres",
            Scope::CostCentresRead,
            list::<CostCentreView>,
        )
        .post(
            "/v1/cost-centres",
            Scope::CostCentresWrite,
            create_cost_centre,
        )
        .get(
            "/v1/cost-centres/{id}",
            Scope::CostCentresRead,
            one::<CostCentreView>,
        )
        .patch(
            "/v1/cost-centres/{id}",
            Scope::CostCentresWrite,
            change_named::<CostCentreView>,
        )
        .get("/v1/drivers", Scope::DriversRead, list::<DriverView>)
        .post("/v1/drivers", Scope::DriversWrite, members::create_driver)
        .get("/v1/drivers/{id}", Scope::DriversRead, one::<DriverView>)
        .patch(
            "/v1/drivers/{id}",
            Scope::DriversWrite,
            members::change_driver,
        )
        .get("/v1/vehicles", Scope::VehiclesRead, list::<VehicleView>)
        .post(
            "/v1/vehicles",
            Scope::VehiclesWrite,
            members::create_vehicle,
        )
        .get("/v1/vehicles/{id}", Scope::VehiclesRead, one::<VehicleView>)
        .patch(
            "/v1/vehicles/{id}",
            Scope::VehiclesWrite,
            members::change_vehicle,
        )
        .put(
            "/v1/tokens/{id}/assignment",
            Scope::TokensWrite,
            assignment::assign,
        )
}

/// The fleets `caller` is limited to when acting under `scope`: `None` when a role other than
/// `fleet_manager` grants the scope (an admin key that also manages fleets is not limited), the
/// key's fleets otherwise. A fleet manager without fleets reaches nothing.
pub(crate) fn limit(caller: &Caller, scope: Scope) -> Option<Vec<Uuid>> {
    if !caller.roles.contains(&Role::FleetManager) {
        return None;
    }
    let wider = caller
        .roles
        .iter()
        .any(|r| *r != Role::FleetManager && r.scopes().contains(scope));
    (!wider).then(|| caller.fleets.iter().map(FleetId::as_uuid).collect())
}

/// The scope a read of the resource requires (what [`limit`] is asked about).
pub(crate) trait Readable: Fleeted {
    const READ: Scope;
}

impl Readable for FleetView {
    const READ: Scope = Scope::FleetsRead;
}
impl Readable for CostCentreView {
    const READ: Scope = Scope::CostCentresRead;
}
impl Readable for DriverView {
    const READ: Scope = Scope::DriversRead;
}
impl Readable for VehicleView {
    const READ: Scope = Scope::VehiclesRead;
}
impl Readable for TokenView {
    const READ: Scope = Scope::TokensRead;
}
impl Readable for SiteView {
    const READ: Scope = Scope::SitesRead;
}
impl Readable for ChargerView {
    const READ: Scope = Scope::ChargersRead;
}
impl Readable for AccountView {
    const READ: Scope = Scope::AccountsRead;
}

/// `GET /v1/<collection>/{id}`: one record the caller reaches, else 404.
pub(crate) async fn one<R: Readable>(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
) -> Result<Json<R>, ApiError> {
    let id: Uuid = path_id(&raw_id, R::NOUN)?;
    let fleets = limit(&caller, R::READ);
    read::find_within(&state.pool, &caller.tenant, fleets.as_deref(), id)
        .await
        .map(Json)
}

/// `GET /v1/<collection>?...`: a page of the records the caller reaches.
pub(crate) async fn list<R: Readable>(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<RecordQuery<R>>,
) -> Result<Json<Listed<R>>, ApiError> {
    let listing = listing::<R, _>(&query, limit(&caller, R::READ))?;
    let page = query.page()?;
    read::list_within(&state.pool, &caller.tenant, &listing, &page)
        .await
        .map(Json)
}

const PAGING: &[&str] = &["created_after", "created_before", "cursor", "limit"];

/// The query parameters of a registry list: its filters ([`Fleeted::FILTERS`]), the creation
/// window and the page.
pub(crate) struct RecordQuery<R>(std::marker::PhantomData<R>);

impl<R: Fleeted> QueryParams for RecordQuery<R> {
    fn params() -> Vec<Param> {
        let filters = R::FILTERS.iter().map(|f| Param {
            name: f.name,
            kind: match f.kind {
                FilterKind::Id => ParamKind::Id,
                FilterKind::Status | FilterKind::Text => ParamKind::Text,
            },
            description: "Records whose field of this name has this value.",
        });
        let window = [
            Param {
                name: "created_after",
                kind: ParamKind::Time,
                description: "Created at or after this time.",
            },
            Param {
                name: "created_before",
                kind: ParamKind::Time,
                description: "Created before this time.",
            },
        ];
        filters.chain(window).chain(PAGE_PARAMS).collect()
    }
}

/// The list's parameters, each checked; all bad ones are named at once.
fn listing<R: Fleeted, P>(
    query: &RawQuery<P>,
    fleets: Option<Vec<Uuid>>,
) -> Result<Listing, ApiError> {
    let known: Vec<&str> = R::FILTERS
        .iter()
        .map(|f| f.name)
        .chain(PAGING.iter().copied())
        .collect();
    let mut v = query.only(&known);
    let mut filters = Vec::new();
    for filter in R::FILTERS {
        let Some(raw) = query.get(filter.name) else {
            continue;
        };
        let value = match filter.kind {
            FilterKind::Id => v
                .check(filter.name, raw.parse::<Uuid>().map_err(|_| "not an id"))
                .map(FilterValue::Id),
            FilterKind::Status => v
                .check(filter.name, raw.parse::<Status>())
                .map(|s| FilterValue::Text(s.as_str().to_owned())),
            FilterKind::Text => Some(FilterValue::Text(raw.to_owned())),
        };
        if let Some(value) = value {
            filters.push((filter.name, value));
        }
    }
    let created_after = query.time(&mut v, "created_after");
    let created_before = query.time(&mut v, "created_before");
    v.finish()?;
    Ok(Listing {
        fleets,
        filters,
        created_after,
        created_before,
    })
}

/// A PATCH member that may be `null` (to remove the value) or absent (to keep it).
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A resource a PATCH changes: the scope a write requires (what [`limit`] is asked about), the
/// aggregate that records the change and the view's `updated_at`, which the projection moves.
pub(crate) trait Changeable: Readable + Clone + PartialEq {
    const WRITE: Scope;
    type Decider: Decider<Command: Clone>;

    fn aggregate(state: &AppState) -> &PostgresCqrs<Decided<Self::Decider>>;
    fn updated_at(&mut self) -> &mut DateTime<Utc>;
    fn status(&self) -> &str;
}

impl Changeable for FleetView {
    const WRITE: Scope = Scope::FleetsWrite;
    type Decider = Fleet;

    fn aggregate(state: &AppState) -> &PostgresCqrs<Decided<Fleet>> {
        &state.registry.fleets
    }
    fn updated_at(&mut self) -> &mut DateTime<Utc> {
        &mut self.updated_at
    }
    fn status(&self) -> &str {
        &self.status
    }
}
impl Changeable for CostCentreView {
    const WRITE: Scope = Scope::CostCentresWrite;
    type Decider = CostCentre;

    fn aggregate(state: &AppState) -> &PostgresCqrs<Decided<CostCentre>> {
        &state.registry.cost_centres
    }
    fn updated_at(&mut self) -> &mut DateTime<Utc> {
        &mut self.updated_at
    }
    fn status(&self) -> &str {
        &self.status
    }
}
impl Changeable for DriverView {
    const WRITE: Scope = Scope::DriversWrite;
    type Decider = Driver;

    fn aggregate(state: &AppState) -> &PostgresCqrs<Decided<Driver>> {
        &state.registry.drivers
    }
    fn updated_at(&mut self) -> &mut DateTime<Utc> {
        &mut self.updated_at
    }
    fn status(&self) -> &str {
        &self.status
    }
}
impl Changeable for VehicleView {
    const WRITE: Scope = Scope::VehiclesWrite;
    type Decider = Vehicle;

    fn aggregate(state: &AppState) -> &PostgresCqrs<Decided<Vehicle>> {
        &state.registry.vehicles
    }
    fn updated_at(&mut self) -> &mut DateTime<Utc> {
        &mut self.updated_at
    }
    fn status(&self) -> &str {
        &self.status
    }
}

/// The record `PATCH /v1/<collection>/{id}` changes: one the caller may write, else 404.
pub(crate) async fn to_change<R: Changeable>(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<R, ApiError> {
    let id: Uuid = path_id(raw_id, R::NOUN)?;
    let fleets = limit(caller, R::WRITE);
    read::find_within(&state.pool, &caller.tenant, fleets.as_deref(), id).await
}

/// Answers a PATCH: `expected` is `current` with the requested values (and `current`'s
/// `updated_at`). Nothing to change runs no command; otherwise the command `change` makes at the
/// time of the change runs, and the answer waits for the projection to show the values.
pub(crate) async fn changed<R: Changeable>(
    state: &AppState,
    caller: &Caller,
    current: R,
    expected: R,
    change: impl FnOnce(DateTime<Utc>) -> <R::Decider as Decider>::Command,
) -> Result<Json<R>, ApiError> {
    if expected == current {
        return Ok(Json(current));
    }
    let at = now();
    execute(R::aggregate(state), current.id(), change(at), caller).await?;
    let mut probe = expected.clone();
    let before = *probe.updated_at();
    let settled = |row: &R| {
        let mut row = row.clone();
        *row.updated_at() = before;
        row == expected
    };
    let projected = read::wait_until(&state.pool, &caller.tenant, current.id(), settled).await?;
    Ok(Json(projected.unwrap_or_else(|| {
        tracing::warn!(id = %current.id(), noun = R::NOUN, "projection is behind; answering from the command");
        let mut written = expected.clone();
        *written.updated_at() = at;
        written
    })))
}

/// The record a body names by `id` in `field`: one the caller reaches within `fleets`, else 404
/// naming the field.
pub(crate) async fn reachable<R: Changeable>(
    state: &AppState,
    caller: &Caller,
    fleets: Option<&[Uuid]>,
    field: &str,
    id: Uuid,
) -> Result<R, ApiError> {
    read::get_within(&state.pool, &caller.tenant, fleets, id)
        .await?
        .ok_or_else(|| ApiError::no_such(field, format!("no {} with id {id}", R::NOUN)))
}

/// Refuses a record named in `field` that is archived: only an active one takes new members,
/// cost centres or cards.
pub(crate) fn ensure_active<R: Changeable>(record: &R, field: &str) -> Result<(), ApiError> {
    if record.status() != Status::Active.as_str() {
        return Err(ApiError::field(
            field,
            format!("the {} is archived", R::NOUN),
        ));
    }
    Ok(())
}

fn status_of(raw: &Option<String>, v: &mut Validator) -> Option<Status> {
    raw.as_deref()
        .and_then(|s| v.check("status", s.parse::<Status>()))
}

/// An optional member of a new record: `Some(None)` when absent, `None` when refused (the
/// refusal is in `v`).
pub(crate) fn optional<T: FromStr<Err: Display>>(
    v: &mut Validator,
    field: &str,
    raw: Option<&str>,
) -> Option<Option<T>> {
    match raw {
        None => Some(None),
        Some(raw) => v.check(field, raw.parse::<T>()).map(Some),
    }
}

/// A [`nullable`] PATCH member: `None` keeps the value (as does a refused one: the refusal is in
/// `v`), `Some(None)` removes it.
pub(crate) fn nullable_of<T: FromStr<Err: Display>>(
    v: &mut Validator,
    field: &str,
    raw: Option<Option<String>>,
) -> Option<Option<T>> {
    match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => v.check(field, raw.parse::<T>()).map(Some),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFleet {
    account_id: String,
    name: String,
}

/// `POST /v1/fleets` `{account_id, name}`.
pub async fn create_fleet(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewFleet>,
) -> Result<Created<FleetView>, ApiError> {
    let mut v = Validator::default();
    let account = v.check("account_id", body.account_id.parse::<AccountId>());
    let name = v.check("name", body.name.parse::<Name>());
    let (Some(account_id), Some(name)) = (account, name) else {
        return Err(v.into_error());
    };
    account_exists(&state, &caller, Scope::FleetsWrite, account_id).await?;
    let fleet_id = FleetId::new();
    let at = now();
    let fallback = FleetView {
        seq: 0,
        id: fleet_id.as_uuid(),
        account_id: account_id.as_uuid(),
        name: name.to_string(),
        status: Status::Active.as_str().to_owned(),
        created_at: at,
        updated_at: at,
    };
    let command = FleetCommand::Create {
        fleet_id,
        account_id,
        name,
        at,
    };
    let fleets = &state.registry.fleets;
    create(&state, &caller, fleets, command, "/v1/fleets", fallback).await
}

/// The account a new fleet or cost centre belongs to, or 404 naming `account_id`.
/// The account exists and the caller reaches it with `scope` (a fleet manager: an account that
/// holds one of her fleets); else a 404 naming `account_id`.
async fn account_exists(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    account_id: AccountId,
) -> Result<(), ApiError> {
    let fleets = limit(caller, scope);
    let account: Option<AccountView> = read::get_within(
        &state.pool,
        &caller.tenant,
        fleets.as_deref(),
        account_id.as_uuid(),
    )
    .await?;
    match account {
        Some(_) => Ok(()),
        None => Err(ApiError::no_such(
            "account_id",
            format!("no account with id {account_id}"),
        )),
    }
}

/// Fleets and cost centres, whose name and status are all a PATCH changes.
pub(crate) trait Named: Changeable {
    fn name_and_status(&mut self) -> (&mut String, &mut String);
    fn change(
        name: Option<Name>,
        status: Option<Status>,
        at: DateTime<Utc>,
    ) -> <Self::Decider as Decider>::Command;
}

impl Named for FleetView {
    fn name_and_status(&mut self) -> (&mut String, &mut String) {
        (&mut self.name, &mut self.status)
    }
    fn change(name: Option<Name>, status: Option<Status>, at: DateTime<Utc>) -> FleetCommand {
        FleetCommand::Change { name, status, at }
    }
}
impl Named for CostCentreView {
    fn name_and_status(&mut self) -> (&mut String, &mut String) {
        (&mut self.name, &mut self.status)
    }
    fn change(name: Option<Name>, status: Option<Status>, at: DateTime<Utc>) -> CostCentreCommand {
        CostCentreCommand::Change { name, status, at }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameChange {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// `PATCH /v1/fleets/{id}` and `PATCH /v1/cost-centres/{id}` `{name?, status?}`.
pub async fn change_named<R: Named>(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw_id): Path<String>,
    ApiJson(body): ApiJson<NameChange>,
) -> Result<Json<R>, ApiError> {
    let current: R = to_change(&state, &caller, &raw_id).await?;
    let mut v = Validator::default();
    let name = body
        .name
        .as_deref()
        .and_then(|n| v.check("name", n.parse::<Name>()));
    let status = status_of(&body.status, &mut v);
    v.finish()?;
    let mut expected = current.clone();
    let (expected_name, expected_status) = expected.name_and_status();
    if let Some(name) = &name {
        *expected_name = name.to_string();
    }
    if let Some(status) = status {
        *expected_status = status.as_str().to_owned();
    }
    let change = |at| R::change(name, status, at);
    changed(&state, &caller, current, expected, change).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCostCentre {
    account_id: String,
    code: String,
    name: String,
}

/// `POST /v1/cost-centres` `{account_id, code, name}`; a code is created once per account (409).
pub async fn create_cost_centre(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewCostCentre>,
) -> Result<Created<CostCentreView>, ApiError> {
    let mut v = Validator::default();
    let account = v.check("account_id", body.account_id.parse::<AccountId>());
    let code = v.check("code", body.code.parse::<Code>());
    let name = v.check("name", body.name.parse::<Name>());
    let (Some(account_id), Some(code), Some(name)) = (account, code, name) else {
        return Err(v.into_error());
    };
    account_exists(&state, &caller, Scope::CostCentresWrite, account_id).await?;
    let id_key = state.id_key(&caller.tenant);
    let cost_centre_id = cost_centre::cost_centre_id(&caller.tenant, &id_key, account_id, &code);
    let at = now();
    let fallback = CostCentreView {
        seq: 0,
        id: cost_centre_id.as_uuid(),
        account_id: account_id.as_uuid(),
        code: code.to_string(),
        name: name.to_string(),
        status: Status::Active.as_str().to_owned(),
        created_at: at,
        updated_at: at,
    };
    let command = CostCentreCommand::Create {
        cost_centre_id,
        account_id,
        code,
        name,
        at,
    };
    let cost_centres = &state.registry.cost_centres;
    create(
        &state,
        &caller,
        cost_centres,
        command,
        "/v1/cost-centres",
        fallback,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Actor;
    use crate::projections::read::Resource;

    fn caller(roles: &[Role], fleets: &[FleetId]) -> Caller {
        Caller {
            tenant: "acme".parse().unwrap(),
            actor: Actor::ApiKey("k".into()),
            roles: roles.to_vec(),
            scopes: Role::scopes_of(roles),
            fleets: fleets.to_vec(),
            driver: None,
        }
    }

    #[test]
    fn only_a_scope_held_through_fleet_manager_alone_is_limited() {
        let vans = FleetId::new();
        let manager = caller(&[Role::FleetManager], &[vans]);
        assert_eq!(
            limit(&manager, Scope::DriversWrite),
            Some(vec![vans.as_uuid()])
        );
        // A role that grants the scope on its own lifts the limit for that scope only.
        let with_operator = caller(&[Role::FleetManager, Role::Operator], &[vans]);
        assert_eq!(limit(&with_operator, Scope::TokensWrite), None);
        assert_eq!(
            limit(&with_operator, Scope::DriversWrite),
            Some(vec![vans.as_uuid()])
        );
        // Without fleets a fleet manager reaches nothing, rather than everything.
        assert_eq!(
            limit(&caller(&[Role::FleetManager], &[]), Scope::DriversRead),
            Some(vec![])
        );
        assert_eq!(
            limit(&caller(&[Role::Admin], &[]), Scope::DriversRead),
            None
        );
    }

    fn query(pairs: &[(&str, &str)]) -> RawQuery {
        RawQuery::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn refused(result: Result<Listing, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation problem, got {other:?}"),
        }
    }

    #[test]
    fn list_parameters_are_the_resources_filters_and_paging() {
        let fleet = Uuid::new_v4();
        let parsed = listing::<DriverView, _>(
            &query(&[
                ("fleet_id", &fleet.to_string()),
                ("status", "archived"),
                ("created_after", "2026-12-01T00:00:00+01:00"),
                ("limit", "10"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            parsed.filters,
            [
                ("fleet_id", FilterValue::Id(fleet)),
                ("status", FilterValue::Text("archived".into()))
            ]
        );
        assert_eq!(
            parsed.created_after.unwrap().to_rfc3339(),
            "2026-11-30T23:00:00+00:00"
        );
        assert_eq!(
            refused(listing::<DriverView, _>(
                &query(&[("vin", "X"), ("fleet_id", "7"), ("created_before", "today")]),
                None,
            )),
            ["vin", "fleet_id", "created_before"]
        );
        // Each resource has its own filters.
        assert!(listing::<VehicleView, _>(&query(&[("vin", "X")]), None).is_ok());
        assert_eq!(VehicleView::NOUN, "vehicle");
    }
}
