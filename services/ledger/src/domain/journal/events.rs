//! What the journal records: `JournalEntryPosted` (version 1.0, the shape it was first stored in).

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One line of an entry: an amount on one side of one ledger account, in the entry's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// Ledger account code, for example `accounts_receivable`.
    pub account: String,
    pub debit: Decimal,
    pub credit: Decimal,
}

impl Posting {
    pub fn debit(account: &str, amount: Decimal) -> Self {
        Self {
            account: account.to_owned(),
            debit: amount,
            credit: Decimal::ZERO,
        }
    }

    pub fn credit(account: &str, amount: Decimal) -> Self {
        Self {
            account: account.to_owned(),
            debit: Decimal::ZERO,
            credit: amount,
        }
    }
}

/// What an entry records, for example `("invoice", <invoice id>)`. The id is the source's own (an
/// invoice, a payment intent, a wallet, a settlement line), so it stays the string the source gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub source_type: String,
    pub source_id: String,
}

/// A posted entry. Its amounts are the postings' debits and credits, all in `currency`: an entry
/// has one currency, which [`super::check`] holds every line to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedEntry {
    pub postings: Vec<Posting>,
    pub source: Source,
    pub currency: Currency,
    pub description: String,
    pub posted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalEvent {
    JournalEntryPosted(PostedEntry),
}

impl DomainEvent for JournalEvent {
    fn event_type(&self) -> String {
        match self {
            JournalEvent::JournalEntryPosted(_) => "JournalEntryPosted".into(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}
