//! The wallet's events, as stored, and the upcaster of the top-up's shape before 2.0 (ADR 030).

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{AccountId, Currency, Money, TenantId};
use joule_store::Upcaster;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Funding;
use crate::domain::in_variant;
use crate::domain::wrap_money;
use crate::ids::IntentId;

/// Wallet events carry the balance and the held amount after them, for the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalletEvent {
    WalletOpened {
        tenant_id: TenantId,
        account_id: AccountId,
        currency: Currency,
        at: DateTime<Utc>,
    },
    /// 2.0: the amount, balance and held amount are `Money` (1.0: decimals beside `currency`).
    WalletToppedUp {
        account_id: AccountId,
        top_up_id: String,
        amount: Money,
        funding: Funding,
        reference: String,
        intent_id: Option<IntentId>,
        balance: Money,
        held: Money,
        at: DateTime<Utc>,
    },
    WalletHoldPlaced {
        hold_id: String,
        amount: Decimal,
        balance: Decimal,
        held: Decimal,
        at: DateTime<Utc>,
    },
    WalletHoldRaised {
        hold_id: String,
        added: Decimal,
        balance: Decimal,
        held: Decimal,
        at: DateTime<Utc>,
    },
    WalletHoldCaptured {
        hold_id: String,
        amount: Decimal,
        released: Decimal,
        balance: Decimal,
        held: Decimal,
        at: DateTime<Utc>,
    },
    WalletHoldReleased {
        hold_id: String,
        released: Decimal,
        balance: Decimal,
        held: Decimal,
        at: DateTime<Utc>,
    },
    WalletRefunded {
        refund_id: String,
        amount: Decimal,
        balance: Decimal,
        held: Decimal,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for WalletEvent {
    fn event_type(&self) -> String {
        match self {
            WalletEvent::WalletOpened { .. } => "WalletOpened",
            WalletEvent::WalletToppedUp { .. } => "WalletToppedUp",
            WalletEvent::WalletHoldPlaced { .. } => "WalletHoldPlaced",
            WalletEvent::WalletHoldRaised { .. } => "WalletHoldRaised",
            WalletEvent::WalletHoldCaptured { .. } => "WalletHoldCaptured",
            WalletEvent::WalletHoldReleased { .. } => "WalletHoldReleased",
            WalletEvent::WalletRefunded { .. } => "WalletRefunded",
        }
        .into()
    }

    fn event_version(&self) -> String {
        match self {
            WalletEvent::WalletToppedUp { .. } => "2.0",
            _ => "1.0",
        }
        .into()
    }
}

impl WalletEvent {
    /// The wallet's balance and held amount after the event, and its time (`None` for the opening).
    pub fn after(&self) -> Option<(Decimal, Decimal, DateTime<Utc>)> {
        match self {
            WalletEvent::WalletOpened { .. } => None,
            WalletEvent::WalletToppedUp {
                balance, held, at, ..
            } => Some((balance.amount, held.amount, *at)),
            WalletEvent::WalletHoldPlaced {
                balance, held, at, ..
            }
            | WalletEvent::WalletHoldRaised {
                balance, held, at, ..
            }
            | WalletEvent::WalletHoldCaptured {
                balance, held, at, ..
            }
            | WalletEvent::WalletHoldReleased {
                balance, held, at, ..
            }
            | WalletEvent::WalletRefunded {
                balance, held, at, ..
            } => Some((*balance, *held, *at)),
        }
    }
}

/// 1.0 -> 2.0 of `WalletToppedUp`: its decimals beside `currency` become `Money` in it. (The other
/// events carry bare amounts: the wallet's currency is the one it was opened in.)
pub const UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "WalletToppedUp",
    version: "2.0",
    upcast: |p| {
        in_variant(p, |o| {
            if let Some(currency) = o.remove("currency") {
                wrap_money(o, &["amount", "balance", "held"], &currency);
            }
        })
    },
}];
