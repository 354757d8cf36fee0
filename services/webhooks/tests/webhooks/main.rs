//! The webhooks service against real PostgreSQL and NATS: events published on the streams reach
//! a real HTTP receiver, signed; retries, timeouts, redelivery, rotation, auto-disable and the
//! endpoint API's checks.

mod delivery;
mod endpoints;
mod internal_plane;
mod retention;
mod retries;
mod support;
mod tenant_streams;
