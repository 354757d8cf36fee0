//! The one mapping of the ledger's errors to gRPC status codes.

use tonic::Status;

use crate::projections::balances::ReadError;

/// Why a ledger request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match &error {
            Error::InvalidArgument { .. } => Status::invalid_argument(error.to_string()),
            Error::Read(ReadError::Overflow) => Status::out_of_range(error.to_string()),
            Error::Read(ReadError::Database(_)) | Error::Database(_) => {
                tracing::error!(error = %error, "ledger read failed");
                Status::unavailable("ledger store unavailable")
            }
        }
    }
}

/// A refusal of the request's `field`.
pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

/// The request's optional time `field`; one that is not a valid time is refused.
pub(super) fn time(
    field: &'static str,
    t: Option<&joule_proto::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    t.map(|t| {
        joule_proto::time::from_proto(Some(t)).ok_or_else(|| invalid(field, "is not a valid time"))
    })
    .transpose()
}
