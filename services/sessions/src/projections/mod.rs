//! What the relay does with the session events ([`outbox`]), and the read models the gRPC API
//! answers from ([`session_view`], [`signed_values`]).

pub mod outbox;
pub mod session_view;
pub mod signed_values;
