//! The webhooks service's durable consumers, one per stream it reads ([`events::STREAMS`]) and
//! purpose:
//! - [`integration_events`]: an event becomes its endpoints' pending deliveries;
//! - [`tenant_streams`]: with an integrator plane configured, an event goes into its tenant's
//!   stream there.
//!
//! [`events::STREAMS`]: crate::events::STREAMS

pub mod integration_events;
pub mod tenant_streams;
