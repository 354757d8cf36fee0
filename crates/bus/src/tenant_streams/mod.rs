//! Integrators' streams (ADR 043): each tenant's public events, in JSON, on a NATS server of their
//! own, the integrator plane, that runs in operator mode.
//!
//! - [`names`]: the stream `<NS>_T_<tenant>` and its subjects `<ns>.tenant.<tenant>.<domain>.<Event>`.
//! - [`TenantStreams`]: how the webhooks service publishes there, the stream made on first use.
//! - [`Issuer`]: how the api signs a tenant's user JWT, allowed that tenant's stream and nothing else.
//! - [`Plane`]: the operator, accounts and keys of a new plane, and its server configuration
//!   (`joule integrator-plane init`, tests).
//! - [`jwt`]: NATS JWTs and `.creds` files.

pub mod jwt;
pub mod names;
mod plane;
mod publisher;

pub use plane::{Issuer, Plane, TenantUser};
pub use publisher::{StreamLimits, TenantStreams};
