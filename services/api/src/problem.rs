//! The one mapping from error kinds to HTTP statuses and RFC 9457 `application/problem+json` bodies.
//!
//! Handlers return [`ApiError`]; nothing else in the crate builds an error response. Client mistakes
//! carry their detail to the caller; infrastructure failures are logged here, once, with their cause,
//! and the caller gets a generic detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One rejected field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all (syntax error, truncated).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the route accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request was not answered within the request timeout.
    #[error("request timed out")]
    Timeout,
    /// Well-formed request with invalid fields.
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    /// A record the body refers to (a `fleet_id`) is not one the caller can see: 404 naming the
    /// field, so that another tenant's or another fleet's record reads as none.
    #[error("{}: {}", .0.field, .0.reason)]
    ReferenceNotFound(FieldError),
    /// The request conflicts with the state of a record: the field that names it (`id` for the
    /// record of the path) and why.
    #[error("{}", .0.reason)]
    Conflict(FieldError),
    /// The resource exists already (a second creation of it); `field` holds its key, `existing` is
    /// its path, given in the problem's `existing` member.
    #[error("{detail}")]
    AlreadyExists {
        field: &'static str,
        detail: String,
        existing: String,
    },
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    /// The credential is valid but lacks the scope the route requires (ADR 034).
    #[error("missing scope {0}")]
    Forbidden(crate::access::Scope),
    /// The credential or its tenant is over its rate limit; retry after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A gRPC call to another Joule service failed.
    #[error("upstream {service}: {status}")]
    Upstream {
        service: &'static str,
        status: tonic::Status,
    },
    /// Another Joule service answered with something that breaks the contract.
    #[error("upstream {service} sent an invalid answer: {reason}")]
    UpstreamContract {
        service: &'static str,
        reason: String,
    },
    /// The request was accepted but its effect is not visible yet.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, reason)])
    }

    /// 404 naming the field whose record the caller cannot see.
    pub fn no_such(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::ReferenceNotFound(FieldError::new(field, reason))
    }

    /// 409 naming the field whose record is in the way.
    pub fn conflict(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Conflict(FieldError::new(field, reason))
    }

    /// A conflict with a record whose id derives from the body's `field` (a second charger with a
    /// charge point id) names that field.
    pub fn keyed_by(self, field: &str) -> Self {
        match self {
            Self::Conflict(e) => Self::conflict(field, e.reason),
            other => other,
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    /// A failed gRPC call to `service`. A refusal that names its field (services refuse with
    /// `<field>: <reason>`) is a validation problem naming it.
    pub fn upstream(service: &'static str) -> impl FnOnce(tonic::Status) -> Self {
        move |status| match upstream_field(&status) {
            Some(field) if status.code() == tonic::Code::InvalidArgument => {
                Self::Validation(vec![field])
            }
            _ => Self::Upstream { service, status },
        }
    }

    fn problem(&self) -> Problem {
        use tonic::Code;
        let (status, kind, title, detail) = match self {
            ApiError::MalformedJson(d) => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                d.clone(),
            ),
            ApiError::UnsupportedMediaType(d) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                d.clone(),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                "the request body is too large for this route".into(),
            ),
            ApiError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timeout",
                "the request was not answered in time; retry later".into(),
            ),
            ApiError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, "not-found", "Not found", d.clone()),
            ApiError::ReferenceNotFound(e) => (
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("{}: {}", e.field, e.reason),
            ),
            ApiError::Conflict(e) => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                e.reason.clone(),
            ),
            ApiError::AlreadyExists { detail, .. } => (
                StatusCode::CONFLICT,
                "already-exists",
                "Already exists",
                detail.clone(),
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
                "send an API key, an OAuth2 access token or the admin token as `Authorization: Bearer <token>`; a revoked or expired one is refused".into(),
            ),
            ApiError::Forbidden(scope) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                format!("this credential lacks the scope `{scope}` that the route requires"),
            ),
            ApiError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!("this credential or its tenant is over its rate limit; retry in {retry_after_secs} s"),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this resource does not support the method".into(),
            ),
            ApiError::Upstream { service, status } => match status.code() {
                Code::InvalidArgument => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "Invalid request",
                    status.message().to_owned(),
                ),
                Code::NotFound => (
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "Not found",
                    status.message().to_owned(),
                ),
                Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => (
                    StatusCode::CONFLICT,
                    "conflict",
                    "Conflict",
                    status.message().to_owned(),
                ),
                Code::Unavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    format!("the {service} service is unavailable; retry later"),
                ),
                Code::DeadlineExceeded => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream-timeout",
                    "Upstream timeout",
                    format!("the {service} service did not answer in time"),
                ),
                _ => (
                    StatusCode::BAD_GATEWAY,
                    "upstream",
                    "Upstream failure",
                    format!("the {service} service failed"),
                ),
            },
            ApiError::UpstreamContract { service, .. } => (
                StatusCode::BAD_GATEWAY,
                "upstream",
                "Upstream failure",
                format!("the {service} service sent an invalid answer"),
            ),
            ApiError::Unavailable(d) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                d.clone(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "an internal error occurred; it has been logged".into(),
            ),
        };
        let errors = if status.is_client_error() {
            self.errors(&detail)
        } else {
            Vec::new()
        };
        Problem {
            kind: format!("urn:joule:problem:{kind}"),
            title,
            status: status.as_u16(),
            detail,
            errors,
            existing: match self {
                ApiError::AlreadyExists { existing, .. } => Some(existing.clone()),
                _ => None,
            },
            missing_scope: match self {
                ApiError::Forbidden(scope) => Some(scope.as_str()),
                _ => None,
            },
        }
    }
}

impl ApiError {
    /// The fields a client error is about: every 4xx names at least one, so that a client can show
    /// the problem beside what caused it. Where a kind has no field of its own, the part of the
    /// request it is about: `body`, the `id` of the path's record, a header.
    fn errors(&self, detail: &str) -> Vec<FieldError> {
        let about = |field: &str| vec![FieldError::new(field, detail)];
        match self {
            ApiError::Validation(errors) => errors.clone(),
            ApiError::ReferenceNotFound(error) | ApiError::Conflict(error) => vec![error.clone()],
            ApiError::AlreadyExists { field, .. } => about(field),
            ApiError::Upstream { status, .. } => match upstream_field(status) {
                Some(error) => vec![error],
                None if status.code() == tonic::Code::InvalidArgument => about("body"),
                None => about("id"),
            },
            ApiError::NotFound(_) => about("id"),
            ApiError::UnsupportedMediaType(_) => about("Content-Type"),
            ApiError::Unauthenticated | ApiError::Forbidden(_) | ApiError::RateLimited { .. } => {
                about("Authorization")
            }
            ApiError::MethodNotAllowed => about("method"),
            ApiError::MalformedJson(_)
            | ApiError::PayloadTooLarge
            | ApiError::Timeout
            | ApiError::UpstreamContract { .. }
            | ApiError::Unavailable(_)
            | ApiError::Internal(_) => about("body"),
        }
    }
}

/// The field a service's refusal names: services refuse with `<field>: <reason>`, the field a path
/// such as `cdr.charging_periods[3].dimensions[0].volume`.
fn upstream_field(status: &tonic::Status) -> Option<FieldError> {
    let (field, reason) = status.message().split_once(": ")?;
    (!field.is_empty() && !field.contains(' ')).then(|| FieldError::new(field, reason))
}

/// An aggregate's business rejection is a conflict with the state of the path's record (`id`; a
/// route whose record is keyed by a body field names it, [`ApiError::keyed_by`]); everything else
/// is infrastructure.
impl<E: std::error::Error> From<cqrs_es::AggregateError<E>> for ApiError {
    fn from(error: cqrs_es::AggregateError<E>) -> Self {
        use cqrs_es::AggregateError;
        match error {
            AggregateError::UserError(e) => ApiError::conflict("id", e.to_string()),
            // `joule_store::execute` already retried; the aggregate is hot, the client may retry.
            AggregateError::AggregateConflict => {
                ApiError::Unavailable("the record is being changed concurrently; retry".into())
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::internal(error)
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// For `already-exists`: the path of the resource that exists (an RFC 9457 extension member).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
    /// For `forbidden`: the scope the credential lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_scope: Option<&'static str>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request rejected");
        }
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            ApiError::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

/// Collects field errors so that a request reports all its bad fields at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// Keeps the value, or records why `field` was refused.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldError::new(field, e.to_string()));
                None
            }
        }
    }

    pub fn reject(&mut self, field: &str, reason: impl Into<String>) {
        self.errors.push(FieldError::new(field, reason));
    }

    /// The rejection so far; for when a required value is missing because it was refused.
    pub fn into_error(self) -> ApiError {
        ApiError::Validation(self.errors)
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(e: ApiError) -> u16 {
        e.problem().status
    }

    #[test]
    fn grpc_statuses_map_to_http() {
        let up = |s| ApiError::upstream("pricing")(s);
        assert_eq!(
            status_of(up(tonic::Status::invalid_argument("elements: empty"))),
            422
        );
        assert_eq!(status_of(up(tonic::Status::not_found("no tariff"))), 404);
        assert_eq!(status_of(up(tonic::Status::unavailable("down"))), 503);
        assert_eq!(status_of(up(tonic::Status::internal("boom"))), 502);
    }

    #[test]
    fn invalid_argument_keeps_the_upstream_message_but_internal_does_not() {
        let p =
            ApiError::upstream("pricing")(tonic::Status::invalid_argument("currency: required"))
                .problem();
        assert_eq!(p.detail, "currency: required");
        assert_eq!(p.errors, [FieldError::new("currency", "required")]);
        let p = ApiError::upstream("pricing")(tonic::Status::invalid_argument(
            "the charge would take too long",
        ))
        .problem();
        assert_eq!(
            p.errors,
            [FieldError::new("body", "the charge would take too long")]
        );
        let p =
            ApiError::upstream("pricing")(tonic::Status::internal("password=hunter2")).problem();
        assert!(!p.detail.contains("hunter2"));
        let p = ApiError::Internal("db password=hunter2".into()).problem();
        assert!(!p.detail.contains("hunter2"));
    }

    #[test]
    fn validation_lists_every_field() {
        let mut v = Validator::default();
        v.check::<(), _>("country", Err("must be two capitals"));
        v.reject("time_zone", "unknown");
        let Err(e) = v.finish() else {
            panic!("expected rejection")
        };
        let p = e.problem();
        assert_eq!(p.status, 422);
        assert_eq!(
            p.errors
                .iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>(),
            ["country", "time_zone"]
        );
    }
}
