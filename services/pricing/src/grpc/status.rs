//! The one mapping of pricing's errors to gRPC status codes: every answer other than OK is an
//! [`Error`] until it leaves the server here.

use cqrs_es::AggregateError;
use joule_domain::limits::LimitError;
use tonic::Status;

use super::EXISTING_TARIFF;
use crate::domain::tariff::TariffError;
use crate::projections::ReadError;
use crate::rerate::RerateError;

/// Why a request to pricing was not answered.
#[derive(Debug)]
pub enum Error {
    /// The caller's mistake; the message names the field (`<field>: <reason>`).
    InvalidArgument(String),
    NotFound(String),
    FailedPrecondition(String),
    /// Done, but not readable yet.
    Unavailable(&'static str),
    Internal(String),
    /// A second tariff with an OCPI identity: the message and the Joule id of the existing one.
    Duplicate {
        message: String,
        existing: String,
    },
    /// A value outside its domain (`joule_domain::limits`).
    Limit(LimitError),
    Store(ReadError),
    Tariff(AggregateError<TariffError>),
    Rerate(RerateError),
}

impl Error {
    /// An invalid `field`, and why.
    pub fn field(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::InvalidArgument(format!("{field}: {reason}"))
    }
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        Self::Store(e)
    }
}

impl From<LimitError> for Error {
    fn from(e: LimitError) -> Self {
        Self::Limit(e)
    }
}

impl From<AggregateError<TariffError>> for Error {
    fn from(e: AggregateError<TariffError>) -> Self {
        Self::Tariff(e)
    }
}

impl From<RerateError> for Error {
    fn from(e: RerateError) -> Self {
        Self::Rerate(e)
    }
}

fn store_unavailable(error: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %error, "tariff query failed");
    Status::unavailable("tariff store unavailable")
}

fn tariff_status(error: AggregateError<TariffError>) -> Status {
    match error {
        AggregateError::UserError(TariffError::Invalid(e)) => {
            Status::invalid_argument(e.to_string())
        }
        AggregateError::UserError(TariffError::AlreadyExists) => {
            Status::already_exists("tariff already exists")
        }
        AggregateError::UserError(TariffError::NotFound) => {
            Status::not_found("tariff does not exist")
        }
        AggregateError::UserError(e @ (TariffError::Retired | TariffError::NotAfterLatest(_))) => {
            Status::failed_precondition(e.to_string())
        }
        AggregateError::UserError(e) => Status::invalid_argument(e.to_string()),
        other => {
            tracing::error!(error = %other, "tariff command failed");
            Status::unavailable("tariff store unavailable")
        }
    }
}

fn rerate_status(error: RerateError) -> Status {
    match error {
        RerateError::NoTariff(_) | RerateError::BadSession(_) => {
            Status::not_found(error.to_string())
        }
        RerateError::Busy | RerateError::Lagging => Status::unavailable(error.to_string()),
        RerateError::Unparseable { .. } => Status::failed_precondition(error.to_string()),
        RerateError::Store(_)
        | RerateError::Read(_)
        | RerateError::Command(_)
        | RerateError::Task(_) => store_unavailable(&error),
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(message) => Status::invalid_argument(message),
            Error::NotFound(message) => Status::not_found(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::Unavailable(message) => Status::unavailable(message),
            Error::Internal(message) => Status::internal(message),
            Error::Duplicate { message, existing } => {
                let mut status = Status::already_exists(message);
                if let Ok(value) = existing.parse() {
                    status.metadata_mut().insert(EXISTING_TARIFF, value);
                }
                status
            }
            Error::Limit(e) => Status::invalid_argument(e.to_string()),
            Error::Store(e) => store_unavailable(&e),
            Error::Tariff(e) => tariff_status(e),
            Error::Rerate(e) => rerate_status(e),
        }
    }
}
