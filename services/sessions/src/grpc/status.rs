//! The one mapping of the sessions API's errors to gRPC statuses.

use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error("{field}: {reason}")]
    InvalidArgument {
        field: &'static str,
        reason: &'static str,
    },
    #[error("session {0} not found")]
    NotFound(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<ReadError> for Status {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::InvalidArgument { .. } => Status::invalid_argument(error.to_string()),
            ReadError::NotFound(_) => Status::not_found(error.to_string()),
            ReadError::Database(e) => {
                tracing::error!(error = %e, "session query failed");
                Status::internal("session store unavailable")
            }
        }
    }
}
