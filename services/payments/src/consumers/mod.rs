//! The durable consumers, one module each: accounts and chargers from REGISTRY (projections the holds
//! need), session starts from SESSION (place the hold), priced sessions and running costs from PRICING
//! (capture; the hold follows the cost). Each is idempotent per session.

pub mod accounts;
pub mod chargers;
pub mod cost_updated;
pub mod session_priced;
pub mod session_started;

use joule_bus::{HandlerError, Received};
use joule_domain::TenantId;
use joule_store::CommandMeta;

use crate::engine::EngineError;
use crate::flow::FlowError;

/// The command metadata of what `received` causes; the default tenant when the envelope names none.
fn meta(received: &Received, default_tenant: &TenantId) -> CommandMeta {
    let mut meta = CommandMeta::caused_by(&received.envelope);
    if meta.tenant_id.is_empty() {
        meta.tenant_id = default_tenant.to_string();
    }
    meta
}

/// A field of a message parsed as `T`, or the message rejected naming the field.
fn parse<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, HandlerError>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| HandlerError::Rejected(format!("{field}: {e}")))
}

/// A business refusal is for good (rejected, parked); anything else is retried.
fn engine_error(e: EngineError) -> HandlerError {
    match e {
        EngineError::Intent(e) => HandlerError::Rejected(e.to_string()),
        other => HandlerError::Transient(other.to_string()),
    }
}

fn flow_error(e: FlowError) -> HandlerError {
    match e {
        FlowError::Invalid(e) => HandlerError::Rejected(e.to_string()),
        FlowError::Engine(e) => engine_error(e),
        other => HandlerError::Transient(other.to_string()),
    }
}
