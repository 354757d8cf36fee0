//! Background writers of batches (the frame audit trail, connector states): a failed write is
//! retried a few times before the batch is given up.

use std::future::Future;
use std::time::Duration;

/// Retries after the first failure.
pub const RETRIES: u64 = 5;

/// Runs `write` until it succeeds, retrying [`RETRIES`] times with a growing pause (each retry
/// logged with `retrying`); the last error when it gave up.
pub async fn with_retries<F, Fut>(retrying: &str, mut write: F) -> Result<(), sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < RETRIES => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "{retrying}");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
