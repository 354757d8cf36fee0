//! The intent's state and the values it is made of.

use chrono::{DateTime, Duration, Utc};
use joule_domain::{AccountId, Currency, SessionId, TenantId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::IntentError;
use crate::ids::{MethodId, RefundId};

/// Who moves the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Deterministic test cards, for demos and tests.
    Sandbox,
    /// Stripe PaymentIntents.
    Stripe,
    /// Joule's own prepaid wallet.
    Wallet,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Sandbox => "sandbox",
            ProviderKind::Stripe => "stripe",
            ProviderKind::Wallet => "wallet",
        }
    }

    /// "card" for a provider's token, "wallet" for the prepaid wallet.
    pub fn kind(self) -> &'static str {
        match self {
            ProviderKind::Wallet => "wallet",
            _ => "card",
        }
    }

    /// The providers a payment method can be saved with (the wallet is created, not saved).
    pub fn parse_external(raw: &str) -> Option<Self> {
        match raw {
            "sandbox" => Some(ProviderKind::Sandbox),
            "stripe" => Some(ProviderKind::Stripe),
            _ => None,
        }
    }
}

/// What the money is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A charging session: captured against the session's receivable.
    Session,
    /// A card payment that funds a prepaid wallet.
    WalletTopUp,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Session => "session",
            Purpose::WalletTopUp => "wallet_top_up",
        }
    }
}

/// Who pays, with what, for what. Fixed when the intent opens; carried on every outcome event so the
/// integration messages need nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentContext {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub session_id: Option<SessionId>,
    pub order_id: Option<String>,
    pub purpose: Purpose,
    pub provider: ProviderKind,
    pub method_id: MethodId,
    /// The provider's token of the method (`pm_...`, `tok_sandbox_ok`, a wallet id).
    pub token: String,
    /// The provider's customer the token belongs to (Stripe `cus_...`; the account id elsewhere).
    pub customer: String,
    pub currency: Currency,
}

/// One authorisation at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub reference: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Opened; the authorisation is under way.
    Pending,
    Authorized,
    Captured,
    PartiallyRefunded,
    Refunded,
    Voided,
    Failed,
    /// Capturing failed for good; the amount is owed and collected by dunning.
    Dunning,
}

impl Status {
    pub const ALL: &'static [Status] = &[
        Status::Pending,
        Status::Authorized,
        Status::Captured,
        Status::PartiallyRefunded,
        Status::Refunded,
        Status::Voided,
        Status::Failed,
        Status::Dunning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Authorized => "authorized",
            Status::Captured => "captured",
            Status::PartiallyRefunded => "partially_refunded",
            Status::Refunded => "refunded",
            Status::Voided => "voided",
            Status::Failed => "failed",
            Status::Dunning => "dunning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidReason {
    /// The session was priced at zero.
    ZeroAmount,
    /// Asked for through the API.
    Requested,
    /// The provider cancelled it (observed).
    Provider,
    /// Capturing failed for good; the holds are let go and the amount is collected by dunning.
    Dunning,
}

impl VoidReason {
    pub fn as_str(self) -> &'static str {
        match self {
            VoidReason::ZeroAmount => "zero_amount",
            VoidReason::Requested => "requested",
            VoidReason::Provider => "provider",
            VoidReason::Dunning => "dunning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionMode {
    /// The same hold was raised (incremental authorisation).
    Incremental,
    /// A second hold was placed for the difference.
    SecondHold,
}

impl ExtensionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExtensionMode::Incremental => "incremental",
            ExtensionMode::SecondHold => "second_hold",
        }
    }
}

/// An operation asked of the provider whose answer is not recorded yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingOp {
    Authorize {
        attempt: u32,
        amount: Decimal,
    },
    Extend {
        attempt: u32,
        new_total: Decimal,
    },
    Capture {
        attempt: u32,
        amount: Decimal,
    },
    Void {
        attempt: u32,
        reason: VoidReason,
    },
    Refund {
        refund_id: RefundId,
        amount: Decimal,
    },
}

impl PendingOp {
    pub fn name(&self) -> &'static str {
        match self {
            PendingOp::Authorize { .. } => "authorize",
            PendingOp::Extend { .. } => "extend",
            PendingOp::Capture { .. } => "capture",
            PendingOp::Void { .. } => "void",
            PendingOp::Refund { .. } => "refund",
        }
    }
}

/// A provider's refusal, with its own code kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decline {
    pub code: String,
    pub message: String,
}

impl Decline {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Joule's reason for a hold that could not be raised, from the provider's code.
    pub fn exhausted_reason(&self) -> &'static str {
        match self.code.as_str() {
            "insufficient_funds" => "insufficient_funds",
            "not_supported" | "incremental_authorization_unsupported" => "not_supported",
            "timeout" | "provider_unavailable" => "provider_unavailable",
            "expired_card" => "expired_card",
            "authentication_required" => "authentication_required",
            "amount_too_large" => "amount_too_large",
            _ => "declined",
        }
    }
}

/// How failed captures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all before dunning.
    pub max_attempts: u32,
    /// Delay before the second attempt; it doubles for each further one.
    pub first_delay: Duration,
}

/// A refund of the intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub refund_id: RefundId,
    pub amount: Decimal,
    pub reason: String,
    pub succeeded: Option<bool>,
    pub code: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub context: Option<IntentContext>,
    pub status: Option<Status>,
    pub holds: Vec<Hold>,
    /// The first hold can be raised by incremental authorisation.
    pub incremental: bool,
    pub captured: Decimal,
    pub refunded: Decimal,
    pub uncollected: Decimal,
    pub pending: Option<PendingOp>,
    pub authorize_attempts: u32,
    pub extend_attempts: u32,
    pub capture_attempts: u32,
    pub void_attempts: u32,
    /// What a capture takes (kept for retries).
    pub capture_amount: Option<Decimal>,
    pub next_capture_at: Option<DateTime<Utc>>,
    pub refunds: Vec<RefundRecord>,
    pub failure: Option<Decline>,
    /// The amount first asked to hold: the least step by which the hold follows the running cost.
    pub opened_amount: Decimal,
    /// The last extension failed (`HoldExhausted`) and none succeeded since.
    pub exhausted: bool,
    /// The charger took the stop command asked because the hold is exhausted.
    pub stop_delivered: bool,
}

impl PaymentIntent {
    pub fn authorized(&self) -> Decimal {
        // Each hold was checked when it was added (`record_extension`); saturating, not panicking,
        // for events an older version recorded.
        self.holds
            .iter()
            .fold(Decimal::ZERO, |sum, h| sum.saturating_add(h.amount))
    }

    pub fn status(&self) -> Option<Status> {
        self.status
    }

    pub(super) fn context(&self) -> Result<&IntentContext, IntentError> {
        self.context.as_ref().ok_or(IntentError::NotFound)
    }

    pub(super) fn state_error(&self, action: &'static str) -> IntentError {
        IntentError::InvalidState {
            status: self.status.map_or("unknown", Status::as_str).to_owned(),
            action,
        }
    }

    pub(super) fn check_currency(&self, currency: Currency) -> Result<(), IntentError> {
        let expected = self.context()?.currency;
        if expected == currency {
            Ok(())
        } else {
            Err(IntentError::CurrencyMismatch {
                expected,
                got: currency,
            })
        }
    }

    pub(super) fn busy(&self) -> Result<(), IntentError> {
        match &self.pending {
            Some(op) => Err(IntentError::InProgress(op.name())),
            None => Ok(()),
        }
    }

    pub(super) fn status_after_refund(&self) -> Status {
        if self.refunded >= self.captured {
            Status::Refunded
        } else {
            Status::PartiallyRefunded
        }
    }

    /// The amount of refund `refund_id`, while it is the operation under way.
    pub(super) fn pending_refund(&self, refund_id: RefundId) -> Option<Decimal> {
        match &self.pending {
            Some(PendingOp::Refund {
                refund_id: pending,
                amount,
            }) if *pending == refund_id => Some(*amount),
            _ => None,
        }
    }

    pub(super) fn pending_amount(&self) -> Decimal {
        match &self.pending {
            Some(PendingOp::Authorize { amount, .. }) => *amount,
            _ => Decimal::ZERO,
        }
    }
}
