//! What the ledger's committed events become: the `postings` and `balances` read tables
//! ([`balances`]) and `JournalEntryPosted` messages, both from the relay's [`outbox`] handler.

pub mod balances;
pub mod outbox;
