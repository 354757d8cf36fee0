//! `Idempotency-Key` on every POST (issue 14, ADR 039): the first request with a key runs and its
//! answer is kept (`api.idempotency_keys`, per tenant, for [`RETENTION`]); the same key with the
//! same request answers the kept answer again (`Idempotent-Replayed: true`) without running it; the
//! same key with another request, or while the first still runs, is a 409 naming the header.
//!
//! Kept answers are sealed at rest (AES-256-GCM under the api's key-encryption key,
//! `JOULE_OAUTH_KEY_ENCRYPTION_KEY`, bound to the tenant and the key): some hold a secret shown
//! once (an API key's, a webhook signing secret, NATS credentials), which must not sit readable in
//! a table. Without a configured key each process seals with its own, so an answer kept by
//! another replica, or before a restart, is a 409 instead of a replay.
//!
//! An answer of 5xx is not kept, so a retry runs again. A key whose request died with its replica
//! (never answered) is taken over after [`ABANDONED_AFTER`]. Payments' writes also pass the key to
//! payments, which keeps its own record of what it did (ADR 007): the two agree, because the api
//! replays only what payments answered.

use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::SCHEMA;
use crate::auth::Principal;
use crate::extract::idempotency_key;
use crate::problem::ApiError;

/// How long a key's answer is kept (issue 14: at least 24 hours).
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// A request that has not answered in this time never will (the request timeout is far shorter).
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(2);
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// Answers larger than this are not kept (a retry runs again); the API's answers are far smaller.
const MAX_KEPT_ANSWER: usize = 1 << 20;
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What the middleware needs: the database, the largest body any route accepts and the key kept
/// answers are sealed with.
#[derive(Clone)]
pub struct Idempotency {
    pub pool: PgPool,
    pub max_body: usize,
    pub kek: std::sync::Arc<joule_auth::KeyEncryptionKey>,
}

/// A kept answer.
struct Kept {
    status: u16,
    location: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// A key's row as `claim` reads it back.
#[derive(sqlx::FromRow)]
struct KeyRow {
    fingerprint: Vec<u8>,
    status: Option<i32>,
    location: Option<String>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
}

/// Where a key stands when a request comes with it.
enum Claim {
    /// This request runs; its answer is kept under the key.
    Run,
    Replay(Kept),
    Conflict(&'static str),
}

/// Middleware: applies to authenticated POSTs that carry an `Idempotency-Key`.
pub async fn keep_answers(
    State(idempotency): State<Idempotency>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key("idempotency-key") {
        return next.run(request).await;
    }
    match run_once(&idempotency, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run_once(
    idempotency: &Idempotency,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = idempotency_key(request.headers())?;
    let tenant = match request.extensions().get::<Principal>() {
        Some(Principal::Tenant(caller)) => caller.tenant.to_string(),
        // The platform's own writes (tenants) are no tenant's: "platform" is no tenant id.
        Some(Principal::Platform) => "platform".to_owned(),
        None => return Err(ApiError::Unauthenticated),
    };
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, idempotency.max_body)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let fingerprint = fingerprint(&parts.uri.to_string(), &parts.headers, &body);
    let store = Store {
        pool: &idempotency.pool,
        kek: &idempotency.kek,
        tenant: &tenant,
        key: &key,
    };
    match store.claim(&fingerprint, Utc::now()).await? {
        Claim::Conflict(reason) => return Err(ApiError::conflict("Idempotency-Key", reason)),
        Claim::Replay(kept) => return Ok(replay(kept)),
        Claim::Run => {}
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let kept = match to_bytes(body, MAX_KEPT_ANSWER).await {
        Ok(bytes) if !parts.status.is_server_error() => Some(bytes),
        // Not kept: a 5xx, or too large to keep (then the answer is lost to this caller too).
        Ok(_) | Err(_) => None,
    };
    store
        .settle(parts.status, &parts.headers, kept.as_deref())
        .await?;
    Ok(Response::from_parts(
        parts,
        Body::from(kept.unwrap_or_default()),
    ))
}

/// SHA-256 over what makes two requests the same: path and query, content type and body.
fn fingerprint(uri: &str, headers: &HeaderMap, body: &Bytes) -> Vec<u8> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let mut digest = Sha256::new();
    for part in [uri.as_bytes(), content_type, body] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    digest.finalize().to_vec()
}

fn replay(kept: Kept) -> Response {
    let mut response = Response::new(Body::from(kept.body));
    *response.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in [
        (header::LOCATION, kept.location),
        (header::CONTENT_TYPE, kept.content_type),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// One tenant's key in `api.idempotency_keys`.
struct Store<'a> {
    pool: &'a PgPool,
    kek: &'a joule_auth::KeyEncryptionKey,
    tenant: &'a str,
    key: &'a str,
}

impl Store<'_> {
    /// What a kept answer is sealed for: this tenant's key (a row copied to another key or
    /// tenant does not open).
    fn context(&self) -> String {
        format!("idempotency/{}/{}", self.tenant, self.key)
    }

    /// Claims the key for a request with `fingerprint`, or says why not.
    async fn claim(&self, fingerprint: &[u8], now: DateTime<Utc>) -> Result<Claim, sqlx::Error> {
        // A new key, or one whose answer expired or whose request was abandoned, is this request's.
        let claimed = sqlx::query(&format!(
            "INSERT INTO {SCHEMA}.idempotency_keys (tenant_id, key, fingerprint, started_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, key) DO UPDATE
               SET fingerprint = EXCLUDED.fingerprint, started_at = EXCLUDED.started_at,
                   status = NULL, location = NULL, content_type = NULL, body = NULL
             WHERE idempotency_keys.started_at < $5
                OR (idempotency_keys.status IS NULL AND idempotency_keys.started_at < $6)"
        ))
        .bind(self.tenant)
        .bind(self.key)
        .bind(fingerprint)
        .bind(now)
        .bind(now - RETENTION)
        .bind(now - ABANDONED_AFTER)
        .execute(self.pool)
        .await?
        .rows_affected();
        if claimed == 1 {
            return Ok(Claim::Run);
        }
        let row: Option<KeyRow> = sqlx::query_as(&format!(
            "SELECT fingerprint, status, location, content_type, body
             FROM {SCHEMA}.idempotency_keys WHERE tenant_id = $1 AND key = $2"
        ))
        .bind(self.tenant)
        .bind(self.key)
        .fetch_optional(self.pool)
        .await?;
        Ok(match row {
            // Deleted in between (its request failed): a retry may run it.
            None => Claim::Conflict("a request with this key just failed; retry it"),
            Some(row) if row.fingerprint != fingerprint => {
                Claim::Conflict("this key was used with another request")
            }
            Some(KeyRow { status: None, .. }) => {
                Claim::Conflict("a request with this key is still running")
            }
            Some(KeyRow {
                status: Some(status),
                location,
                content_type,
                body,
                ..
            }) => match self
                .kek
                .open_for(&self.context(), &body.unwrap_or_default())
            {
                Some(body) => Claim::Replay(Kept {
                    status: u16::try_from(status).unwrap_or(500),
                    location,
                    content_type,
                    body,
                }),
                None => Claim::Conflict(
                    "the answer to this key was kept by another api process and cannot be \
                     replayed here (set JOULE_OAUTH_KEY_ENCRYPTION_KEY on every replica)",
                ),
            },
        })
    }

    /// Keeps the answer, or frees the key when there is none to keep.
    async fn settle(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: Option<&[u8]>,
    ) -> Result<(), sqlx::Error> {
        let Some(body) = body else {
            sqlx::query(&format!(
                "DELETE FROM {SCHEMA}.idempotency_keys WHERE tenant_id = $1 AND key = $2"
            ))
            .bind(self.tenant)
            .bind(self.key)
            .execute(self.pool)
            .await?;
            return Ok(());
        };
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let sealed = self
            .kek
            .seal_for(&self.context(), body)
            .ok_or_else(|| sqlx::Error::Protocol("cannot seal a kept answer".into()))?;
        sqlx::query(&format!(
            "UPDATE {SCHEMA}.idempotency_keys
             SET status = $3, location = $4, content_type = $5, body = $6
             WHERE tenant_id = $1 AND key = $2"
        ))
        .bind(self.tenant)
        .bind(self.key)
        .bind(i32::from(status.as_u16()))
        .bind(text(header::LOCATION))
        .bind(text(header::CONTENT_TYPE))
        .bind(sealed)
        .execute(self.pool)
        .await?;
        Ok(())
    }
}

/// Deletes kept answers older than [`RETENTION`] every ten minutes until shutdown.
pub async fn sweep(pool: PgPool, shutdown: CancellationToken) -> Result<(), String> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let deleted = sqlx::query(&format!(
            "DELETE FROM {SCHEMA}.idempotency_keys WHERE started_at < $1"
        ))
        .bind(Utc::now() - RETENTION)
        .execute(&pool)
        .await;
        if let Err(error) = deleted {
            tracing::warn!(%error, "cannot delete expired idempotency keys; next round retries");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_request_has_the_same_fingerprint_and_any_change_another() {
        let json = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            h
        };
        let base = fingerprint("/v1/sites", &json("application/json"), &Bytes::from("{}"));
        assert_eq!(
            base,
            fingerprint("/v1/sites", &json("application/json"), &Bytes::from("{}"))
        );
        for other in [
            fingerprint("/v1/sitesx", &json("application/json"), &Bytes::from("{}")),
            fingerprint("/v1/sites", &json("text/plain"), &Bytes::from("{}")),
            fingerprint("/v1/sites", &json("application/json"), &Bytes::from("{ }")),
            // The boundaries count: moving a byte from the path to the type is another request.
            fingerprint("/v1/site", &json("sapplication/json"), &Bytes::from("{}")),
        ] {
            assert_ne!(base, other);
        }
    }
}
