//! Calls to other services while answering a charger, each optional and fail-soft: the gateway
//! works without them.
//!
//! - [`hold`]: payments' hold decision at a transaction's start (`Blocked` when declined).
//! - [`estimate`]: pricing's cost estimate in the 2.0.1 TransactionEvent(Ended) answer.

pub mod estimate;
pub mod hold;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use joule_runtime::Context;
use joule_runtime::GrpcChannel;

/// A gRPC channel to `service` when `enabled` (its url; empty: this process's server). A link that
/// cannot be made is logged and left out.
pub fn channel(ctx: &Context, service: &str, enabled: bool, url: &str) -> Option<GrpcChannel> {
    if !enabled {
        return None;
    }
    match ctx.grpc_channel(service, url) {
        Ok(channel) => Some(channel),
        Err(e) => {
            tracing::warn!(service, error = %e, "no gRPC link; the gateway works without it");
            None
        }
    }
}

/// For a link to this process's own gRPC server (no url configured): whether it answered that it
/// does not run the service. The set of services in a process is fixed, so it is not asked again.
#[derive(Clone, Default)]
pub struct Absence(Option<Arc<AtomicBool>>);

impl Absence {
    /// `local`: the channel is this process's own gRPC server.
    pub fn new(local: bool) -> Self {
        Self(local.then(Arc::default))
    }

    /// Whether the service is known not to run in this process.
    pub fn known(&self) -> bool {
        self.0.as_ref().is_some_and(|a| a.load(Ordering::Relaxed))
    }

    /// Whether `status` says that this process does not run the service (remembered, and logged
    /// once with `consequence`).
    pub fn noticed(&self, status: &tonic::Status, consequence: &str) -> bool {
        let Some(absent) = &self.0 else {
            return false;
        };
        if status.code() != tonic::Code::Unimplemented {
            return false;
        }
        tracing::warn!("{consequence}");
        absent.store(true, Ordering::Relaxed);
        true
    }
}
