//! The ledger's aggregate: [`journal::JournalEntry`], one balanced double-entry posting.

pub mod journal;
