//! `/v1/dead-letters`: messages a consumer parked (ADR 022), read a page or one at a time from the
//! `<NS>_DEADLETTER` stream through the bus (by subject, never the whole stream), their replay
//! through the owning consumer's handler, and their discard by an operator.

use crate::reply::Accepted;
use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::table::RouteTable;
use crate::access::Scope;
use base64::Engine;
use chrono::{DateTime, Utc};
use joule_bus::deadletter::is_subject_token;
use joule_bus::{DeadLetterEntry, DeadLetterQuery, DeadLetterStatus, OnPark, ParkReason};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::auth::Caller;
use crate::extract::{ApiJson, Listed, RawQuery};
use crate::problem::{ApiError, Validator};

/// The longest discard reason, in characters.
const MAX_DISCARD_REASON_CHARS: usize = 1_000;

pub fn routes(t: RouteTable) -> RouteTable {
    t.get(
        "/v1/dead-letters",
        Scope::DeadLettersRead,
        list_dead_letters,
    )
    .get(
        "/v1/dead-letters/{id}",
        Scope::DeadLettersRead,
        get_dead_letter,
    )
    .post(
        "/v1/dead-letters/{id}/replay",
        Scope::DeadLettersWrite,
        replay_dead_letter,
    )
    .post(
        "/v1/dead-letters/{id}/discard",
        Scope::DeadLettersWrite,
        discard_dead_letter,
    )
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DeadLetterView {
    pub id: String,
    /// The consumer's durable name.
    pub consumer: String,
    pub status: DeadLetterStatus,
    pub reason: ParkReason,
    pub error: String,
    pub stream: String,
    pub subject: String,
    pub stream_sequence: u64,
    pub delivered: i64,
    pub attempts: u32,
    pub event_id: String,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub held_behind: Option<String>,
    /// The consumer's ordering policy: under `hold_aggregate` a parked message holds its
    /// aggregate's later ones back, and is replayed, never discarded.
    pub on_park: OnPark,
    pub headers: BTreeMap<String, String>,
    /// The original message (the envelope bytes), base64.
    pub payload_base64: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub parked_at: DateTime<Utc>,
    pub replay_attempts: u32,
    pub last_replay_error: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub replayed_at: Option<DateTime<Utc>>,
    pub discarded_by: Option<String>,
    pub discard_reason: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub discarded_at: Option<DateTime<Utc>>,
}

impl From<DeadLetterEntry> for DeadLetterView {
    fn from(e: DeadLetterEntry) -> Self {
        let r = e.record;
        let (discarded_by, discard_reason, discarded_at) = match e.discarded {
            Some(d) => (Some(d.by), Some(d.reason), Some(d.at)),
            None => (None, None, None),
        };
        Self {
            payload_base64: base64::engine::general_purpose::STANDARD.encode(&r.payload),
            id: r.id,
            consumer: r.consumer,
            status: e.status,
            reason: r.reason,
            error: r.error,
            stream: r.stream,
            subject: r.subject,
            stream_sequence: r.stream_sequence,
            delivered: r.delivered,
            attempts: r.attempts,
            event_id: r.event_id,
            event_type: r.event_type,
            aggregate_type: r.aggregate_type,
            aggregate_id: r.aggregate_id,
            held_behind: r.held_behind,
            on_park: r.on_park,
            headers: r.headers,
            parked_at: r.parked_at,
            replay_attempts: e.replay_attempts,
            last_replay_error: e.last_replay_error,
            replayed_at: e.replayed_at,
            discarded_by,
            discard_reason,
            discarded_at,
        }
    }
}

crate::query_params!(pub DeadLetterParams, list {
    "consumer": Text => "Messages this consumer (its durable name) parked.",
    "status": Text => "parked, replayed or discarded.",
});

/// `?consumer=&status=parked|replayed|discarded&cursor=&limit=`, in parking order. A page
/// examines a bounded number of dead letters, so with a status filter it may be short (or empty)
/// and still have a `next_cursor`.
pub async fn list_dead_letters(
    State(state): State<AppState>,
    query: RawQuery<DeadLetterParams>,
) -> Result<Json<Listed<DeadLetterView>>, ApiError> {
    let page = query.page()?;
    let mut v = query.checked();
    let status = query
        .get("status")
        .and_then(|s| v.check("status", s.parse::<DeadLetterStatus>()));
    let after = page.cursor.as_deref().and_then(|c| {
        v.check(
            "cursor",
            c.parse::<u64>()
                .map_err(|_| "not a cursor this endpoint returned"),
        )
    });
    let consumer = query.get("consumer").and_then(|c| {
        v.check(
            "consumer",
            is_subject_token(c)
                .then(|| c.to_owned())
                .ok_or("a consumer's durable name: letters, digits, '-' and '_'"),
        )
    });
    v.finish()?;
    let found = state
        .bus
        .dead_letters(&DeadLetterQuery {
            after,
            limit: page.limit as usize,
            consumer,
            status,
        })
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Listed {
        data: found
            .entries
            .into_iter()
            .map(DeadLetterView::from)
            .collect(),
        next_cursor: found.next.map(|n| n.to_string()),
    }))
}

async fn find(state: &AppState, id: &str) -> Result<DeadLetterEntry, ApiError> {
    state
        .bus
        .dead_letter(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no dead letter with id {id}")))
}

pub async fn get_dead_letter(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetterView>, ApiError> {
    Ok(Json(find(&state, &id).await?.into()))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReplayAccepted {
    pub id: String,
    pub consumer: String,
    /// The replay runs in the consumer; its outcome shows in the dead letter's `status`.
    pub replay: &'static str,
}

/// Asks the owning consumer to run the message through its handler again (202: the outcome is
/// recorded on the dead letter). A replayed dead letter is not replayed again (409).
pub async fn replay_dead_letter(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Accepted<ReplayAccepted>, ApiError> {
    let entry = find(&state, &id).await?;
    match entry.status {
        DeadLetterStatus::Parked => {}
        DeadLetterStatus::Replayed => {
            return Err(ApiError::conflict(
                "id",
                format!("dead letter {id} was replayed already"),
            ));
        }
        DeadLetterStatus::Discarded => {
            return Err(ApiError::conflict(
                "id",
                format!("dead letter {id} was discarded: it is never replayed"),
            ));
        }
    }
    state
        .bus
        .request_replay(&entry.record)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(dead_letter = %id, consumer = %entry.record.consumer, "replay requested");
    Ok(Accepted(ReplayAccepted {
        id: entry.record.id,
        consumer: entry.record.consumer,
        replay: "requested",
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardBody {
    /// Why the message is never to be processed; kept with the dead letter.
    pub reason: String,
}

/// Marks a parked message as never to be processed (200, the dead letter as it now stands): it is
/// not replayed, and who, why and when are recorded on the dead-letter stream. A dead letter whose
/// consumer holds its aggregate behind it (ADR 022: money events and projections) is refused with
/// 409: its later messages wait for it, so it is replayed, never dropped. A replayed or discarded
/// one is refused with 409 too.
pub async fn discard_dead_letter(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DiscardBody>,
) -> Result<Json<DeadLetterView>, ApiError> {
    let reason = body.reason.trim();
    let mut v = Validator::default();
    if reason.is_empty() {
        v.reject("reason", "say why the message is never to be processed");
    } else if reason.chars().count() > MAX_DISCARD_REASON_CHARS {
        v.reject(
            "reason",
            format!("at most {MAX_DISCARD_REASON_CHARS} characters"),
        );
    }
    v.finish()?;
    let entry = find(&state, &id).await?;
    entry
        .check_discard()
        .map_err(|refused| ApiError::conflict("id", refused.to_string()))?;
    let by = format!("admin/{}", caller.tenant);
    let discarded = state
        .bus
        .discard_dead_letter(&entry, &by, reason)
        .await
        .map_err(ApiError::internal)?;
    tracing::warn!(dead_letter = %id, consumer = %entry.record.consumer, event_type = %entry.record.event_type, %by, %reason, "dead letter discarded: it will never be processed");
    Ok(Json(discarded.into()))
}
