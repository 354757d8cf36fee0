//! `GET /v1/audit-events`: the tenant's audit log (ADR 034), oldest first, with filters `actor`,
//! `route`, `outcome`, `target_id`, `created_after`, `created_before` and a cursor.

use axum::extract::State;
use axum::{Extension, Json};

use super::AppState;
use crate::auth::Caller;
use crate::extract::{Listed, RawQuery};
use crate::problem::ApiError;
use crate::projections::audit::{self, AuditEventView, AuditFilter};

crate::query_params!(pub AuditQuery, list {
    "actor": Text => "Who acted (an API key id, `admin`, a token's subject).",
    "route": Text => "The route template (`POST /v1/sites`).",
    "outcome": Text => "succeeded, refused or failed.",
    "target_id": Text => "The record acted on.",
    "created_after": Time => "At or after this time.",
    "created_before": Time => "Before this time.",
});

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<AuditQuery>,
) -> Result<Json<Listed<AuditEventView>>, ApiError> {
    let mut v = query.checked();
    let filter = AuditFilter {
        actor: query.get("actor").map(str::to_owned),
        route: query.get("route").map(str::to_owned),
        outcome: query.get("outcome").map(str::to_owned),
        target_id: query.get("target_id").map(str::to_owned),
        created_after: query.time(&mut v, "created_after"),
        created_before: query.time(&mut v, "created_before"),
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
