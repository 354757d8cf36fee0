//! What the ledger's committed events become: the `postings` and `balances` read tables
//! ([`balances`]), customers' `account_transactions` ([`transactions`]) and `JournalEntryPosted`
//! messages, all from the relay's [`outbox`] handler.

pub mod balances;
pub mod outbox;
pub mod transactions;
