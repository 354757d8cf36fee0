//! Invoicing's durable consumers, one module each: [`session_priced`] (a receipt for every priced
//! session) and [`price_adjusted`] (an adjustment note for every re-rating).

pub mod price_adjusted;
pub mod session_priced;

use joule_bus::HandlerError;

use crate::issuer::IssueError;

/// What the consumer tells the bus of an issue that failed: a request that can never be issued is
/// parked (its reason after `context`), database trouble is retried.
fn handler_error(error: IssueError, context: &str) -> HandlerError {
    match error {
        IssueError::Rejected(reason) => HandlerError::Rejected(format!("{context}{reason}")),
        IssueError::Infrastructure(reason) => HandlerError::Transient(reason),
    }
}
