//! The ledger's proto mapping, in one place: amounts padded to their currency's minor unit, a
//! posted entry as `JournalEntryPosted`, the trial balance as `joule.v1.TrialBalance`.

use joule_domain::JournalEntryId;
use joule_proto::v1;
use rust_decimal::Decimal;

use crate::domain::journal::PostedEntry;
use crate::projections::balances::{self, TrialBalance};

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
