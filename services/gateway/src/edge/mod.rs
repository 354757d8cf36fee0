//! Where chargers meet the gateway: the OCPP-J WebSocket endpoint and one task per connection.
//!
//! - [`server`] and [`tls`]: the endpoint, over plain TCP or TLS, and the upgrade's authentication;
//!   [`credentials`]: password hashes and HTTP Basic auth; [`throttle`]: failed authentications
//!   per id and address.
//! - [`connection`]: one task per charger; [`rate`]: its message rate; [`connectors`]: connector
//!   states kept per connection, stored on change; [`audit`]: the raw frame audit trail.
//!   [`batch`]: the retries of their background writers.

pub mod audit;
pub mod batch;
pub mod connection;
pub mod connectors;
pub mod credentials;
pub mod rate;
pub mod server;
pub mod throttle;
pub mod tls;
