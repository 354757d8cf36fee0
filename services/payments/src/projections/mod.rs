//! The read side: [`outbox`] (the relay's handler: the read tables, updated in the relay's
//! transaction, and the PAYMENT stream's messages) and one module per read model, with the
//! projection that writes it and the queries the gRPC layer answers from.

pub mod intents;
pub mod methods;
pub mod outbox;
pub mod settlements;
pub mod wallets;

use chrono::{DateTime, Utc};
use joule_domain::Currency;
use joule_store::{ProjectionError, StoredEvent};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::wire;

/// A page of a list ordered by each row's place in it (`seq`, a wallet line's `sequence`).
pub use joule_store::Page;

/// The event's aggregate id, a UUID in every payments aggregate.
fn aggregate_uuid(stored: &StoredEvent) -> Result<Uuid, ProjectionError> {
    Uuid::parse_str(&stored.aggregate_id).map_err(|e| ProjectionError::decode(stored, e))
}

fn ts(t: Option<DateTime<Utc>>) -> Option<joule_proto::Timestamp> {
    t.map(joule_proto::time::to_proto)
}

fn money(row: &PgRow, column: &str, currency: Option<Currency>) -> String {
    amount_text(row.get(column), currency)
}

/// An amount as the wire shows it: at the currency's scale when the currency is known.
fn amount_text(amount: Decimal, currency: Option<Currency>) -> String {
    match currency {
        Some(c) => wire::amount(amount, c),
        None => amount.normalize().to_string(),
    }
}
