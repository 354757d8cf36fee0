//! `/v1/sites`, `/v1/chargers`, `/v1/accounts`, `/v1/tokens`: commands to the registry aggregates,
//! reads from the read tables.
//!
//! A POST validates every field first (reporting all bad fields at once), checks the records it
//! refers to, and only then runs the command, so a rejected request writes nothing. It answers 201
//! once the relay has projected the new record (see [`crate::projections::read`]).

use crate::reply::Created;
use axum::Extension;
use axum::extract::State;
use chrono::{DateTime, SubsecRound, Utc};
use cqrs_es::Aggregate;
use joule_domain::{AccountId, ChargePointId, Currency, SiteId, TariffId, TenantId, TokenUid};
use joule_proto::v1::GetTariffRequest;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use serde::Deserialize;
use uuid::Uuid;

use super::table::RouteTable;
use super::{AppState, fleets};
use crate::access::Scope;
use crate::auth::Caller;
use crate::domain::account::AccountCommand;
use crate::domain::charger::{self, ChargerCommand};
use crate::domain::site::SiteCommand;
use crate::domain::token::{self, TokenCommand};
use crate::domain::{Country, Name, time_zone};
use crate::extract::ApiJson;
use crate::problem::{ApiError, Validator};
use crate::projections::read::{self, AccountView, ChargerView, Resource, SiteView, TokenView};

pub fn routes(t: RouteTable) -> RouteTable {
    // Every list takes its filters, created_after/created_before and a cursor; what a fleet
    // manager reaches is `super::fleets`' to say.
    t.get("/v1/sites", Scope::SitesRead, fleets::list::<SiteView>)
        .post("/v1/sites", Scope::SitesWrite, create_site)
        .get("/v1/sites/{id}", Scope::SitesRead, fleets::one::<SiteView>)
        .get(
            "/v1/chargers",
            Scope::ChargersRead,
            fleets::list::<ChargerView>,
        )
        .post("/v1/chargers", Scope::ChargersWrite, create_charger)
        .get(
            "/v1/chargers/{id}",
            Scope::ChargersRead,
            fleets::one::<ChargerView>,
        )
        .get(
            "/v1/accounts",
            Scope::AccountsRead,
            fleets::list::<AccountView>,
        )
        .post("/v1/accounts", Scope::AccountsWrite, create_account)
        .get(
            "/v1/accounts/{id}",
            Scope::AccountsRead,
            fleets::one::<AccountView>,
        )
        .get("/v1/tokens", Scope::TokensRead, fleets::list::<TokenView>)
        .post("/v1/tokens", Scope::TokensWrite, create_token)
        .get(
            "/v1/tokens/{id}",
            Scope::TokensRead,
            fleets::one::<TokenView>,
        )
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    name: String,
    country: String,
    time_zone: String,
}

pub async fn create_site(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewSite>,
) -> Result<Created<SiteView>, ApiError> {
    let mut v = Validator::default();
    let name = v.check("name", body.name.parse::<Name>());
    let country = v.check("country", body.country.parse::<Country>());
    let tz = v.check("time_zone", time_zone(&body.time_zone));
    let (Some(name), Some(country), Some(tz)) = (name, country, tz) else {
        return Err(v.into_error());
    };
    let site_id = SiteId::new();
    let at = now();
    let fallback = SiteView {
        seq: 0,
        id: site_id.as_uuid(),
        name: name.to_string(),
        country: country.as_str().to_owned(),
        time_zone: tz.name().to_owned(),
        created_at: at,
    };
    let command = SiteCommand::Register {
        site_id,
        name,
        country,
        time_zone: tz,
        at,
    };
    let sites = &state.registry.sites;
    create(&state, &caller, sites, command, "/v1/sites", fallback).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCharger {
    charge_point_id: String,
    site_id: String,
    tariff_id: String,
    /// OCPP security profiles 1 and 2: the charger's HTTP Basic password, hashed at once.
    #[serde(default)]
    password: Option<String>,
}

pub async fn create_charger(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewCharger>,
) -> Result<Created<ChargerView>, ApiError> {
    let mut v = Validator::default();
    let cp = v.check(
        "charge_point_id",
        body.charge_point_id.parse::<ChargePointId>(),
    );
    let site = v.check("site_id", body.site_id.parse::<SiteId>());
    let tariff = v.check("tariff_id", body.tariff_id.parse::<TariffId>());
    let password_hash = match (body.password, &cp) {
        (None, _) => None,
        (Some(password), Some(cp)) => v.check(
            "password",
            super::charger_commands::hash(password, cp.to_string()).await,
        ),
        // The strength check needs the charge point id, which is invalid already.
        (Some(_), None) => None,
    };
    let (Some(cp), Some(site_id), Some(tariff_id)) = (cp, site, tariff) else {
        return Err(v.into_error());
    };
    let (site_tz, tariff_known) = tokio::join!(
        read::site_time_zone(&state.pool, &caller.tenant, site_id.as_uuid()),
        tariff_exists(&state, &caller.tenant, tariff_id),
    );
    let time_zone = v.check(
        "site_id",
        site_tz?.ok_or_else(|| format!("no site with id {site_id}")),
    );
    if !tariff_known? {
        v.reject("tariff_id", format!("no tariff with id {tariff_id}"));
    }
    let Some(time_zone) = time_zone else {
        return Err(v.into_error());
    };
    v.finish()?;
    let charger_id = charger::charger_id(&caller.tenant, &state.id_key(&caller.tenant), &cp);
    let at = now();
    let fallback = ChargerView {
        seq: 0,
        id: charger_id.as_uuid(),
        charge_point_id: cp.to_string(),
        site_id: site_id.as_uuid(),
        tariff_id: tariff_id.as_uuid(),
        created_at: at,
    };
    let command = ChargerCommand::Register {
        charger_id,
        charge_point_id: cp,
        site_id,
        tariff_id,
        time_zone,
        at,
    };
    execute(
        &state.registry.chargers,
        charger_id.as_uuid(),
        command,
        &caller,
    )
    .await
    .map_err(|e| e.keyed_by("charge_point_id"))?;
    if let Some(password_hash) = password_hash {
        let set = ChargerCommand::SetPassword { password_hash, at };
        execute(&state.registry.chargers, charger_id.as_uuid(), set, &caller).await?;
    }
    created(&state, &caller.tenant, "/v1/chargers", fallback).await
}

/// Whether pricing knows the tariff; any other pricing failure is the caller's problem to report.
async fn tariff_exists(
    state: &AppState,
    tenant: &TenantId,
    tariff_id: TariffId,
) -> Result<bool, ApiError> {
    let request = GetTariffRequest {
        tenant_id: tenant.to_string(),
        tariff_id: tariff_id.to_string(),
    };
    match state.pricing().get_tariff(request).await {
        Ok(_) => Ok(true),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
        Err(status) => Err(ApiError::upstream("pricing")(status)),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    name: String,
    currency: String,
}

pub async fn create_account(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewAccount>,
) -> Result<Created<AccountView>, ApiError> {
    let mut v = Validator::default();
    let name = v.check("name", body.name.parse::<Name>());
    let currency = v.check("currency", body.currency.parse::<Currency>());
    let (Some(name), Some(currency)) = (name, currency) else {
        return Err(v.into_error());
    };
    let account_id = AccountId::new();
    let at = now();
    let fallback = AccountView {
        seq: 0,
        id: account_id.as_uuid(),
        name: name.to_string(),
        currency: currency.to_string(),
        created_at: at,
    };
    let command = AccountCommand::Open {
        account_id,
        name,
        currency,
        at,
    };
    let accounts = &state.registry.accounts;
    create(&state, &caller, accounts, command, "/v1/accounts", fallback).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    uid: String,
    account_id: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<Created<TokenView>, ApiError> {
    let mut v = Validator::default();
    let uid = v.check("uid", body.uid.parse::<TokenUid>());
    let account = v.check("account_id", body.account_id.parse::<AccountId>());
    let (Some(uid), Some(account_id)) = (uid, account) else {
        return Err(v.into_error());
    };
    referenced_account(&state, &caller, Scope::TokensWrite, account_id).await?;
    let token_id = token::token_id(&caller.tenant, &state.id_key(&caller.tenant), &uid);
    let at = now();
    let fallback = TokenView {
        seq: 0,
        id: token_id.as_uuid(),
        uid: uid.to_string(),
        account_id: account_id.as_uuid(),
        fleet_id: None,
        driver_id: None,
        vehicle_id: None,
        cost_centre_id: None,
        assigned_at: None,
        created_at: at,
    };
    let command = TokenCommand::Issue {
        token_id,
        uid,
        account_id,
        at,
    };
    let tokens = &state.registry.tokens;
    create(&state, &caller, tokens, command, "/v1/tokens", fallback)
        .await
        .map_err(|e| e.keyed_by("uid"))
}

/// The account a body's `account_id` names, if the caller reaches it acting under `scope` (a fleet
/// manager: an account that holds one of her fleets); else 422 naming `account_id`, so that a write
/// never refers to an account that is not there.
pub(super) async fn referenced_account(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    account_id: AccountId,
) -> Result<AccountView, ApiError> {
    let fleets = fleets::limit(caller, scope);
    read::get_within(
        &state.pool,
        &caller.tenant,
        fleets.as_deref(),
        account_id.as_uuid(),
    )
    .await?
    .ok_or_else(|| ApiError::field("account_id", format!("no account with id {account_id}")))
}

/// Stored times have microsecond precision; the answer of a POST must equal later reads.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(super) async fn execute<A: Aggregate>(
    cqrs: &PostgresCqrs<A>,
    id: Uuid,
    command: A::Command,
    caller: &Caller,
) -> Result<(), ApiError>
where
    A::Command: Clone,
{
    execute_as(cqrs, &id.to_string(), command, &caller.tenant).await
}

/// Runs `command` on aggregate `id` for `tenant`.
pub(super) async fn execute_as<A: Aggregate>(
    cqrs: &PostgresCqrs<A>,
    id: &str,
    command: A::Command,
    tenant: &TenantId,
) -> Result<(), ApiError>
where
    A::Command: Clone,
{
    let meta = CommandMeta {
        tenant_id: tenant.to_string(),
        correlation_id: Uuid::new_v4().to_string(),
        causation_id: String::new(),
    };
    joule_store::execute(cqrs, id, command, meta).await?;
    Ok(())
}

/// Runs the command that creates `written`'s record (its id is the aggregate's), then answers like
/// [`created`].
pub(super) async fn create<A: Aggregate, R: Resource>(
    state: &AppState,
    caller: &Caller,
    cqrs: &PostgresCqrs<A>,
    command: A::Command,
    collection: &str,
    written: R,
) -> Result<Created<R>, ApiError>
where
    A::Command: Clone,
{
    execute(cqrs, written.id(), command, caller).await?;
    created(state, &caller.tenant, collection, written).await
}

/// 201 with the projected record, once the relay has projected it. If the relay is behind, the
/// committed command still stands: answer with the record as the command wrote it.
async fn created<R: Resource>(
    state: &AppState,
    tenant: &TenantId,
    collection: &str,
    written: R,
) -> Result<Created<R>, ApiError> {
    let id = written.id();
    let body = match read::wait_for::<R>(&state.pool, tenant, id).await? {
        Some(projected) => projected,
        None => {
            tracing::warn!(%id, noun = R::NOUN, "projection is behind; answering from the command");
            written
        }
    };
    let location = format!("{collection}/{id}");
    Ok(Created::at(location, body))
}
