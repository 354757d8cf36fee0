//! Outbound webhooks, through the webhooks service (ADR 040): `POST /v1/webhook-endpoints` {url,
//! event_types, description, enabled} answers the endpoint with its signing `secret` (shown this
//! once); `GET`, `PATCH` and `DELETE /v1/webhook-endpoints/{id}`; `POST
//! /v1/webhook-endpoints/{id}/rotate-secret` {overlap_secs} (the previous secret keeps signing
//! beside the new one for the overlap); `GET /v1/webhook-endpoints/{id}/deliveries` (the delivery
//! log, newest first) and `POST /v1/webhook-deliveries/{id}/redeliver`.
//!
//! What is delivered, how it is signed (`Joule-Signature: t=...,v1=...`) and retried is the
//! service's; the OpenAPI document lists the payload under `webhooks`.

use axum::extract::{Path, State};
use axum::response::NoContent;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use joule_proto::v1;
use serde::{Deserialize, Serialize};

use super::table::RouteTable;
use super::{Answer, AppState, listed, path_id};
use crate::access::Scope;
use crate::auth::Caller;
use crate::extract::{ApiJson, Listed, PageQuery, RawQuery};
use crate::problem::ApiError;
use crate::reply::{Accepted, Created};

const SERVICE: &str = "webhooks";

pub fn routes(t: RouteTable) -> RouteTable {
    t.post("/v1/webhook-endpoints", Scope::WebhooksWrite, create)
        .get("/v1/webhook-endpoints", Scope::WebhooksRead, list)
        .get("/v1/webhook-endpoints/{id}", Scope::WebhooksRead, one)
        .patch("/v1/webhook-endpoints/{id}", Scope::WebhooksWrite, change)
        .delete("/v1/webhook-endpoints/{id}", Scope::WebhooksWrite, delete)
        .post(
            "/v1/webhook-endpoints/{id}/rotate-secret",
            Scope::WebhooksWrite,
            rotate_secret,
        )
        .get(
            "/v1/webhook-endpoints/{id}/deliveries",
            Scope::WebhooksRead,
            deliveries,
        )
        .post(
            "/v1/webhook-deliveries/{id}/redeliver",
            Scope::WebhooksWrite,
            redeliver,
        )
}

/// An endpoint events are POSTed to.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WebhookEndpointView {
    pub id: String,
    /// The absolute http(s) URL the events are POSTed to.
    pub url: String,
    /// The event types delivered (`joule.v1.SessionCompleted`, ...), or `*` for every one.
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// Why the endpoint was disabled (by the platform after failing for days, or by a caller).
    pub disabled_reason: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub disabled_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Until when the previous secret still signs beside the current one.
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// The signing secret (`whsec_...`): in the answer of a creation or a rotation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn endpoint_view(e: v1::WebhookEndpoint, secret: Option<String>) -> WebhookEndpointView {
    let time = |t: Option<joule_proto::Timestamp>| joule_proto::time::from_proto(t.as_ref());
    WebhookEndpointView {
        id: e.id,
        url: e.url,
        event_types: e.event_types,
        description: e.description,
        enabled: e.enabled,
        disabled_reason: Some(e.disabled_reason).filter(|r| !r.is_empty()),
        disabled_at: time(e.disabled_at),
        created_at: time(e.created_at),
        updated_at: time(e.updated_at),
        previous_secret_expires_at: time(e.previous_secret_expires_at),
        secret,
    }
}

/// An endpoint's delivery of one event, with its last attempt.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WebhookDeliveryView {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed` (retried for 3 days without a 2xx).
    pub status: String,
    pub attempts: u32,
    /// The last attempt's HTTP status; `null` before the first attempt or without an answer.
    pub last_status_code: Option<u32>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (pending deliveries only).
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub created_at: Option<DateTime<Utc>>,
}

fn delivery_view(d: v1::WebhookDelivery) -> WebhookDeliveryView {
    let time = |t: Option<joule_proto::Timestamp>| joule_proto::time::from_proto(t.as_ref());
    WebhookDeliveryView {
        id: d.id,
        endpoint_id: d.endpoint_id,
        event_id: d.event_id,
        event_type: d.event_type,
        status: d.status,
        attempts: d.attempts,
        last_status_code: Some(d.last_status_code).filter(|c| *c != 0),
        last_error: Some(d.last_error).filter(|e| !e.is_empty()),
        last_attempt_at: time(d.last_attempt_at),
        next_attempt_at: time(d.next_attempt_at),
        created_at: time(d.created_at),
    }
}

fn endpoint_id(raw: &str) -> Result<String, ApiError> {
    path_id::<uuid::Uuid>(raw, "webhook endpoint").map(|u| u.to_string())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// An absolute http(s) URL, not one of the platform's own addresses.
    pub url: String,
    /// Event types (`joule.v1.SessionCompleted`, ...), or `["*"]` for every one.
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// Default: true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewEndpoint>,
) -> Result<Created<WebhookEndpointView>, ApiError> {
    let answer = state
        .webhooks()
        .create_endpoint(v1::CreateWebhookEndpointRequest {
            tenant_id: caller.tenant.to_string(),
            url: body.url,
            event_types: body.event_types,
            description: body.description,
            enabled: body.enabled,
        })
        .await
        .answer(SERVICE)?;
    let endpoint = answer
        .endpoint
        .ok_or_else(|| no_endpoint("CreateEndpoint"))?;
    let location = format!("/v1/webhook-endpoints/{}", endpoint.id);
    Ok(Created::at(
        location,
        endpoint_view(endpoint, Some(answer.secret)),
    ))
}

fn no_endpoint(rpc: &str) -> ApiError {
    ApiError::UpstreamContract {
        service: SERVICE,
        reason: format!("{rpc} answered without an endpoint"),
    }
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery<PageQuery>,
) -> Result<Json<Listed<WebhookEndpointView>>, ApiError> {
    query.checked().finish()?;
    let page = query.page()?;
    let answer = state
        .webhooks()
        .list_endpoints(v1::ListWebhookEndpointsRequest {
            tenant_id: caller.tenant.to_string(),
            page_size: page.limit,
            cursor: page.cursor.unwrap_or_default(),
        })
        .await
        .answer(SERVICE)?;
    let view = |e| Ok(endpoint_view(e, None));
    listed(answer.endpoints, answer.next_cursor, view).map(Json)
}

async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let endpoint = state
        .webhooks()
        .get_endpoint(v1::GetWebhookEndpointRequest {
            tenant_id: caller.tenant.to_string(),
            id: endpoint_id(&id)?,
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(endpoint_view(endpoint, None)))
}

/// The fields to change; those left out stay as they are. `enabled: true` re-enables an endpoint
/// the platform disabled, and its pending deliveries resume.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

async fn change(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EndpointChange>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let id = endpoint_id(&id)?;
    let endpoint = state
        .webhooks()
        .update_endpoint(v1::UpdateWebhookEndpointRequest {
            tenant_id: caller.tenant.to_string(),
            id,
            url: body.url,
            event_types: body
                .event_types
                .map(|event_types| v1::WebhookEventTypes { event_types }),
            description: body.description,
            enabled: body.enabled,
        })
        .await
        .answer(SERVICE)?;
    Ok(Json(endpoint_view(endpoint, None)))
}

async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<NoContent, ApiError> {
    state
        .webhooks()
        .delete_endpoint(v1::DeleteWebhookEndpointRequest {
            tenant_id: caller.tenant.to_string(),
            id: endpoint_id(&id)?,
        })
        .await
        .answer(SERVICE)?;
    Ok(NoContent)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the previous secret keeps signing beside the new one, in seconds: at most, and by
    /// default, 24 hours; 0 ends it at once.
    #[serde(default)]
    pub overlap_secs: Option<u32>,
}

async fn rotate_secret(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rotation>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let answer = state
        .webhooks()
        .rotate_secret(v1::RotateWebhookSecretRequest {
            tenant_id: caller.tenant.to_string(),
            id: endpoint_id(&id)?,
            overlap_secs: body.overlap_secs,
        })
        .await
        .answer(SERVICE)?;
    let endpoint = answer.endpoint.ok_or_else(|| no_endpoint("RotateSecret"))?;
    Ok(Json(endpoint_view(endpoint, Some(answer.secret))))
}

async fn deliveries(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: RawQuery<PageQuery>,
) -> Result<Json<Listed<WebhookDeliveryView>>, ApiError> {
    let endpoint_id = endpoint_id(&id)?;
    query.checked().finish()?;
    let page = query.page()?;
    let answer = state
        .webhooks()
        .list_deliveries(v1::ListWebhookDeliveriesRequest {
            tenant_id: caller.tenant.to_string(),
            endpoint_id,
            page_size: page.limit,
            cursor: page.cursor.unwrap_or_default(),
        })
        .await
        .answer(SERVICE)?;
    let view = |d| Ok(delivery_view(d));
    listed(answer.deliveries, answer.next_cursor, view).map(Json)
}

async fn redeliver(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Accepted<WebhookDeliveryView>, ApiError> {
    let delivery_id = path_id::<uuid::Uuid>(&id, "webhook delivery")?.to_string();
    let delivery = state
        .webhooks()
        .redeliver(v1::RedeliverWebhookRequest {
            tenant_id: caller.tenant.to_string(),
            delivery_id,
        })
        .await
        .answer(SERVICE)?;
    Ok(Accepted(delivery_view(delivery)))
}
