//! The one mapping of the webhooks service's errors to gRPC status codes.

use tonic::Status;

use crate::endpoints::Invalid;

/// Why a webhooks request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub fn field(field: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::InvalidArgument(Invalid {
            field,
            reason: reason.to_string(),
        })
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match &error {
            Error::InvalidArgument(_) => Status::invalid_argument(error.to_string()),
            Error::NotFound(_) => Status::not_found(error.to_string()),
            Error::Database(_) => {
                tracing::error!(error = %error, "webhooks request failed");
                Status::unavailable("webhooks store unavailable")
            }
        }
    }
}
