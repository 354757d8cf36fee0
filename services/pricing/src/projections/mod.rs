//! Pricing's read models and the relay's handler that keeps them: one module per table family
//! (the gRPC layer, the consumers and re-rating read from them), and [`outbox`], which projects
//! every committed event and maps it to the messages it becomes.

pub mod assignments;
pub mod chargers;
pub mod outbox;
pub mod priced_sessions;
pub mod tariffs;

/// Why a read of pricing's tables failed: the database, or something stored that cannot be read
/// (an event or a JSON column in a shape the code does not know).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot read stored {what}: {reason}")]
    Decode { what: String, reason: String },
}

impl ReadError {
    pub fn decode(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Decode {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
