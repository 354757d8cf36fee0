//! OCPP-J, the protocol chargers speak, and what the gateway makes of each message.
//!
//! - [`frame`]: OCPP-J framing and CALLERROR codes; [`payload`]: lenient field reading;
//!   [`error`]: why a CALL was not answered with a CALLRESULT.
//! - [`protocol`]: the versions spoken, chosen by subprotocol; [`v16`] (OCPP 1.6J) and [`v201`]
//!   (OCPP 2.0.1) messages, mapped onto protocol-neutral charger events; [`context`]: what the
//!   handlers share.
//! - [`meter`]: meter sample normalisation (Wh, W, signed values); [`clock`]: charger clock flags.
//! - [`calls`]: commands to chargers as the CALLs of their version.

pub mod calls;
pub mod clock;
pub mod context;
pub mod error;
pub mod frame;
pub mod meter;
pub mod payload;
pub mod protocol;
pub mod v16;
pub mod v201;

#[cfg(test)]
mod hostile;
