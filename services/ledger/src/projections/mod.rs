//! What the ledger's committed events become: the `postings` and `balances` read tables
//! ([`balances`]; the general ledger's reads in [`postings`]), customers' `account_transactions` ([`transactions`]) and `JournalEntryPosted`
//! messages, all from the relay's [`outbox`] handler.

pub mod balances;
pub mod outbox;
pub mod postings;
pub mod statements;
pub mod transactions;
