//! The ledger's proto mapping, in one place: amounts padded to their currency's minor unit, a
//! posted entry as `JournalEntryPosted`, the trial balance as `joule.v1.TrialBalance`, a customer's
//! transaction as `joule.v1.Transaction`.

use joule_domain::JournalEntryId;
use joule_proto::v1;
use rust_decimal::Decimal;

use crate::domain::journal::PostedEntry;
use crate::projections::balances::{self, TrialBalance};
use crate::projections::postings::PostingRow;
use crate::projections::statements::Statement;
use crate::projections::transactions::TransactionRow;

/// A ledger amount on the wire, padded to the currency's minor unit; never changes a value.
pub fn amount(amount: Decimal, minor_units: u32) -> String {
    let mut padded = amount;
    if padded.scale() < minor_units {
        padded.rescale(minor_units);
    }
    padded.to_string()
}

pub fn journal_entry_posted(id: JournalEntryId, entry: &PostedEntry) -> v1::JournalEntryPosted {
    let minor = entry.currency.minor_units();
    let party = entry.party.as_ref();
    v1::JournalEntryPosted {
        entry_id: id.to_string(),
        source_type: entry.source.source_type.clone(),
        source_id: entry.source.source_id.clone(),
        currency: entry.currency.to_string(),
        postings: entry
            .postings
            .iter()
            .map(|p| v1::Posting {
                account: p.account.clone(),
                debit: amount(p.debit, minor),
                credit: amount(p.credit, minor),
            })
            .collect(),
        posted_at: Some(joule_proto::time::to_proto(entry.posted_at)),
        description: entry.description.clone(),
        account_id: party.map(|p| p.account_id.to_string()).unwrap_or_default(),
        transaction_type: party.map(|p| p.kind.as_str().into()).unwrap_or_default(),
    }
}

/// A stored transaction on the wire.
pub fn posting(row: PostingRow) -> v1::LedgerPosting {
    let minor = balances::minor_units(&row.currency);
    v1::LedgerPosting {
        entry_id: row.entry_id.to_string(),
        line: u32::try_from(row.line).unwrap_or_default(),
        account: row.account,
        debit: amount(row.debit, minor),
        credit: amount(row.credit, minor),
        currency: row.currency,
        posted_at: Some(joule_proto::time::to_proto(row.posted_at)),
        source_type: row.source_type,
        source_id: row.source_id,
    }
}

pub fn statement(account: joule_domain::AccountId, statement: Statement) -> v1::AccountStatement {
    v1::AccountStatement {
        account_id: account.to_string(),
        balances: statement
            .balances
            .into_iter()
            .map(|(currency, (opening, closing))| {
                let minor = balances::minor_units(&currency);
                v1::StatementBalance {
                    opening: amount(opening, minor),
                    closing: amount(closing, minor),
                    currency,
                }
            })
            .collect(),
        lines: statement
            .lines
            .into_iter()
            .map(|line| {
                let minor = balances::minor_units(&line.currency);
                let (debit, credit) = if line.net.is_sign_negative() {
                    (Decimal::ZERO, line.net.abs())
                } else {
                    (line.net, Decimal::ZERO)
                };
                v1::StatementLine {
                    entry_id: line.entry_id.to_string(),
                    posted_at: Some(joule_proto::time::to_proto(line.posted_at)),
                    r#type: line.kind,
                    source_type: line.source_type,
                    source_id: line.source_id,
                    description: line.description,
                    debit: amount(debit, minor),
                    credit: amount(credit, minor),
                    balance: amount(line.balance, minor),
                    currency: line.currency,
                }
            })
            .collect(),
    }
}

pub fn transaction(row: TransactionRow) -> v1::Transaction {
    let minor = balances::minor_units(&row.currency);
    v1::Transaction {
        id: row.entry_id.to_string(),
        account_id: row.account_id.to_string(),
        r#type: row.kind,
        amount: amount(row.amount, minor),
        currency: row.currency,
        source_type: row.source_type,
        source_id: row.source_id,
        session_id: row.session_id.map(|s| s.to_string()).unwrap_or_default(),
        description: row.description,
        occurred_at: Some(joule_proto::time::to_proto(row.occurred_at)),
    }
}

pub fn trial_balance(balance: TrialBalance) -> v1::TrialBalance {
    v1::TrialBalance {
        rows: balance
            .rows
            .into_iter()
            .map(|row| {
                let minor = balances::minor_units(&row.currency);
                v1::TrialBalanceRow {
                    balance: amount(row.balance, minor),
                    debit: amount(row.debit, minor),
                    credit: amount(row.credit, minor),
                    account: row.account,
                    currency: row.currency,
                }
            })
            .collect(),
        total_debit: amount(balance.total_debit, balance.minor_units),
        total_credit: amount(balance.total_credit, balance.minor_units),
    }
}
