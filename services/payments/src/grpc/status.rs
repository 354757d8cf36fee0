//! The one mapping of the service's errors to gRPC status codes: a refusal names its field
//! (`InvalidArgument`), a state that does not allow the request is `FailedPrecondition`, a concurrent
//! operation is `Aborted` (retry), and infrastructure is `Unavailable` (retry with the same
//! idempotency key) with the cause logged, never sent.

use std::fmt::Display;

use cqrs_es::AggregateError;
use tonic::Status;

use super::idempotency::IdempotencyError;
use crate::amounts::AmountError;
use crate::domain::intent::IntentError;
use crate::domain::methods::MethodsError;
use crate::domain::settlement::ReportError;
use crate::domain::wallet::WalletError;
use crate::engine::EngineError;
use crate::flow::FlowError;
use crate::provider::{ProviderError, ProviderErrorKind};

/// A request value refused: `<field>: <reason>`.
pub(super) fn invalid(field: &str, reason: impl Display) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}

pub(super) fn not_found(what: impl Display) -> Status {
    Status::not_found(what.to_string())
}

/// What the request asks cannot be done in the state things are in.
pub(super) fn refused(reason: impl Display) -> Status {
    Status::failed_precondition(reason.to_string())
}

/// The store failed: the cause is logged, the caller retries.
pub(super) fn unavailable(what: &str, error: impl Display) -> Status {
    tracing::error!(error = %error, "{what} failed");
    Status::unavailable("payments store unavailable")
}

/// An aggregate's store failed.
pub(super) fn store<E: std::error::Error>(e: AggregateError<E>) -> Status {
    unavailable("payments store", e)
}

/// A read of the read tables failed.
pub(super) fn db(e: sqlx::Error) -> Status {
    unavailable("payments read", e)
}

pub(super) fn methods(e: AggregateError<MethodsError>) -> Status {
    match e {
        AggregateError::UserError(e) => refused(e),
        other => store(other),
    }
}

pub(super) fn wallet(e: AggregateError<WalletError>) -> Status {
    match e {
        AggregateError::UserError(e @ WalletError::NotPositive) => invalid("amount", e),
        AggregateError::UserError(e @ WalletError::OutOfRange) => {
            Status::invalid_argument(e.to_string())
        }
        AggregateError::UserError(e) => refused(e),
        other => store(other),
    }
}

/// A provider's answer to saving a method (`describe`): its refusal names the token.
pub(super) fn describe(provider: &str, e: ProviderError) -> Status {
    match e.kind {
        ProviderErrorKind::Unavailable => {
            Status::unavailable(format!("the {provider} provider is unavailable"))
        }
        _ => invalid("provider_token", format!("{} ({})", e.message, e.code)),
    }
}

impl From<AmountError> for Status {
    fn from(e: AmountError) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

impl From<ReportError> for Status {
    fn from(e: ReportError) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

impl From<IntentError> for Status {
    fn from(e: IntentError) -> Self {
        match &e {
            IntentError::NotFound => Status::not_found("no such payment"),
            IntentError::InvalidAmount { .. }
            | IntentError::CurrencyMismatch { .. }
            | IntentError::RefundExceedsCaptured { .. }
            | IntentError::ExtensionNotAbove { .. } => Status::invalid_argument(e.to_string()),
            IntentError::Voided
            | IntentError::InvalidState { .. }
            | IntentError::AlreadyCaptured { .. }
            | IntentError::OpenedDifferently => refused(e),
            IntentError::InProgress(_) => Status::aborted(e.to_string()),
        }
    }
}

impl From<EngineError> for Status {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Intent(e) => e.into(),
            EngineError::ProviderUnavailable(reason) => {
                tracing::warn!(%reason, "payment provider unavailable");
                Status::unavailable(
                    "the payment provider is unavailable; retry with the same idempotency key",
                )
            }
            EngineError::Store(reason) => unavailable("payments store", reason),
        }
    }
}

impl From<FlowError> for Status {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Invalid(e) => e.into(),
            FlowError::UnknownAccount(a) => invalid(
                "currency",
                format!("account {a} is not known to payments yet; give the currency"),
            ),
            FlowError::HoldInProgress => {
                Status::aborted("the session's hold is being placed; retry")
            }
            FlowError::Engine(e) => e.into(),
            FlowError::Store(reason) => unavailable("payments store", reason),
        }
    }
}

impl From<IdempotencyError> for Status {
    fn from(e: IdempotencyError) -> Self {
        match e {
            IdempotencyError::Invalid(reason) => invalid("idempotency_key", reason),
            IdempotencyError::OtherRequest(key) => Status::already_exists(format!(
                "idempotency_key: {key:?} was used for a different request"
            )),
            IdempotencyError::InProgress(reason) => Status::aborted(reason),
            IdempotencyError::Stored { code, message } => Status::new(code, message),
            IdempotencyError::Unreadable(reason) => {
                Status::internal(format!("stored answer unreadable: {reason}"))
            }
            IdempotencyError::Store(e) => unavailable("idempotency store", e),
        }
    }
}
