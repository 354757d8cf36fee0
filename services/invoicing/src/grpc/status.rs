//! The one mapping of the invoicing API's errors to gRPC statuses.

use tonic::Status;

use crate::projections::invoices::ReadModelError;
use crate::wire::FieldError;

#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    #[error("invoice {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Stored(#[from] ReadModelError),
}

impl From<ReadError> for Status {
    fn from(error: ReadError) -> Self {
        match &error {
            ReadError::InvalidArgument(_) => Status::invalid_argument(error.to_string()),
            ReadError::NotFound(_) => Status::not_found(error.to_string()),
            ReadError::Stored(ReadModelError::Database(_)) => {
                tracing::error!(error = %error, "invoice read failed");
                Status::unavailable("invoice store unavailable")
            }
            ReadError::Stored(ReadModelError::Corrupt { .. }) => {
                tracing::error!(error = %error, "invoice read failed");
                Status::internal("stored invoice is unreadable")
            }
        }
    }
}
