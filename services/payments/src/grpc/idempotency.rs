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

const IN_PROGRESS: &str = "a request with this idempotency key is in progress; retry";

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

/// Why a write is not run (mapped to a status in [`super::status`]).
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key is missing or malformed.
    #[error("{0}")]
    Invalid(&'static str),
    /// The key was used for another request.
    #[error("{0:?} was used for a different request")]
    OtherRequest(String),
    /// The first request with the key is still running.
    #[error("{0}")]
    InProgress(&'static str),
    /// The refusal stored for the key, given again.
    #[error("{message}")]
    Stored { code: Code, message: String },
    #[error("stored answer unreadable: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
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
        match self.claim(scope, key, request).await {
            Ok(None) => {}
            Ok(Some(stored)) => return Ok(stored),
            Err(e) => return Err(e.into()),
        }
        let result = run().await;
        self.answer(scope, key.trim(), &result)
            .await
            .map_err(Status::from)?;
        result
    }

    /// Claims `key` for a run (`None`), or hands back the answer stored for the same request.
    async fn claim<Q: Message, R: Message + Default>(
        &self,
        scope: &str,
        key: &str,
        request: &Q,
    ) -> Result<Option<R>, IdempotencyError> {
        let key = key.trim();
        if key.is_empty() {
            return Err(IdempotencyError::Invalid(
                "is required for every write (REST: the Idempotency-Key header)",
            ));
        }
        if key.len() > 255 {
            return Err(IdempotencyError::Invalid("must be at most 255 characters"));
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
        .await?;
        if claimed.is_none() {
            let row: Option<StoredAnswer> = sqlx::query_as(&format!(
                "SELECT request_hash, state, code, message, response, lease_until < now()
                     FROM {s}.idempotency WHERE scope = $1 AND key = $2"
            ))
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
            let Some((stored_hash, state, code, message, response, expired)) = row else {
                return Err(IdempotencyError::InProgress(
                    "the request is being retried; retry",
                ));
            };
            if stored_hash != hash {
                return Err(IdempotencyError::OtherRequest(key.to_owned()));
            }
            if state == "done" {
                return match code.map(Code::from_i32) {
                    Some(Code::Ok) | None => R::decode(response.unwrap_or_default().as_slice())
                        .map(Some)
                        .map_err(|e| IdempotencyError::Unreadable(e.to_string())),
                    Some(code) => Err(IdempotencyError::Stored { code, message }),
                };
            }
            if !expired {
                return Err(IdempotencyError::InProgress(IN_PROGRESS));
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
            .await?;
            if taken.rows_affected() == 0 {
                return Err(IdempotencyError::InProgress(IN_PROGRESS));
            }
        }
        Ok(None)
    }

    /// Stores the run's answer under the key, or releases the key when the run failed for
    /// infrastructure reasons.
    async fn answer<R: Message>(
        &self,
        scope: &str,
        key: &str,
        result: &Result<R, Status>,
    ) -> Result<(), IdempotencyError> {
        let s = &self.schema;
        let (code, message, response) = match result {
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
                .await?;
                return Ok(());
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
        .await?;
        Ok(())
    }
}
