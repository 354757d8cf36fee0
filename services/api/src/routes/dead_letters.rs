//! `/v1/dead-letters`: messages a consumer parked (ADR 022), read from the `<NS>_DEADLETTER` stream
//! through the bus, and their replay through the owning consumer's handler.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use joule_bus::{DeadLetterEntry, DeadLetterStatus, ParkReason};
use serde::Serialize;

use super::AppState;
use crate::extract::RawQuery;
use crate::problem::{ApiError, Validator};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/dead-letters", get(list_dead_letters))
        .route("/v1/dead-letters/{id}", get(get_dead_letter))
        .route("/v1/dead-letters/{id}/replay", post(replay_dead_letter))
}

#[derive(Debug, Serialize)]
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
    pub headers: BTreeMap<String, String>,
    /// The original message (the envelope bytes), base64.
    pub payload_base64: String,
    pub parked_at: DateTime<Utc>,
    pub replay_attempts: u32,
    pub last_replay_error: Option<String>,
    pub replayed_at: Option<DateTime<Utc>>,
}

impl From<DeadLetterEntry> for DeadLetterView {
    fn from(e: DeadLetterEntry) -> Self {
        let r = e.record;
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
            headers: r.headers,
            parked_at: r.parked_at,
            replay_attempts: e.replay_attempts,
            last_replay_error: e.last_replay_error,
            replayed_at: e.replayed_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeadLetterList {
    pub data: Vec<DeadLetterView>,
    pub next_cursor: Option<String>,
}

/// `?consumer=&status=parked|replayed&cursor=&limit=`, in parking order.
pub async fn list_dead_letters(
    State(state): State<AppState>,
    query: RawQuery,
) -> Result<Json<DeadLetterList>, ApiError> {
    let page = query.page()?;
    let mut v = Validator::default();
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
    v.finish()?;
    let consumer = query.get("consumer");
    let entries = state.bus.dead_letters().await.map_err(ApiError::internal)?;
    let mut matching = entries
        .into_iter()
        .filter(|e| after.is_none_or(|a| e.position > a))
        .filter(|e| consumer.is_none_or(|c| e.record.consumer == c))
        .filter(|e| status.is_none_or(|s| e.status == s));
    let limit = page.limit as usize;
    let data: Vec<DeadLetterEntry> = matching.by_ref().take(limit).collect();
    let next_cursor = match (matching.next(), data.last()) {
        (Some(_), Some(last)) => Some(last.position.to_string()),
        _ => None,
    };
    Ok(Json(DeadLetterList {
        data: data.into_iter().map(DeadLetterView::from).collect(),
        next_cursor,
    }))
}

async fn find(state: &AppState, id: &str) -> Result<DeadLetterEntry, ApiError> {
    state
        .bus
        .dead_letter(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no dead letter with id {id:?}")))
}

pub async fn get_dead_letter(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetterView>, ApiError> {
    Ok(Json(find(&state, &id).await?.into()))
}

#[derive(Debug, Serialize)]
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
) -> Result<(StatusCode, Json<ReplayAccepted>), ApiError> {
    let entry = find(&state, &id).await?;
    if entry.status == DeadLetterStatus::Replayed {
        return Err(ApiError::Conflict(format!(
            "dead letter {id} was replayed already"
        )));
    }
    state
        .bus
        .request_replay(&entry.record)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(dead_letter = %id, consumer = %entry.record.consumer, "replay requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayAccepted {
            id: entry.record.id,
            consumer: entry.record.consumer,
            replay: "requested",
        }),
    ))
}
