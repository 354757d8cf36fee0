//! The webhooks service's durable consumers: one per stream it reads ([`events::STREAMS`]), all
//! through the one [`integration_events::EventHandler`].
//!
//! [`events::STREAMS`]: crate::events::STREAMS

pub mod integration_events;
