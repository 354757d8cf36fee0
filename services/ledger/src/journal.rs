//! The JournalEntry aggregate: one balanced double-entry posting, recorded once. It refuses entries
//! that would break the books (unbalanced, negative, empty, finer than the currency's minor unit) and
//! ignores a second post of the same entry, so a redelivered source cannot count twice.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::{Currency, JournalEntryId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One line of an entry: an amount on one side of one ledger account.
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

/// What an entry records, for example `("invoice", <invoice id>)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub source_type: String,
    pub source_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalCommand {
    Post(PostEntry),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostEntry {
    pub postings: Vec<Posting>,
    pub source: Source,
    pub currency: Currency,
    pub description: String,
    pub posted_at: DateTime<Utc>,
}

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

/// Posts `entry` as journal entry `entry_id`, caused by the message `received` (in its tenant, else
/// `default_tenant`). A transient store error is left for the bus to retry; anything else rejects
/// the message, named by `what` in the error.
pub async fn post_for(
    journal: &postgres_es::PostgresCqrs<JournalEntry>,
    default_tenant: &str,
    received: &joule_bus::Received,
    entry_id: JournalEntryId,
    entry: PostEntry,
    what: &str,
) -> Result<(), joule_bus::HandlerError> {
    use joule_bus::HandlerError;
    let mut meta = joule_store::CommandMeta::caused_by(&received.envelope);
    if meta.tenant_id.is_empty() {
        meta.tenant_id = default_tenant.to_owned();
    }
    match joule_store::execute(
        journal,
        &entry_id.to_string(),
        JournalCommand::Post(entry),
        meta,
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(e) if joule_store::is_transient(&e) => Err(HandlerError::Transient(e.to_string())),
        Err(e) => Err(HandlerError::Rejected(format!("{what}: {e}"))),
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

impl Aggregate for JournalEntry {
    const TYPE: &'static str = "JournalEntry";
    type Command = JournalCommand;
    type Event = JournalEvent;
    type Error = JournalError;
    type Services = ();

    async fn handle(
        &mut self,
        command: JournalCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), JournalError> {
        let JournalCommand::Post(entry) = command;
        if self.posted {
            return Ok(());
        }
        check(&entry)?;
        let posted = PostedEntry {
            postings: entry.postings,
            source: entry.source,
            currency: entry.currency,
            description: entry.description,
            posted_at: entry.posted_at,
        };
        sink.write(JournalEvent::JournalEntryPosted(posted), self)
            .await;
        Ok(())
    }

    fn apply(&mut self, event: JournalEvent) {
        match event {
            JournalEvent::JournalEntryPosted(_) => self.posted = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use rust_decimal_macros::dec;

    type Journal = TestFramework<JournalEntry>;

    fn entry(postings: Vec<Posting>) -> PostEntry {
        PostEntry {
            postings,
            source: Source {
                source_type: "invoice".into(),
                source_id: "inv-1".into(),
            },
            currency: Currency::EUR,
            description: "Invoice 2026-000001".into(),
            posted_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        }
    }

    fn balanced() -> PostEntry {
        entry(vec![
            Posting::debit("accounts_receivable", dec!(11.90)),
            Posting::credit("revenue_charging", dec!(10.00)),
            Posting::credit("vat_payable", dec!(1.90)),
        ])
    }

    fn posted(e: &PostEntry) -> JournalEvent {
        JournalEvent::JournalEntryPosted(PostedEntry {
            postings: e.postings.clone(),
            source: e.source.clone(),
            currency: e.currency,
            description: e.description.clone(),
            posted_at: e.posted_at,
        })
    }

    fn refuses(e: PostEntry, error: JournalError) {
        Journal::with(())
            .given_no_previous_events()
            .when(JournalCommand::Post(e))
            .then_expect_error(error);
    }

    #[test]
    fn a_balanced_entry_is_posted() {
        let e = balanced();
        Journal::with(())
            .given_no_previous_events()
            .when(JournalCommand::Post(e.clone()))
            .then_expect_events(vec![posted(&e)]);
    }

    #[test]
    fn posting_twice_emits_nothing() {
        let e = balanced();
        Journal::with(())
            .given(vec![posted(&e)])
            .when(JournalCommand::Post(e))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_unbalanced_entry_is_refused() {
        refuses(
            entry(vec![
                Posting::debit("accounts_receivable", dec!(11.90)),
                Posting::credit("revenue_charging", dec!(10)),
            ]),
            JournalError::Unbalanced {
                debits: dec!(11.90),
                credits: dec!(10),
            },
        );
    }

    #[test]
    fn an_empty_entry_is_refused() {
        refuses(entry(vec![]), JournalError::Empty);
    }

    #[test]
    fn negative_amounts_are_refused() {
        refuses(
            entry(vec![
                Posting::debit("a", dec!(-1)),
                Posting::credit("b", dec!(-1)),
            ]),
            JournalError::Negative {
                line: 0,
                account: "a".into(),
            },
        );
    }

    #[test]
    fn malformed_lines_are_refused_naming_the_line() {
        refuses(
            entry(vec![
                Posting::debit("a", dec!(1)),
                Posting::credit("b", dec!(1)),
                Posting::debit("c", dec!(0)),
            ]),
            JournalError::NoAmount {
                line: 2,
                account: "c".into(),
            },
        );
        refuses(
            entry(vec![Posting {
                account: "a".into(),
                debit: dec!(1),
                credit: dec!(1),
            }]),
            JournalError::BothSides {
                line: 0,
                account: "a".into(),
            },
        );
        refuses(
            entry(vec![
                Posting::debit(" ", dec!(1)),
                Posting::credit("b", dec!(1)),
            ]),
            JournalError::BlankAccount { line: 0 },
        );
        refuses(
            entry(vec![
                Posting::debit("a", dec!(1.001)),
                Posting::credit("b", dec!(1.001)),
            ]),
            JournalError::FinerThanMinorUnit {
                line: 0,
                account: "a".into(),
                currency: Currency::EUR,
            },
        );
        let mut e = balanced();
        e.source.source_id.clear();
        refuses(e, JournalError::NoSource);
    }

    #[test]
    fn trailing_zeros_are_not_extra_precision() {
        let e = entry(vec![
            Posting::debit("a", dec!(1.2000)),
            Posting::credit("b", dec!(1.20)),
        ]);
        Journal::with(())
            .given_no_previous_events()
            .when(JournalCommand::Post(e.clone()))
            .then_expect_events(vec![posted(&e)]);
    }
}
