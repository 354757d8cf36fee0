//! The JournalEntry aggregate: one balanced double-entry posting, recorded once. It refuses entries
//! that would break the books (unbalanced, negative, empty, finer than the currency's minor unit) and
//! ignores a second post of the same entry, so a redelivered source cannot count twice.

mod commands;
mod events;
#[cfg(test)]
mod tests;

use joule_domain::Currency;
use joule_store::Decider;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use commands::{JournalCommand, PostEntry};
pub use events::{JournalEvent, Party, PostedEntry, Posting, Source, TransactionKind, UPCASTERS};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("postings: a journal entry needs at least one posting")]
    Empty,
    #[error("postings[{line}].account must not be blank")]
    BlankAccount { line: usize },
    #[error("postings[{line}] ({account}): amounts must not be negative")]
    Negative { line: usize, account: String },
    #[error("postings[{line}] ({account}) has neither a debit nor a credit")]
    NoAmount { line: usize, account: String },
    #[error("postings[{line}] ({account}) has both a debit and a credit; post them as two lines")]
    BothSides { line: usize, account: String },
    #[error("postings[{line}] ({account}): amounts must be in whole minor units of {currency}")]
    FinerThanMinorUnit {
        line: usize,
        account: String,
        currency: Currency,
    },
    #[error("postings: debits {debits} do not equal credits {credits}")]
    Unbalanced { debits: Decimal, credits: Decimal },
    #[error("source.source_type and source.source_id must not be empty")]
    NoSource,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    posted: bool,
}

impl JournalEntry {
    pub fn is_posted(&self) -> bool {
        self.posted
    }
}

/// The rules every entry obeys, whatever its source.
pub fn check(entry: &PostEntry) -> Result<(), JournalError> {
    if entry.source.source_type.is_empty() || entry.source.source_id.is_empty() {
        return Err(JournalError::NoSource);
    }
    if entry.postings.is_empty() {
        return Err(JournalError::Empty);
    }
    let minor_units = entry.currency.minor_units();
    for (line, p) in entry.postings.iter().enumerate() {
        let account = || p.account.clone();
        if p.account.trim().is_empty() {
            return Err(JournalError::BlankAccount { line });
        }
        if p.debit < Decimal::ZERO || p.credit < Decimal::ZERO {
            return Err(JournalError::Negative {
                line,
                account: account(),
            });
        }
        match (p.debit.is_zero(), p.credit.is_zero()) {
            (true, true) => {
                return Err(JournalError::NoAmount {
                    line,
                    account: account(),
                });
            }
            (false, false) => {
                return Err(JournalError::BothSides {
                    line,
                    account: account(),
                });
            }
            _ => {}
        }
        if p.debit.normalize().scale() > minor_units || p.credit.normalize().scale() > minor_units {
            return Err(JournalError::FinerThanMinorUnit {
                line,
                account: account(),
                currency: entry.currency,
            });
        }
    }
    let debits: Decimal = entry.postings.iter().map(|p| p.debit).sum();
    let credits: Decimal = entry.postings.iter().map(|p| p.credit).sum();
    if debits != credits {
        return Err(JournalError::Unbalanced { debits, credits });
    }
    Ok(())
}

impl Decider for JournalEntry {
    const TYPE: &'static str = "JournalEntry";
    type Command = JournalCommand;
    type Event = JournalEvent;
    type Error = JournalError;

    fn decide(&self, command: JournalCommand) -> Result<Vec<JournalEvent>, JournalError> {
        let JournalCommand::Post(entry) = command;
        if self.posted {
            return Ok(vec![]);
        }
        check(&entry)?;
        let posted = PostedEntry {
            postings: entry.postings,
            source: entry.source,
            currency: entry.currency,
            description: entry.description,
            posted_at: entry.posted_at,
            party: entry.party,
        };
        Ok(vec![JournalEvent::JournalEntryPosted(posted)])
    }

    fn evolve(&mut self, event: JournalEvent) {
        match event {
            JournalEvent::JournalEntryPosted(_) => self.posted = true,
        }
    }
}
