//! `/v1/tenants`: the platform administrator's routes (ADR 034): create and read tenants, and give
//! a tenant its first API key. Only the platform credential reaches them.

use crate::reply::Created;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, SubsecRound, Utc};
use joule_domain::TenantId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::AppState;
use super::api_keys::{self, NewApiKey};
use super::registry::execute_as;
use crate::SCHEMA;
use crate::auth::directory::{TenantRecord, to_hex};
use crate::domain::Name;
use crate::domain::tenant::{TenantCommand, new_tenant_id};
use crate::extract::{ApiJson, Listed, PageQuery, RawQuery};
use crate::problem::{ApiError, Validator};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    id: String,
    name: String,
}

#[derive(Debug, Clone, Serialize, FromRow, schemars::JsonSchema)]
pub struct TenantView {
    #[serde(skip)]
    pub seq: i64,
    pub id: String,
    pub name: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/tenants`.
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<Created<TenantView>, ApiError> {
    let mut v = Validator::default();
    let id = v.check("id", new_tenant_id(&body.id));
    let name = v.check("name", body.name.parse::<Name>());
    let (Some(id), Some(name)) = (id, name) else {
        return Err(v.into_error());
    };
    let mut id_key = [0u8; 32];
    rand::rng().fill_bytes(&mut id_key);
    let id_key = to_hex(&id_key);
    let at = Utc::now().trunc_subsecs(6);
    let command = TenantCommand::Create {
        tenant_id: id.clone(),
        name: name.clone(),
        id_key: id_key.clone(),
        at,
    };
    match execute_as(&state.registry.tenants, id.as_str(), command, &id).await {
        Err(ApiError::Conflict(_)) => return Err(exists(&id)),
        other => other?,
    }
    state.directory.put_tenant(TenantRecord {
        id: id.clone(),
        name: name.to_string(),
        id_key,
    });
    let view = TenantView {
        seq: 0,
        id: id.to_string(),
        name: name.to_string(),
        created_at: at,
    };
    Ok(Created::at(format!("/v1/tenants/{id}"), view))
}

fn exists(id: &TenantId) -> ApiError {
    ApiError::AlreadyExists {
        field: "id",
        detail: format!("tenant {id} exists already"),
        existing: format!("/v1/tenants/{id}"),
    }
}

/// `GET /v1/tenants`.
pub async fn list(
    State(state): State<AppState>,
    query: RawQuery<PageQuery>,
) -> Result<Json<Listed<TenantView>>, ApiError> {
    query.checked().finish()?;
    let page = query.page()?;
    let mut rows: Vec<TenantView> = sqlx::query_as(&format!(
        "SELECT seq, id, name, created_at FROM {SCHEMA}.tenants WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(page.after()?)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(&state.pool)
    .await?;
    let next_cursor = page.cut(&mut rows, |r| r.seq);
    Ok(Json(Listed {
        data: rows,
        next_cursor,
    }))
}

/// `GET /v1/tenants/{id}`.
pub async fn one(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let view: Option<TenantView> = sqlx::query_as(&format!(
        "SELECT seq, id, name, created_at FROM {SCHEMA}.tenants WHERE id = $1"
    ))
    .bind(&raw)
    .fetch_optional(&state.pool)
    .await?;
    view.map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no tenant with id {raw}")))
}

/// `POST /v1/tenants/{id}/api-keys`: a key of the tenant, typically its first admin key.
pub async fn create_key(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<NewApiKey>,
) -> Result<Created<super::api_keys::ApiKeyView>, ApiError> {
    let tenant = known(&state, &raw)?;
    api_keys::create_for(&state, tenant.id.clone(), "platform".into(), body).await
}

fn known(state: &AppState, raw: &str) -> Result<std::sync::Arc<TenantRecord>, ApiError> {
    raw.parse::<TenantId>()
        .ok()
        .and_then(|id| state.directory.tenant(&id))
        .ok_or_else(|| ApiError::NotFound(format!("no tenant with id {raw}")))
}
