//! The payments service's typed ids. Derived ids make every handler idempotent: a session's intent, an
//! account's method book and an account's wallet in a currency always get the same id.

use joule_domain::{AccountId, Currency, SessionId};
use uuid::Uuid;

/// Namespace of the payments service's derived ids (UUID v5).
const PAYMENTS_NAMESPACE: Uuid = Uuid::from_u128(0x6a6f_756c_6550_4000_8000_7061_796d_6e74);

joule_domain::uuid_id!(
    /// A payment intent: the money movements of one charging session or one order.
    IntentId,
    "payment intent",
    PAYMENTS_NAMESPACE
);
joule_domain::uuid_id!(
    /// A saved payment method.
    MethodId,
    "payment method",
    PAYMENTS_NAMESPACE
);
joule_domain::uuid_id!(
    /// A prepaid wallet of an account in one currency.
    WalletId,
    "wallet",
    PAYMENTS_NAMESPACE
);
joule_domain::uuid_id!(
    /// A refund of a payment intent.
    RefundId,
    "refund",
    PAYMENTS_NAMESPACE
);
joule_domain::uuid_id!(
    /// A line of a provider's settlement report.
    SettlementLineId,
    "settlement line",
    PAYMENTS_NAMESPACE
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
