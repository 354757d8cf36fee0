//! What the journal records: `JournalEntryPosted`, version 1.1 (1.0 had no `party`; [`UPCASTERS`]
//! writes `party: null` into it).

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{AccountId, Currency, SessionId};
use joule_store::Upcaster;
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

/// What a customer's entry is to that customer: one line of the account's transactions
/// (`GET /v1/transactions`). Entries that concern no customer (holds, fees, payouts) have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub account_id: AccountId,
    pub kind: TransactionKind,
    /// The amount the transaction moves, in the entry's currency; never negative.
    pub amount: Decimal,
    /// The charging session it belongs to, when it belongs to one.
    pub session_id: Option<SessionId>,
}

/// The kinds of a customer's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// An invoice or receipt for charging.
    Charge,
    /// An adjustment that lowers what was charged.
    CreditNote,
    /// An adjustment that raises it.
    DebitNote,
    /// A card (or other provider) payment captured.
    Payment,
    /// A charge paid from the account's wallet.
    WalletPayment,
    /// Money given back.
    Refund,
    /// Funds added to the account's wallet.
    WalletTopUp,
}

impl TransactionKind {
    pub const ALL: &'static [TransactionKind] = &[
        TransactionKind::Charge,
        TransactionKind::CreditNote,
        TransactionKind::DebitNote,
        TransactionKind::Payment,
        TransactionKind::WalletPayment,
        TransactionKind::Refund,
        TransactionKind::WalletTopUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Charge => "charge",
            TransactionKind::CreditNote => "credit_note",
            TransactionKind::DebitNote => "debit_note",
            TransactionKind::Payment => "payment",
            TransactionKind::WalletPayment => "wallet_payment",
            TransactionKind::Refund => "refund",
            TransactionKind::WalletTopUp => "wallet_top_up",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == name)
    }
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
    /// The customer account it is a transaction of (1.1).
    pub party: Option<Party>,
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
        match self {
            JournalEvent::JournalEntryPosted(_) => "1.1".into(),
        }
    }
}

/// 1.0 → 1.1: an entry posted before parties were recorded concerns no known customer.
pub const UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "JournalEntryPosted",
    version: "1.1",
    upcast: |mut payload| {
        if let Some(entry) = payload
            .get_mut("JournalEntryPosted")
            .and_then(|e| e.as_object_mut())
        {
            entry.entry("party").or_insert(serde_json::Value::Null);
        }
        payload
    },
}];
