//! `/v1/api-keys`: a tenant's credentials (ADR 034). Create (the secret is in the 201, once), list,
//! read, rotate (a new secret; the old one stays valid for the overlap) and revoke. Another tenant's
//! key answers 404. The platform creates a tenant's first key through [`create_for`].

use crate::reply::Created;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use joule_domain::{DriverId, FleetId, TenantId};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::AppState;
use super::registry::execute_as;
use crate::SCHEMA;
use crate::access::Role;
use crate::auth::Caller;
use crate::auth::directory::{KeyRecord, to_hex};
use crate::auth::keys::{self, NewKey};
use crate::domain::Name;
use crate::domain::api_key::ApiKeyCommand;
use crate::extract::{ApiJson, Listed, RawBody, RawQuery, parse_json};
use crate::problem::{ApiError, Validator};
use crate::projections::fleets::{DriverView, FleetView};
use crate::projections::read;

/// The longest a rotated-out secret may stay valid.
const MAX_OVERLAP_SECS: u32 = 30 * 24 * 3600;
const DEFAULT_OVERLAP_SECS: u32 = 24 * 3600;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    name: String,
    roles: Vec<String>,
    /// Required for, and only for, `fleet_manager`: the fleets the key is limited to.
    #[serde(default)]
    fleets: Vec<String>,
    /// Required for, and only for, `driver`: the driver whose sessions and receipts it reads.
    #[serde(default)]
    driver_id: Option<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// A key as the API shows it; `secret` only in the answer that made it.
#[derive(Debug, Clone, Serialize, FromRow, schemars::JsonSchema)]
pub struct ApiKeyView {
    #[serde(skip)]
    pub seq: i64,
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub fleets: Vec<uuid::Uuid>,
    pub driver_id: Option<uuid::Uuid>,
    pub created_by: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub rotated_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub previous_valid_until: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

const COLUMNS: &str =
    "seq, key_id AS id, name, roles, fleets, driver_id, created_by, created_at, expires_at,
    rotated_at, previous_valid_until, revoked_at, last_used_at";

/// `POST /v1/api-keys`.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewApiKey>,
) -> Result<Created<ApiKeyView>, ApiError> {
    create_for(&state, caller.tenant.clone(), caller.actor.name(), body).await
}

/// Creates a key of `tenant`, made by `created_by`.
pub async fn create_for(
    state: &AppState,
    tenant: TenantId,
    created_by: String,
    body: NewApiKey,
) -> Result<Created<ApiKeyView>, ApiError> {
    let now = Utc::now().trunc_subsecs(6);
    let mut v = Validator::default();
    let name = v.check("name", body.name.parse::<Name>());
    if body.roles.is_empty() {
        v.reject("roles", "at least one role is required");
    }
    let mut roles: Vec<Role> = body
        .roles
        .iter()
        .enumerate()
        .filter_map(|(i, r)| v.check(&format!("roles[{i}]"), r.parse::<Role>()))
        .collect();
    roles.sort();
    roles.dedup();
    let fleets: Vec<FleetId> = body
        .fleets
        .iter()
        .enumerate()
        .filter_map(|(i, f)| v.check(&format!("fleets[{i}]"), f.parse::<FleetId>()))
        .collect();
    let fleet_manager = roles.contains(&Role::FleetManager);
    if fleet_manager && body.fleets.is_empty() {
        v.reject("fleets", "a fleet_manager key names the fleets it manages");
    }
    if !fleet_manager && !body.fleets.is_empty() {
        v.reject("fleets", "only a fleet_manager key is limited to fleets");
    }
    let driver = body
        .driver_id
        .as_deref()
        .and_then(|d| v.check("driver_id", d.parse::<DriverId>()));
    match (roles.contains(&Role::Driver), &body.driver_id) {
        (true, None) => v.reject("driver_id", "a driver key names the driver it acts for"),
        (false, Some(_)) => v.reject("driver_id", "only a driver key acts for a driver"),
        _ => {}
    }
    if body.expires_at.is_some_and(|e| e <= now) {
        v.reject("expires_at", "must be in the future");
    }
    let Some(name) = name else {
        return Err(v.into_error());
    };
    v.finish()?;
    // A key limited to a fleet the tenant does not have would reach nothing: refuse it as none.
    for (i, fleet) in fleets.iter().enumerate() {
        let found: Option<FleetView> = read::get(&state.pool, &tenant, fleet.as_uuid()).await?;
        if found.is_none() {
            return Err(ApiError::no_such(
                format!("fleets[{i}]"),
                format!("no fleet with id {fleet}"),
            ));
        }
    }
    if let Some(driver) = driver {
        let found: Option<DriverView> = read::get(&state.pool, &tenant, driver.as_uuid()).await?;
        if found.is_none() {
            return Err(ApiError::no_such(
                "driver_id",
                format!("no driver with id {driver}"),
            ));
        }
    }
    let key_id = keys::new_key_id();
    let NewKey { secret, digest, .. } = keys::new_secret(&state.key_environment, &key_id);
    let expires_at = body.expires_at.map(|e| e.trunc_subsecs(6));
    let body_name = name.to_string();
    let role_names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let created_by_name = created_by.clone();
    let command = ApiKeyCommand::Create {
        key_id: key_id.clone(),
        tenant_id: tenant.clone(),
        name,
        roles: roles.clone(),
        fleets: fleets.clone(),
        driver,
        digest: to_hex(&digest),
        expires_at,
        created_by,
        at: now,
    };
    execute_as(&state.registry.api_keys, &key_id, command, &tenant).await?;
    state.directory.put_key(KeyRecord {
        key_id: key_id.clone(),
        tenant: tenant.clone(),
        scopes: Role::scopes_of(&roles),
        roles,
        fleets: fleets.clone(),
        driver,
        digest,
        previous: None,
        expires_at,
        revoked: false,
    });
    // A slow relay must not lose the secret: answer from the command then.
    let fallback = ApiKeyView {
        seq: 0,
        id: key_id.clone(),
        name: body_name,
        roles: role_names,
        fleets: fleets.iter().map(FleetId::as_uuid).collect(),
        driver_id: driver.map(|d| d.as_uuid()),
        created_by: created_by_name,
        created_at: now,
        expires_at,
        rotated_at: None,
        previous_valid_until: None,
        revoked_at: None,
        last_used_at: None,
        secret: None,
    };
    let mut view = wait_until(state, &tenant, &key_id, |_| true)
        .await?
        .unwrap_or(fallback);
    view.secret = Some(secret);
    Ok(Created::at(format!("/v1/api-keys/{key_id}"), view))
}

crate::query_params!(pub ApiKeyQuery, list {
    "role": Text => "Keys that grant this role.",
    "status": Text => "active or revoked.",
    "created_after": Time => "Created at or after this time.",
    "created_before": Time => "Created before this time.",
});

/// `GET /v1/api-keys`.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<ApiKeyQuery>,
) -> Result<Json<Listed<ApiKeyView>>, ApiError> {
    let mut v = query.checked();
    let role = query
        .get("role")
        .and_then(|r| v.check("role", r.parse::<Role>()));
    let revoked = match query.get("status") {
        None => None,
        Some("active") => Some(false),
        Some("revoked") => Some(true),
        Some(_) => {
            v.reject("status", "one of active, revoked");
            None
        }
    };
    let created_after = query.time(&mut v, "created_after");
    let created_before = query.time(&mut v, "created_before");
    v.finish()?;
    let page = query.page()?;
    let after = page.after()?;
    let mut rows: Vec<ApiKeyView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {SCHEMA}.api_keys WHERE tenant_id = $1 AND seq > $2
           AND ($4::text IS NULL OR $4 = ANY(roles))
           AND ($5::bool IS NULL OR (revoked_at IS NOT NULL) = $5)
           AND ($6::timestamptz IS NULL OR created_at > $6)
           AND ($7::timestamptz IS NULL OR created_at < $7)
         ORDER BY seq LIMIT $3"
    ))
    .bind(caller.tenant.as_str())
    .bind(after)
    .bind(i64::from(page.limit) + 1)
    .bind(role.map(|r| r.as_str()))
    .bind(revoked)
    .bind(created_after)
    .bind(created_before)
    .fetch_all(&state.pool)
    .await?;
    let next_cursor = page.cut(&mut rows, |r| r.seq);
    Ok(Json(Listed {
        data: rows,
        next_cursor,
    }))
}

/// `GET /v1/api-keys/{id}`.
pub async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(key_id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    read(&state, &caller.tenant, &key_id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(&key_id))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    #[serde(default)]
    overlap_seconds: Option<u32>,
}

/// `POST /v1/api-keys/{id}/rotate`: a new secret (in the answer, once); the old one stays valid for
/// `overlap_seconds` (default one day, at most 30 days; 0 ends it at once).
pub async fn rotate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(key_id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<ApiKeyView>, ApiError> {
    let key = own_key(&state, &caller, &key_id)?;
    // The body is optional: none means the default overlap.
    let rotation: Rotation = if body.is_empty() {
        Rotation::default()
    } else {
        parse_json(&body)?
    };
    let overlap = rotation.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECS);
    if overlap > MAX_OVERLAP_SECS {
        return Err(ApiError::field(
            "overlap_seconds",
            format!("at most {MAX_OVERLAP_SECS} (30 days)"),
        ));
    }
    let now = Utc::now().trunc_subsecs(6);
    let until = now + Duration::seconds(i64::from(overlap));
    let NewKey { secret, digest, .. } = keys::new_secret(&state.key_environment, &key_id);
    let command = ApiKeyCommand::Rotate {
        digest: to_hex(&digest),
        previous_valid_until: until,
        at: now,
    };
    execute_as(&state.registry.api_keys, &key_id, command, &caller.tenant).await?;
    state.directory.put_key(KeyRecord {
        previous: Some((key.digest, until)),
        digest,
        ..(*key).clone()
    });
    let mut view = match wait_until(&state, &caller.tenant, &key_id, |v| {
        v.rotated_at == Some(now)
    })
    .await?
    {
        Some(view) => view,
        // A slow relay must not lose the secret: answer from the command then.
        None => ApiKeyView {
            rotated_at: Some(now),
            previous_valid_until: Some(until),
            ..stale(&state, &caller.tenant, &key_id).await?
        },
    };
    view.secret = Some(secret);
    Ok(Json(view))
}

/// `POST /v1/api-keys/{id}/revoke`: the key opens nothing any more (on other replicas within a
/// second). Revoking a revoked key changes nothing.
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(key_id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let key = own_key(&state, &caller, &key_id)?;
    let now = Utc::now().trunc_subsecs(6);
    let command = ApiKeyCommand::Revoke { at: now };
    execute_as(&state.registry.api_keys, &key_id, command, &caller.tenant).await?;
    state.directory.put_key(KeyRecord {
        revoked: true,
        ..(*key).clone()
    });
    match wait_until(&state, &caller.tenant, &key_id, |v| v.revoked_at.is_some()).await? {
        Some(view) => Ok(Json(view)),
        None => Ok(Json(ApiKeyView {
            revoked_at: Some(now),
            ..stale(&state, &caller.tenant, &key_id).await?
        })),
    }
}

/// The key's row as it is, even if the last command is not projected yet.
async fn stale(state: &AppState, tenant: &TenantId, key_id: &str) -> Result<ApiKeyView, ApiError> {
    read(state, tenant, key_id)
        .await?
        .ok_or_else(|| ApiError::Unavailable(format!("API key {key_id} is not readable yet")))
}

/// The caller's tenant's key, or 404 (whether it is another tenant's or none).
fn own_key(
    state: &AppState,
    caller: &Caller,
    key_id: &str,
) -> Result<std::sync::Arc<KeyRecord>, ApiError> {
    state
        .directory
        .key(key_id)
        .filter(|k| k.tenant == caller.tenant)
        .ok_or_else(|| not_found(key_id))
}

fn not_found(key_id: &str) -> ApiError {
    ApiError::NotFound(format!("no API key with id {key_id:?}"))
}

async fn read(
    state: &AppState,
    tenant: &TenantId,
    key_id: &str,
) -> Result<Option<ApiKeyView>, ApiError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {SCHEMA}.api_keys WHERE tenant_id = $1 AND key_id = $2"
    ))
    .bind(tenant.as_str())
    .bind(key_id)
    .fetch_optional(&state.pool)
    .await?)
}

/// The key's row once the relay projected what the command recorded (`done`), or `None` if it did
/// not within 5 s (the command is committed either way).
async fn wait_until(
    state: &AppState,
    tenant: &TenantId,
    key_id: &str,
    done: impl Fn(&ApiKeyView) -> bool,
) -> Result<Option<ApiKeyView>, ApiError> {
    let view = read::poll(|| read(state, tenant, key_id), done).await?;
    if view.is_none() {
        tracing::warn!(%key_id, "projection is behind; answering from the command");
    }
    Ok(view)
}
