//! The wallet's events, as stored.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{AccountId, Currency};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Funding;
use crate::ids::IntentId;

/// Wallet events carry the balance and the held amount after them, for the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalletEvent {
    WalletOpened {
        tenant_id: String,
        account_id: AccountId,
        currency: Currency,
        at: DateTime<Utc>,
    },
    WalletToppedUp {
        account_id: AccountId,
        currency: Currency,
        top_up_id: String,
        amount: Decimal,
        funding: Funding,
        reference: String,
        intent_id: Option<IntentId>,
        balance: Decimal,
        held: Decimal,
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
        "1.0".into()
    }
}
