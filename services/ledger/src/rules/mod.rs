//! Posting rules, with no I/O: which journal entry a business event becomes, and the chart of
//! accounts they post to. The journal only checks that an entry balances; what it means is decided
//! here, one module per kind of source.

pub mod adjustments;
pub mod chart;
pub mod invoices;
pub mod payments;

use rust_decimal::Decimal;

use crate::domain::journal::{Party, TransactionKind};

pub use adjustments::{adjustment_entry, entry_id_for_adjustment};
pub use invoices::{entry_id_for_invoice, invoice_entry};
pub use payments::payment_entry;

pub const ACCOUNTS_RECEIVABLE: &str = "accounts_receivable";
pub const ACCOUNTS_RECEIVABLE_DUNNING: &str = "accounts_receivable_dunning";
pub const REVENUE_CHARGING: &str = "revenue_charging";
pub const VAT_PAYABLE: &str = "vat_payable";
/// Memo accounts of payment holds: they net to zero once every hold is captured or released.
pub const PAYMENT_HOLDS: &str = "payment_holds";
pub const PAYMENT_HOLDS_CONTRA: &str = "payment_holds_contra";
pub const CASH_CLEARING: &str = "cash_clearing";
pub const WALLET_LIABILITY: &str = "wallet_liability";
/// Contra revenue.
pub const REFUNDS: &str = "refunds";
pub const PROCESSOR_FEES: &str = "processor_fees";
pub const BANK: &str = "bank";

/// `Source::source_type` of each kind of entry.
pub const SOURCE_INVOICE: &str = "invoice";
pub const SOURCE_ADJUSTMENT: &str = "adjustment";
pub const SOURCE_PAYMENT: &str = "payment";
pub const SOURCE_WALLET: &str = "wallet";
pub const SOURCE_SETTLEMENT: &str = "settlement";

/// The customer side of an entry: `account_id` and `session_id` as the message gives them (empty:
/// none), so an entry of a message without an account is no customer's transaction.
pub fn party(
    account_id: &str,
    kind: TransactionKind,
    amount: Decimal,
    session_id: &str,
) -> Result<Option<Party>, FieldError> {
    if account_id.is_empty() {
        return Ok(None);
    }
    let account_id = account_id
        .parse()
        .map_err(|e: joule_domain::IdError| FieldError {
            field: "account_id",
            reason: e.to_string(),
        })?;
    let session_id = match session_id {
        "" => None,
        s => Some(s.parse().map_err(|e: joule_domain::IdError| FieldError {
            field: "session_id",
            reason: e.to_string(),
        })?),
    };
    Ok(Some(Party {
        account_id,
        kind,
        amount: amount.abs(),
        session_id,
    }))
}

/// A message that breaks its contract, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}
