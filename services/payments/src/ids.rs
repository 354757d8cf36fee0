//! The payments service's typed ids. Derived ids make every handler idempotent: a session's intent, an
//! account's method book and an account's wallet in a currency always get the same id.

use std::fmt;
use std::str::FromStr;

use joule_domain::{AccountId, Currency, SessionId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace of the payments service's derived ids (UUID v5).
const PAYMENTS_NAMESPACE: Uuid = Uuid::from_u128(0x6a6f_756c_6550_4000_8000_7061_796d_6e74);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: String,
}

macro_rules! payment_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// The id a business key always maps to.
            pub fn derived(key: &str) -> Self {
                Self(Uuid::new_v5(&PAYMENTS_NAMESPACE, format!("{}:{}", $kind, key).as_bytes()))
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|e| IdError { kind: $kind, reason: e.to_string() })
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }
    };
}

payment_id!(
    /// A payment intent: the money movements of one charging session or one order.
    IntentId,
    "payment intent"
);
payment_id!(
    /// A saved payment method.
    MethodId,
    "payment method"
);
payment_id!(
    /// A prepaid wallet of an account in one currency.
    WalletId,
    "wallet"
);
payment_id!(
    /// A refund of a payment intent.
    RefundId,
    "refund"
);
payment_id!(
    /// A line of a provider's settlement report.
    SettlementLineId,
    "settlement line"
);

impl IntentId {
    /// The intent of a charging session: one per session, whoever asks first (the gateway at start,
    /// or the SESSION consumer).
    pub fn for_session(session: SessionId) -> Self {
        Self::derived(&format!("session/{session}"))
    }
}

impl WalletId {
    /// One wallet per account and currency.
    pub fn for_account(account: AccountId, currency: Currency) -> Self {
        Self::derived(&format!("{account}/{currency}"))
    }
}

impl MethodId {
    /// A provider token saved for an account is one method, however often it is saved.
    pub fn for_token(account: AccountId, provider: &str, token: &str) -> Self {
        Self::derived(&format!("{account}/{provider}/{token}"))
    }
}

impl SettlementLineId {
    pub fn for_transaction(provider: &str, transaction_id: &str) -> Self {
        Self::derived(&format!("{provider}/{transaction_id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_always_has_the_same_intent() {
        let s = SessionId::derived("default/CP-1/7");
        assert_eq!(IntentId::for_session(s), IntentId::for_session(s));
        assert_ne!(
            IntentId::for_session(s),
            IntentId::for_session(SessionId::derived("default/CP-1/8"))
        );
        assert!("nope".parse::<IntentId>().is_err());
    }
}
