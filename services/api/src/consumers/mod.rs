//! The api's durable consumers, one module each.

pub mod audit;
pub mod session_started;
