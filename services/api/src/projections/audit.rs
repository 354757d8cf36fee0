//! The audit log's read model (`api.audit_events`), projected from `<NS>_AUDIT` by
//! [`crate::consumers::audit`] and listed by `GET /v1/audit-events`.

use chrono::{DateTime, Utc};
use joule_domain::TenantId;
use serde::Serialize;
use sqlx::{FromRow, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::SCHEMA;
use crate::extract::{Listed, Page};
use crate::problem::ApiError;

/// One audit record as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct AuditEventView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub at: DateTime<Utc>,
    pub actor: String,
    pub credential: String,
    pub roles: Vec<String>,
    pub request_id: String,
    pub method: String,
    pub route: String,
    pub path: String,
    pub target_ids: Vec<String>,
    pub status: i32,
    pub outcome: String,
}

/// A record to store, with the tenant it belongs to.
pub struct NewAuditEvent {
    pub tenant: String,
    pub event: AuditEventView,
}

/// Stores a record once: a redelivered message changes nothing.
pub async fn insert(pool: &PgPool, new: NewAuditEvent) -> Result<(), sqlx::Error> {
    let e = new.event;
    sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.audit_events (id, tenant_id, at, actor, credential, roles, request_id,
             method, route, path, target_ids, status, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(e.id)
    .bind(new.tenant)
    .bind(e.at)
    .bind(e.actor)
    .bind(e.credential)
    .bind(e.roles)
    .bind(e.request_id)
    .bind(e.method)
    .bind(e.route)
    .bind(e.path)
    .bind(e.target_ids)
    .bind(e.status)
    .bind(e.outcome)
    .execute(pool)
    .await?;
    Ok(())
}

/// What `GET /v1/audit-events` filters by.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub route: Option<String>,
    pub outcome: Option<String>,
    pub target_id: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// A page of a tenant's records, oldest first.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &AuditFilter,
    page: &Page,
) -> Result<Listed<AuditEventView>, ApiError> {
    let after = page.after()?;
    let mut q = QueryBuilder::new(format!(
        "SELECT seq, id, at, actor, credential, roles, request_id, method, route, path, target_ids,
                status, outcome
         FROM {SCHEMA}.audit_events WHERE tenant_id = "
    ));
    q.push_bind(tenant.as_str())
        .push(" AND seq > ")
        .push_bind(after);
    if let Some(actor) = &filter.actor {
        q.push(" AND actor = ").push_bind(actor);
    }
    if let Some(route) = &filter.route {
        q.push(" AND route = ").push_bind(route);
    }
    if let Some(outcome) = &filter.outcome {
        q.push(" AND outcome = ").push_bind(outcome);
    }
    if let Some(target) = &filter.target_id {
        q.push(" AND target_ids @> ARRAY[")
            .push_bind(target)
            .push("]::text[]");
    }
    if let Some(t) = filter.created_after {
        q.push(" AND at > ").push_bind(t);
    }
    if let Some(t) = filter.created_before {
        q.push(" AND at < ").push_bind(t);
    }
    q.push(" ORDER BY seq LIMIT ")
        .push_bind(i64::from(page.limit) + 1);
    let mut rows: Vec<AuditEventView> = q
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(ApiError::internal)?;
    let next_cursor = page.cut(&mut rows, |r| r.seq);
    Ok(Listed {
        data: rows,
        next_cursor,
    })
}
