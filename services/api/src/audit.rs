//! The audit log's writing side (ADR 034): every write an authenticated caller sends (anything but
//! GET and HEAD), whatever its outcome, becomes one `AuditRecorded` on `<NS>_AUDIT`, subject
//! `<ns>.audit.<tenant>`. The publish is awaited before the answer goes out; if it fails, it is
//! retried in the background and, failing that, logged with the whole record so nothing is lost
//! silently. Every answer carries `X-Request-Id` (the caller's, or a new one).

use std::time::Duration;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use joule_bus::{Bus, EventMeta, Outgoing};
use joule_proto::v1::AuditRecorded;
use uuid::Uuid;

use crate::auth::Principal;

const REQUEST_ID: &str = "x-request-id";
/// A request id longer than this, or not printable ASCII, is replaced by a new one.
const MAX_REQUEST_ID: usize = 128;

/// Middleware: records the request's write in the audit log.
pub async fn record(
    axum::extract::State(bus): axum::extract::State<Bus>,
    path: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let path_ids: Vec<String> = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map(|p| p.iter().map(|(_, value)| value.to_owned()).collect())
        .unwrap_or_default();
    let mut request = Request::from_parts(parts, body);
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID)
        .filter(|v| v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let method = request.method().clone();
    let principal = request.extensions().get::<Principal>().cloned();
    let uri_path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let Some(principal) = principal else {
        return response;
    };
    if method == Method::GET || method == Method::HEAD {
        return response;
    }
    let mut target_ids = path_ids;
    if let Some(created) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
    {
        target_ids.push(created.to_owned());
    }
    let status = response.status();
    let outcome = if status.is_success() {
        "succeeded"
    } else if status.is_client_error() {
        "refused"
    } else {
        "failed"
    };
    let (tenant, roles) = match &principal {
        Principal::Tenant(caller) => (
            caller.tenant.to_string(),
            caller.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        ),
        // The platform's actions are filed under the tenant they concern.
        Principal::Platform => (
            target_ids
                .first()
                .cloned()
                .unwrap_or_else(|| "platform".into()),
            Vec::new(),
        ),
    };
    let actor = principal.actor();
    let at = Utc::now();
    let message = AuditRecorded {
        at: Some(joule_proto::time::to_proto(at)),
        actor: actor.name(),
        credential: actor.credential().into(),
        roles,
        request_id: request_id.clone(),
        method: method.to_string(),
        route: path.map_or_else(|| "unmatched".into(), |p| p.as_str().to_owned()),
        path: uri_path,
        target_ids,
        status: u32::from(status.as_u16()),
        outcome: outcome.into(),
    };
    publish(&bus, &tenant, message, &request_id).await;
    response
}

/// How often a failed audit publish is tried again in the background.
const RETRIES: u32 = 5;

async fn publish(bus: &Bus, tenant: &str, message: AuditRecorded, request_id: &str) {
    let id = Uuid::new_v4().to_string();
    let at = Utc::now();
    let outgoing = Outgoing {
        subject: format!("audit.{}", subject_token(tenant)),
        envelope: joule_bus::envelope(
            &message,
            EventMeta {
                event_id: id.clone(),
                tenant_id: tenant.to_owned(),
                aggregate_type: "audit".into(),
                aggregate_id: id,
                sequence: 0,
                occurred_at: at,
                correlation_id: request_id.to_owned(),
                causation_id: String::new(),
            },
        ),
        trace_headers: joule_telemetry::current_trace_headers(),
    };
    if let Err(e) = bus.publish(outgoing.clone()).await {
        tracing::warn!(error = %e, "cannot record an audit event yet; retrying in the background");
        let bus = bus.clone();
        tokio::spawn(async move {
            for attempt in 1..=RETRIES {
                tokio::time::sleep(Duration::from_secs(1u64 << attempt)).await;
                if bus.publish(outgoing.clone()).await.is_ok() {
                    return;
                }
            }
            // The Nats-Msg-Id makes a later manual re-publish of this record harmless.
            tracing::error!(record = ?outgoing.envelope, "audit event lost after retries");
        });
    }
}

/// A NATS subject token: tenant ids are `[A-Za-z0-9_-]`; anything else is replaced.
fn subject_token(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
