//! `GET /v1/audit-events`: the tenant's audit log (ADR 034), oldest first, with filters `actor`,
//! `route`, `outcome`, `target_id`, `created_after`, `created_before` and a cursor.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};

use super::AppState;
use crate::auth::Caller;
use crate::extract::{Listed, RawQuery};
use crate::problem::{ApiError, Validator};
use crate::projections::audit::{self, AuditEventView, AuditFilter};

const FILTERS: &[&str] = &[
    "actor",
    "route",
    "outcome",
    "target_id",
    "created_after",
    "created_before",
    "cursor",
    "limit",
];

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery,
) -> Result<Json<Listed<AuditEventView>>, ApiError> {
    let mut v = Validator::default();
    for name in query.0.keys() {
        if !FILTERS.contains(&name.as_str()) {
            v.reject(
                name,
                format!("unknown parameter; known: {}", FILTERS.join(", ")),
            );
        }
    }
    let time = |v: &mut Validator, name: &str| {
        query.get(name).and_then(|raw| {
            v.check(
                name,
                DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| format!("not an RFC 3339 time: {e}")),
            )
        })
    };
    let filter = AuditFilter {
        actor: query.get("actor").map(str::to_owned),
        route: query.get("route").map(str::to_owned),
        outcome: query.get("outcome").map(str::to_owned),
        target_id: query.get("target_id").map(str::to_owned),
        created_after: time(&mut v, "created_after"),
        created_before: time(&mut v, "created_before"),
    };
    if let Some(outcome) = &filter.outcome
        && !["succeeded", "refused", "failed"].contains(&outcome.as_str())
    {
        v.reject("outcome", "one of succeeded, refused, failed");
    }
    v.finish()?;
    let page = query.page()?;
    audit::list(&state.pool, &caller.tenant, &filter, &page)
        .await
        .map(Json)
}
