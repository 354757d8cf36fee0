//! `/v1/nats-credentials`: a tenant's users on the integrator plane (ADR 043). `POST` answers a
//! `.creds` file, once: a user JWT signed with the integrators' account signing key and the user's
//! nkey seed. `GET` lists and reads what was made, without secrets. Such a user reads its tenant's
//! stream `<NS>_T_<tenant>` (durable consumers, replay from a time) and nothing else, until it
//! expires.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, SubsecRound, Utc};
use joule_bus::tenant_streams::{Issuer, names};
use joule_config::Settings;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use uuid::Uuid;

use super::table::RouteTable;
use super::{AppState, path_id};
use crate::SCHEMA;
use crate::access::Scope;
use crate::auth::Caller;
use crate::domain::Name;
use crate::extract::{ApiJson, Listed, PageQuery, RawQuery};
use crate::problem::{ApiError, Validator};
use crate::reply::Created;

/// What the api needs of the integrator plane to sign users for it.
#[derive(Debug)]
pub struct IntegratorPlane {
    issuer: Issuer,
    /// The address integrators connect to.
    url: String,
    /// The longest (and default) validity of a credential.
    max_ttl: Duration,
}

impl IntegratorPlane {
    /// The plane of `settings`, or `None` when the deployment has none.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, joule_runtime::BoxError> {
        if settings.integrator_nats_url.is_empty() {
            return Ok(None);
        }
        let issuer = Issuer::new(
            &settings.integrator_account,
            settings.integrator_signing_seed.expose(),
        )
        .map_err(|e| {
            format!("integrator_nats_url needs integrator_account and integrator_signing_seed: {e}")
        })?;
        let url = match settings.integrator_nats_public_url.as_str() {
            "" => settings.integrator_nats_url.clone(),
            public => public.to_owned(),
        };
        Ok(Some(Self {
            issuer,
            url,
            max_ttl: Duration::from_secs(settings.integrator_credential_ttl_secs),
        }))
    }
}

pub fn routes(t: RouteTable) -> RouteTable {
    t.post("/v1/nats-credentials", Scope::StreamsWrite, create)
        .get("/v1/nats-credentials", Scope::StreamsRead, list)
        .get("/v1/nats-credentials/{id}", Scope::StreamsRead, one)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNatsCredential {
    /// What the credential is for (shown in lists and in the server's connection names).
    pub name: String,
    /// When it stops working; default and at most the deployment's longest validity (30 days
    /// unless configured otherwise), at least a minute from now.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where a tenant's events are on the integrator plane, and how to read them.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NatsStreamView {
    /// The plane's address (`nats://...` or `tls://...`).
    pub url: String,
    /// The tenant's stream.
    pub stream: String,
    /// Its subjects: `<ns>.tenant.<tenant>.<domain>.<Event>`, e.g. `....session.SessionCompleted`.
    pub subjects: String,
    /// The inbox prefix the client must use (nats-py `inbox_prefix`, async-nats
    /// `custom_inbox_prefix`): replies to any other inbox are not delivered to this user.
    pub inbox_prefix: String,
}

/// A credential as the API shows it; `creds` only in the answer that made it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NatsCredentialView {
    pub id: Uuid,
    pub name: String,
    /// The user's public nkey (`U...`), as the server's logs and monitoring name it.
    pub public_key: String,
    pub created_by: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub expires_at: DateTime<Utc>,
    pub nats: NatsStreamView,
    /// The `.creds` file (the user JWT and its nkey seed): in the answer of the creation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creds: Option<String>,
}

#[derive(Debug, FromRow)]
struct Row {
    seq: i64,
    id: Uuid,
    name: String,
    public_key: String,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "seq, id, name, public_key, created_by, created_at, expires_at";

fn view(row: Row, tenant: &str, state: &AppState, creds: Option<String>) -> NatsCredentialView {
    let namespace = state.bus.namespace();
    NatsCredentialView {
        id: row.id,
        name: row.name,
        public_key: row.public_key,
        created_by: row.created_by,
        created_at: row.created_at,
        expires_at: row.expires_at,
        nats: NatsStreamView {
            url: state
                .integrator
                .as_ref()
                .map(|p| p.url.clone())
                .unwrap_or_default(),
            stream: names::stream(namespace, tenant),
            subjects: format!("{}.>", names::subject_root(namespace, tenant)),
            inbox_prefix: names::inbox_prefix(tenant),
        },
        creds,
    }
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewNatsCredential>,
) -> Result<Created<NatsCredentialView>, ApiError> {
    let Some(plane) = state.integrator.as_deref() else {
        return Err(ApiError::conflict(
            "integrator_plane",
            "this deployment has no integrator plane (JOULE_INTEGRATOR_NATS_URL)",
        ));
    };
    let now = Utc::now().trunc_subsecs(0);
    let latest = now + chrono::Duration::from_std(plane.max_ttl).map_err(ApiError::internal)?;
    let mut v = Validator::default();
    let name = v.check("name", body.name.parse::<Name>());
    let expires_at = body
        .expires_at
        .map(|e| e.trunc_subsecs(0))
        .unwrap_or(latest);
    if expires_at < now + chrono::Duration::minutes(1) {
        v.reject("expires_at", "must be at least a minute from now");
    } else if expires_at > latest {
        v.reject(
            "expires_at",
            format!("must be at most {}s from now", plane.max_ttl.as_secs()),
        );
    }
    let Some(name) = name else {
        return Err(v.into_error());
    };
    v.finish()?;
    let tenant = caller.tenant.as_str();
    let user = plane
        .issuer
        .tenant_user(
            state.bus.namespace(),
            tenant,
            &format!("{tenant}/{}", name.as_str()),
            now.timestamp(),
            expires_at.timestamp(),
        )
        .map_err(ApiError::internal)?;
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO {SCHEMA}.nats_credentials
             (id, tenant_id, name, public_key, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant)
    .bind(name.as_str())
    .bind(&user.public_key)
    .bind(caller.actor.name())
    .bind(now)
    .bind(expires_at)
    .fetch_one(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let location = format!("/v1/nats-credentials/{}", row.id);
    Ok(Created::at(
        location,
        view(row, tenant, &state, Some(user.creds)),
    ))
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<PageQuery>,
) -> Result<Json<Listed<NatsCredentialView>>, ApiError> {
    query.checked().finish()?;
    let page = query.page()?;
    let mut rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {SCHEMA}.nats_credentials
         WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(caller.tenant.as_str())
    .bind(page.after()?)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let next_cursor = page.cut(&mut rows, |r| r.seq);
    let tenant = caller.tenant.as_str();
    Ok(Json(Listed {
        data: rows
            .into_iter()
            .map(|r| view(r, tenant, &state, None))
            .collect(),
        next_cursor,
    }))
}

async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<NatsCredentialView>, ApiError> {
    let id: Uuid = path_id(&id, "NATS credential")?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {SCHEMA}.nats_credentials WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(caller.tenant.as_str())
    .bind(id)
    .fetch_optional(&state.pool)
    .await
    .map_err(ApiError::internal)?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no NATS credential with id {id}")))?;
    Ok(Json(view(row, caller.tenant.as_str(), &state, None)))
}
