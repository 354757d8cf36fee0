//! Why a CALL was not answered with a CALLRESULT, and the one mapping to OCPP error codes.

use joule_bus::BusError;

use crate::ocpp::frame::ErrorCode;
use crate::ocpp::payload::PayloadError;

#[derive(Debug, thiserror::Error)]
pub enum CallFailure {
    /// The charger's payload does not fit the action (its problem; retrying the same frame won't help).
    #[error("invalid payload: {0}")]
    Payload(#[from] PayloadError),
    #[error("action {0} is not implemented")]
    NotImplemented(String),
    /// Infrastructure: the charger should retry.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Infrastructure: the event is not durable, so the message must not be acknowledged.
    #[error("event bus: {0}")]
    Bus(#[from] BusError),
}

impl CallFailure {
    /// The CALLERROR code and description. Infrastructure details stay in the logs.
    pub fn answer(&self) -> (ErrorCode, String) {
        match self {
            CallFailure::Payload(e) => (e.code, e.to_string()),
            CallFailure::NotImplemented(_) => (ErrorCode::NotImplemented, self.to_string()),
            CallFailure::Database(_) | CallFailure::Bus(_) => (
                ErrorCode::InternalError,
                "temporarily unable to process the message; retry later".into(),
            ),
        }
    }

    pub fn is_infrastructure(&self) -> bool {
        matches!(self, CallFailure::Database(_) | CallFailure::Bus(_))
    }
}
