//! The one mapping of the gateway's errors to `tonic::Status`.

use tonic::Status;

use crate::commands::RouteError;

impl From<RouteError> for Status {
    fn from(e: RouteError) -> Self {
        let message = e.to_string();
        match e {
            RouteError::Invalid(_) => Status::invalid_argument(message),
            RouteError::NotRegistered(_) => Status::not_found(message),
            RouteError::NotConnected(_) | RouteError::Refused(..) => {
                Status::failed_precondition(message)
            }
            RouteError::NoAnswer(_) | RouteError::AnswerTimedOut(..) => {
                Status::deadline_exceeded(message)
            }
            RouteError::Unavailable(_) => Status::unavailable(message),
            RouteError::Internal(_) => Status::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use joule_domain::ChargePointId;
    use tonic::Code;

    use super::*;

    #[test]
    fn each_route_error_has_its_code_and_message() {
        let cp: ChargePointId = "CP-1".parse().unwrap();
        let cases = [
            (
                RouteError::Invalid("command: required".into()),
                Code::InvalidArgument,
                "command: required",
            ),
            (
                RouteError::NotRegistered(cp.clone()),
                Code::NotFound,
                "charger CP-1 is not registered",
            ),
            (
                RouteError::NotConnected(cp.clone()),
                Code::FailedPrecondition,
                "charger CP-1 is not connected",
            ),
            (
                RouteError::NoAnswer(cp.clone()),
                Code::DeadlineExceeded,
                "charger CP-1 did not answer in time",
            ),
            (
                RouteError::AnswerTimedOut(cp.clone(), "no answer to Reset within 30s".into()),
                Code::DeadlineExceeded,
                "charger CP-1 did not answer in time: no answer to Reset within 30s",
            ),
            (
                RouteError::Refused(cp, "NotSupported: no".into()),
                Code::FailedPrecondition,
                "charger CP-1 refused: NotSupported: no",
            ),
            (
                RouteError::Unavailable("event bus unavailable"),
                Code::Unavailable,
                "event bus unavailable",
            ),
            (
                RouteError::Internal("empty command reply"),
                Code::Internal,
                "empty command reply",
            ),
        ];
        for (error, code, message) in cases {
            let status = Status::from(error);
            assert_eq!((status.code(), status.message()), (code, message));
        }
    }
}
