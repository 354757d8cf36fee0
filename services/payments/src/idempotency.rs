//! Idempotency keys of the API's writes, kept in the payments schema.
//!
//! The first request with a key claims it (with a lease) and runs; its answer (a response or a
//! business refusal) is stored under the key with a hash of the request. A repeat with the same
//! request gets the stored answer; with a different request it is refused (ALREADY_EXISTS, a 409 in
//! REST). While the first is still running a repeat is told to retry (ABORTED). A run that fails for
//! infrastructure reasons stores nothing and releases the key, and a claim whose process died expires
//! with its lease: the operations underneath are idempotent themselves, so running again is safe.

use std::future::Future;

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tonic::{Code, Status};

/// How long a claim protects a running request.
const LEASE_SECS: i64 = 60;

/// request hash, state, status code, message, response, whether the lease expired.
type StoredAnswer = (String, String, Option<i32>, String, Option<Vec<u8>>, bool);

pub struct IdempotencyStore {
    pool: PgPool,
    schema: String,
}

/// An answer worth keeping: a response, or a refusal that would be given again.
fn is_final(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition | Code::AlreadyExists
    )
}

fn internal(e: sqlx::Error) -> Status {
    tracing::error!(error = %e, "idempotency store failed");
    Status::unavailable("payments store unavailable")
}

impl IdempotencyStore {
    pub fn new(pool: PgPool, schema: &str) -> Self {
        Self {
            pool,
            schema: schema.to_owned(),
        }
    }

    /// Runs `run` once per (`scope`, `key`). `request` is hashed without its key, so the same request
    /// sent again with the same key is recognised.
    pub async fn run<Q, R, F, Fut>(
        &self,
        scope: &str,
        key: &str,
        request: &Q,
        run: F,
    ) -> Result<R, Status>
    where
        Q: Message,
        R: Message + Default,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, Status>>,
    {
        let key = key.trim();
        if key.is_empty() {
            return Err(Status::invalid_argument(
                "idempotency_key: is required for every write (REST: the Idempotency-Key header)",
            ));
        }
        if key.len() > 255 {
            return Err(Status::invalid_argument(
                "idempotency_key: must be at most 255 characters",
            ));
        }
        let hash = format!("{:x}", Sha256::digest(request.encode_to_vec()));
        let s = &self.schema;
        // Claims and answers are written without waiting for the WAL flush: one lost in a PostgreSQL
        // crash only lets a retry run the request again, and every operation underneath is idempotent
        // by itself (derived ids, provider keys). The events those operations commit do wait.
        let claimed: Option<i32> = sqlx::query_scalar(&format!(
            "WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
             INSERT INTO {s}.idempotency (scope, key, request_hash, state, lease_until)
             SELECT $1, $2, $3, 'running', now() + make_interval(secs => $4) FROM async
             ON CONFLICT (scope, key) DO NOTHING RETURNING 1"
        ))
        .bind(scope)
        .bind(key)
        .bind(&hash)
        .bind(LEASE_SECS as f64)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        if claimed.is_none() {
            let row: Option<StoredAnswer> = sqlx::query_as(&format!(
                "SELECT request_hash, state, code, message, response, lease_until < now()
                     FROM {s}.idempotency WHERE scope = $1 AND key = $2"
            ))
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
            let Some((stored_hash, state, code, message, response, expired)) = row else {
                return Err(Status::aborted("the request is being retried; retry"));
            };
            if stored_hash != hash {
                return Err(Status::already_exists(format!(
                    "idempotency_key: {key:?} was used for a different request"
                )));
            }
            if state == "done" {
                return match code.map(Code::from_i32) {
                    Some(Code::Ok) | None => R::decode(response.unwrap_or_default().as_slice())
                        .map_err(|e| Status::internal(format!("stored answer unreadable: {e}"))),
                    Some(code) => Err(Status::new(code, message)),
                };
            }
            if !expired {
                return Err(Status::aborted(
                    "a request with this idempotency key is in progress; retry",
                ));
            }
            // The claim's process died: take the claim over, unless someone else just did.
            let taken = sqlx::query(&format!(
                "UPDATE {s}.idempotency SET lease_until = now() + make_interval(secs => $3)
                 WHERE scope = $1 AND key = $2 AND state = 'running' AND lease_until < now()"
            ))
            .bind(scope)
            .bind(key)
            .bind(LEASE_SECS as f64)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
            if taken.rows_affected() == 0 {
                return Err(Status::aborted(
                    "a request with this idempotency key is in progress; retry",
                ));
            }
        }
        let result = run().await;
        let (code, message, response) = match &result {
            Ok(r) => (Code::Ok, String::new(), Some(r.encode_to_vec())),
            Err(status) if is_final(status.code()) => {
                (status.code(), status.message().to_owned(), None)
            }
            Err(_) => {
                sqlx::query(&format!(
                    "DELETE FROM {s}.idempotency WHERE scope = $1 AND key = $2 AND state = 'running'"
                ))
                .bind(scope)
                .bind(key)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                return result;
            }
        };
        sqlx::query(&format!(
            "WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
             UPDATE {s}.idempotency SET state = 'done', code = $3, message = $4, response = $5
             FROM async WHERE scope = $1 AND key = $2"
        ))
        .bind(scope)
        .bind(key)
        .bind(code as i32)
        .bind(message)
        .bind(response)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        result
    }
}
