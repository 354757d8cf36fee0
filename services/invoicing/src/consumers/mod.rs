//! Invoicing's durable consumers, one module each: [`session_priced`] (a receipt for every priced
//! session) and [`price_adjusted`] (an adjustment note for every re-rating), both an
//! [`IssueHandler`] of their message.

pub mod price_adjusted;
pub mod session_priced;

use std::marker::PhantomData;
use std::sync::Arc;

use joule_bus::HandlerError;
use joule_domain::TenantId;

use crate::issuer::{IssueError, Issuer};

/// A consumer that issues a document for every `M` it reads, in the tenant its envelope names
/// (`default_tenant` when it names none). Each consumer's module implements `Handler` for its
/// message: what the message becomes and what is logged.
pub struct IssueHandler<M> {
    issuer: Arc<Issuer>,
    default_tenant: TenantId,
    message: PhantomData<fn(M)>,
}

impl<M> IssueHandler<M> {
    pub fn new(issuer: Arc<Issuer>, default_tenant: TenantId) -> Self {
        Self {
            issuer,
            default_tenant,
            message: PhantomData,
        }
    }
}

/// What the consumer tells the bus of an issue that failed: a request that can never be issued is
/// parked (its reason after `context`), database trouble is retried.
fn handler_error(error: IssueError, context: &str) -> HandlerError {
    match error {
        IssueError::Rejected(reason) => HandlerError::Rejected(format!("{context}{reason}")),
        IssueError::Infrastructure(reason) => HandlerError::Transient(reason),
    }
}
