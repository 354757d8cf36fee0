//! Deliveries: one per (endpoint, event), sent by the [`worker`] until the endpoint answers 2xx or
//! the retry window closes ([`policy`]), each attempt logged ([`store`]) and the log kept for a
//! while ([`retention`]).

pub mod policy;
pub mod retention;
pub mod store;
pub mod worker;

joule_domain::uuid_id!(
    /// One event's delivery to one endpoint, derived from both: an event consumed twice is
    /// delivered once.
    DeliveryId,
    "webhook_delivery"
);

/// A delivery's status as stored and shown.
pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
