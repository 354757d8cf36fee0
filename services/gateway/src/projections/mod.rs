//! The gateway's read tables, kept by its consumers and read while answering chargers.
//!
//! - [`registry`]: the projection of REGISTRY (chargers, password hashes, tokens), written by
//!   [`crate::consumers::registry`].
//! - [`cache`]: this replica's in-memory copy of it.

pub mod cache;
pub mod registry;
