//! What the journal is asked to do: post one entry.

use chrono::{DateTime, Utc};
use joule_domain::Currency;

use super::events::{Party, Posting, Source};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalCommand {
    Post(PostEntry),
}

/// An entry to post: its lines, what it records, and the one currency of every amount in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostEntry {
    pub postings: Vec<Posting>,
    pub source: Source,
    pub currency: Currency,
    pub description: String,
    pub posted_at: DateTime<Utc>,
    /// The customer account the entry is a transaction of, if any.
    pub party: Option<Party>,
}
