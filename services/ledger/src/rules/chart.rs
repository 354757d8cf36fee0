//! The chart of accounts: every account the posting rules post to, with what it is.

use super::*;

/// What an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Asset,
    Liability,
    Revenue,
    Expense,
    /// Off the balance sheet: payment holds and their contra, which net to zero.
    Memo,
}

/// The side an account's balance normally stands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Debit,
    Credit,
}

#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub code: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    pub normal: Side,
}

const fn account(code: &'static str, name: &'static str, kind: Kind, normal: Side) -> Account {
    Account {
        code,
        name,
        kind,
        normal,
    }
}

pub const CHART: &[Account] = &[
    account(
        ACCOUNTS_RECEIVABLE,
        "Accounts receivable",
        Kind::Asset,
        Side::Debit,
    ),
    account(
        ACCOUNTS_RECEIVABLE_DUNNING,
        "Accounts receivable in dunning",
        Kind::Asset,
        Side::Debit,
    ),
    account(
        CASH_CLEARING,
        "Cash clearing (captured, not yet paid out)",
        Kind::Asset,
        Side::Debit,
    ),
    account(BANK, "Bank", Kind::Asset, Side::Debit),
    account(VAT_PAYABLE, "VAT payable", Kind::Liability, Side::Credit),
    account(
        WALLET_LIABILITY,
        "Customers' wallet balances",
        Kind::Liability,
        Side::Credit,
    ),
    account(
        REVENUE_CHARGING,
        "Charging revenue",
        Kind::Revenue,
        Side::Credit,
    ),
    account(
        REFUNDS,
        "Refunds (contra revenue)",
        Kind::Revenue,
        Side::Debit,
    ),
    account(
        PROCESSOR_FEES,
        "Payment processor fees",
        Kind::Expense,
        Side::Debit,
    ),
    account(
        PAYMENT_HOLDS,
        "Payment holds (memo)",
        Kind::Memo,
        Side::Debit,
    ),
    account(
        PAYMENT_HOLDS_CONTRA,
        "Payment holds, contra (memo)",
        Kind::Memo,
        Side::Credit,
    ),
];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Asset => "asset",
            Kind::Liability => "liability",
            Kind::Revenue => "revenue",
            Kind::Expense => "expense",
            Kind::Memo => "memo",
        }
    }
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Debit => "debit",
            Side::Credit => "credit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_account_the_rules_post_to_is_charted_once() {
        let posted = [
            ACCOUNTS_RECEIVABLE,
            ACCOUNTS_RECEIVABLE_DUNNING,
            REVENUE_CHARGING,
            VAT_PAYABLE,
            PAYMENT_HOLDS,
            PAYMENT_HOLDS_CONTRA,
            CASH_CLEARING,
            WALLET_LIABILITY,
            REFUNDS,
            PROCESSOR_FEES,
            BANK,
        ];
        for code in posted {
            assert_eq!(CHART.iter().filter(|a| a.code == code).count(), 1, "{code}");
        }
        assert_eq!(CHART.len(), posted.len());
    }
}
