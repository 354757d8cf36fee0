//! The Wallet aggregate: an account's prepaid balance in one currency. Top-ups add to the balance;
//! holds set part of it aside for a running session; a capture takes from a hold and releases the
//! rest; a refund gives back to the balance. Every operation names itself (top-up, hold or refund id),
//! so a repeated command changes nothing, and the wallet never holds more than it has.

mod events;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, Currency, Money, TenantId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::IntentId;

pub use events::{UPCASTERS, WalletEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Funding {
    /// Received outside Joule (bank transfer, cash desk), recorded by the operator.
    External,
    /// A card payment captured by a payment intent.
    Card,
}

impl Funding {
    pub fn as_str(self) -> &'static str {
        match self {
            Funding::External => "external",
            Funding::Card => "card",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletCommand {
    Open {
        tenant_id: TenantId,
        account_id: AccountId,
        currency: Currency,
        at: DateTime<Utc>,
    },
    TopUp {
        top_up_id: String,
        amount: Decimal,
        funding: Funding,
        reference: String,
        intent_id: Option<IntentId>,
        at: DateTime<Utc>,
    },
    PlaceHold {
        hold_id: String,
        amount: Decimal,
        at: DateTime<Utc>,
    },
    RaiseHold {
        hold_id: String,
        new_amount: Decimal,
        at: DateTime<Utc>,
    },
    CaptureHold {
        hold_id: String,
        amount: Decimal,
        at: DateTime<Utc>,
    },
    ReleaseHold {
        hold_id: String,
        at: DateTime<Utc>,
    },
    Refund {
        refund_id: String,
        amount: Decimal,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    #[error("no such wallet")]
    NotFound,
    #[error("the account already has a wallet in {0}")]
    OpenedDifferently(Currency),
    #[error("amount: must be greater than zero")]
    NotPositive,
    #[error("insufficient_funds: the wallet has {available} available, {requested} was asked for")]
    InsufficientFunds {
        available: Decimal,
        requested: Decimal,
    },
    #[error("no hold {0} on this wallet")]
    UnknownHold(String),
    #[error("amount: {requested} is more than the {held} held")]
    AboveHold { requested: Decimal, held: Decimal },
    /// A sum beyond `Decimal`'s range: amounts are bounded at the edge, so only a value that slipped
    /// past gets here; it is refused, never a panic.
    #[error("amount: the wallet's balance would be out of range")]
    OutOfRange,
}

fn in_range(value: Option<Decimal>) -> Result<Decimal, WalletError> {
    value.ok_or(WalletError::OutOfRange)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    /// The tenant the wallet belongs to: a caller of another tenant never sees it.
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    pub account_id: Option<AccountId>,
    pub currency: Option<Currency>,
    pub balance: Decimal,
    pub holds: BTreeMap<String, Decimal>,
    /// Every top-up, closed hold and refund id seen, so a repeat is recognised.
    pub done: BTreeSet<String>,
}

impl Wallet {
    pub fn held(&self) -> Decimal {
        // Each hold is at most the balance it was placed on (`decide`).
        self.holds
            .values()
            .fold(Decimal::ZERO, |sum, h| sum.saturating_add(*h))
    }

    pub fn available(&self) -> Decimal {
        // Holds are at most the balance (`decide`): both within range, never far apart.
        self.balance.saturating_sub(self.held())
    }

    /// What hold `hold_id` sets aside.
    fn hold(&self, hold_id: &str) -> Result<Decimal, WalletError> {
        self.holds
            .get(hold_id)
            .copied()
            .ok_or_else(|| WalletError::UnknownHold(hold_id.to_owned()))
    }

    /// What the wallet holds once `requested` more is set aside: it never holds more than it has.
    fn set_aside(&self, requested: Decimal) -> Result<Decimal, WalletError> {
        let available = self.available();
        if requested > available {
            return Err(WalletError::InsufficientFunds {
                available,
                requested,
            });
        }
        in_range(self.held().checked_add(requested))
    }

    fn opened(&self) -> Result<(AccountId, Currency), WalletError> {
        match (self.account_id, self.currency) {
            (Some(a), Some(c)) => Ok((a, c)),
            _ => Err(WalletError::NotFound),
        }
    }

    fn decide(&self, command: WalletCommand) -> Result<Vec<WalletEvent>, WalletError> {
        if let WalletCommand::Open {
            tenant_id,
            account_id,
            currency,
            at,
        } = command
        {
            return match self.currency {
                _ if self.tenant_id.as_ref().is_some_and(|t| *t != tenant_id) => {
                    Err(WalletError::NotFound)
                }
                Some(c) if c == currency => Ok(vec![]),
                Some(c) => Err(WalletError::OpenedDifferently(c)),
                None => Ok(vec![WalletEvent::WalletOpened {
                    tenant_id,
                    account_id,
                    currency,
                    at,
                }]),
            };
        }
        let (account_id, currency) = self.opened()?;
        let held = self.held();
        let event = match command {
            WalletCommand::Open { .. } => return Ok(vec![]),
            WalletCommand::TopUp {
                top_up_id,
                amount,
                funding,
                reference,
                intent_id,
                at,
            } => {
                if self.done.contains(&top_up_id) {
                    return Ok(vec![]);
                }
                if amount <= Decimal::ZERO {
                    return Err(WalletError::NotPositive);
                }
                WalletEvent::WalletToppedUp {
                    account_id,
                    top_up_id,
                    amount: Money::new(amount, currency),
                    funding,
                    reference,
                    intent_id,
                    balance: Money::new(in_range(self.balance.checked_add(amount))?, currency),
                    held: Money::new(held, currency),
                    at,
                }
            }
            WalletCommand::PlaceHold {
                hold_id,
                amount,
                at,
            } => {
                if self.holds.contains_key(&hold_id) || self.done.contains(&hold_id) {
                    return Ok(vec![]);
                }
                if amount <= Decimal::ZERO {
                    return Err(WalletError::NotPositive);
                }
                WalletEvent::WalletHoldPlaced {
                    held: self.set_aside(amount)?,
                    hold_id,
                    amount,
                    balance: self.balance,
                    at,
                }
            }
            WalletCommand::RaiseHold {
                hold_id,
                new_amount,
                at,
            } => {
                let current = self.hold(&hold_id)?;
                if new_amount <= current {
                    return Ok(vec![]);
                }
                // new_amount > current.
                let added = in_range(new_amount.checked_sub(current))?;
                WalletEvent::WalletHoldRaised {
                    held: self.set_aside(added)?,
                    hold_id,
                    added,
                    balance: self.balance,
                    at,
                }
            }
            WalletCommand::CaptureHold {
                hold_id,
                amount,
                at,
            } => {
                if self.done.contains(&hold_id) {
                    return Ok(vec![]);
                }
                let current = self.hold(&hold_id)?;
                if amount > current {
                    return Err(WalletError::AboveHold {
                        requested: amount,
                        held: current,
                    });
                }
                WalletEvent::WalletHoldCaptured {
                    hold_id,
                    amount,
                    released: in_range(current.checked_sub(amount))?,
                    balance: in_range(self.balance.checked_sub(amount))?,
                    held: in_range(held.checked_sub(current))?,
                    at,
                }
            }
            WalletCommand::ReleaseHold { hold_id, at } => {
                let Some(current) = self.holds.get(&hold_id).copied() else {
                    return Ok(vec![]);
                };
                WalletEvent::WalletHoldReleased {
                    hold_id,
                    released: current,
                    balance: self.balance,
                    held: in_range(held.checked_sub(current))?,
                    at,
                }
            }
            WalletCommand::Refund {
                refund_id,
                amount,
                at,
            } => {
                if self.done.contains(&refund_id) {
                    return Ok(vec![]);
                }
                if amount <= Decimal::ZERO {
                    return Err(WalletError::NotPositive);
                }
                WalletEvent::WalletRefunded {
                    refund_id,
                    amount,
                    balance: in_range(self.balance.checked_add(amount))?,
                    held,
                    at,
                }
            }
        };
        Ok(vec![event])
    }
}

aggregate!(Wallet {
    type: "Wallet",
    command: WalletCommand,
    event: WalletEvent,
    error: WalletError,
    upcasters: UPCASTERS,
});

impl Wallet {
    /// The state after `event`.
    fn evolve(&mut self, event: WalletEvent) {
        match event {
            WalletEvent::WalletOpened {
                tenant_id,
                account_id,
                currency,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.account_id = Some(account_id);
                self.currency = Some(currency);
            }
            WalletEvent::WalletToppedUp {
                top_up_id, balance, ..
            } => {
                self.balance = balance.amount;
                self.done.insert(top_up_id);
            }
            WalletEvent::WalletHoldPlaced {
                hold_id, amount, ..
            } => {
                self.holds.insert(hold_id, amount);
            }
            WalletEvent::WalletHoldRaised { hold_id, added, .. } => {
                // `decide` checked the raised total.
                let hold = self.holds.entry(hold_id).or_default();
                *hold = hold.saturating_add(added);
            }
            WalletEvent::WalletHoldCaptured {
                hold_id, balance, ..
            }
            | WalletEvent::WalletHoldReleased {
                hold_id, balance, ..
            } => {
                self.balance = balance;
                self.holds.remove(&hold_id);
                self.done.insert(hold_id);
            }
            WalletEvent::WalletRefunded {
                refund_id, balance, ..
            } => {
                self.balance = balance;
                self.done.insert(refund_id);
            }
        }
    }
}
