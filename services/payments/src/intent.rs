//! The PaymentIntent aggregate: the money movements of one charging session (or one order).
//!
//! Provider calls happen outside the aggregate, in two steps around it: a `Request*` command records
//! what is about to be asked (an operation with an attempt number, from which the provider's
//! idempotency key is derived), then the engine calls the provider, then a `Record*` command records
//! the answer. A crash between the call and the record leaves the operation pending; whoever drives the
//! intent next repeats the call with the same key, the provider answers as it did the first time, and
//! the answer is recorded once. So a hold or a capture never happens twice.
//!
//! Rules: only one operation is pending at a time; a capture takes at most what is held and releases
//! the rest (zero voids); a refund never exceeds what was captured and not yet refunded; a failed
//! capture is retried with a doubling delay and then goes to dunning; provider observations (webhooks)
//! only move an intent forward, so they may arrive in any order and more than once.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::{AccountId, Currency, SessionId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
    pub tenant_id: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub reference: String,
    pub amount: Decimal,
    /// The provider can raise this hold later (incremental authorisation).
    pub incremental: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub mode: ExtensionMode,
    pub reference: String,
    pub added: Decimal,
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

/// What a provider says about an intent's money (from a webhook or a lookup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observed {
    Authorized {
        reference: String,
        amount: Decimal,
    },
    Captured {
        reference: String,
        amount: Decimal,
    },
    Canceled {
        reference: String,
    },
    Failed {
        code: String,
        message: String,
    },
    Refunded {
        refund_id: RefundId,
        reference: String,
        amount: Decimal,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub context: IntentContext,
    pub amount: Decimal,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentCommand {
    Open(Open),
    RecordAuthorization {
        attempt: u32,
        result: Result<Approval, Decline>,
        at: DateTime<Utc>,
    },
    RequestExtension {
        new_total: Decimal,
    },
    RecordExtension {
        attempt: u32,
        result: Result<Extension, Decline>,
        at: DateTime<Utc>,
    },
    RequestCapture {
        amount: Decimal,
        currency: Currency,
    },
    RecordCapture {
        attempt: u32,
        result: Result<(), Decline>,
        at: DateTime<Utc>,
        policy: RetryPolicy,
    },
    RetryCapture {
        at: DateTime<Utc>,
    },
    RequestVoid {
        reason: VoidReason,
    },
    RecordVoid {
        attempt: u32,
        at: DateTime<Utc>,
    },
    RequestRefund {
        refund_id: RefundId,
        amount: Decimal,
        currency: Currency,
        reason: String,
    },
    RecordRefund {
        refund_id: RefundId,
        result: Result<String, Decline>,
        at: DateTime<Utc>,
    },
    Reconcile {
        observed: Observed,
        at: DateTime<Utc>,
    },
    /// The hold could not follow the running cost and the gateway was asked to stop the charge.
    RecordStopRequest {
        stop: StopRequest,
        at: DateTime<Utc>,
    },
}

/// Why and how the gateway was asked to stop a charge whose hold is exhausted, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    pub charge_point_id: String,
    pub transaction_id: String,
    /// The running cost (incl. VAT) that the hold could not cover.
    pub running_cost: Decimal,
    /// The charger took the command (OCPP `Accepted`); `false` also when the gateway was unreachable.
    pub delivered: bool,
    /// The charger's status, or why the command did not reach it.
    pub answer: String,
    /// Calls made to the gateway.
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentEvent {
    IntentOpened {
        context: IntentContext,
        amount: Decimal,
        opened_at: DateTime<Utc>,
    },
    AuthorizationRequested {
        attempt: u32,
        amount: Decimal,
    },
    PaymentAuthorized {
        context: IntentContext,
        reference: String,
        amount: Decimal,
        incremental: bool,
        at: DateTime<Utc>,
    },
    PaymentFailed {
        context: IntentContext,
        amount: Decimal,
        code: String,
        message: String,
        at: DateTime<Utc>,
    },
    ExtensionRequested {
        attempt: u32,
        new_total: Decimal,
    },
    HoldExtended {
        context: IntentContext,
        mode: ExtensionMode,
        reference: String,
        added: Decimal,
        total: Decimal,
        at: DateTime<Utc>,
    },
    HoldExhausted {
        context: IntentContext,
        requested_total: Decimal,
        total: Decimal,
        reason: String,
        code: String,
        at: DateTime<Utc>,
    },
    CaptureRequested {
        attempt: u32,
        amount: Decimal,
        uncollected: Decimal,
    },
    PaymentCaptured {
        context: IntentContext,
        amount: Decimal,
        released: Decimal,
        uncollected: Decimal,
        at: DateTime<Utc>,
    },
    CaptureFailed {
        context: IntentContext,
        attempt: u32,
        amount: Decimal,
        code: String,
        message: String,
        next_attempt_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    DunningStarted {
        context: IntentContext,
        amount_due: Decimal,
        attempts: u32,
        code: String,
        at: DateTime<Utc>,
    },
    VoidRequested {
        attempt: u32,
        reason: VoidReason,
    },
    PaymentVoided {
        context: IntentContext,
        released: Decimal,
        reason: VoidReason,
        at: DateTime<Utc>,
    },
    RefundRequested {
        refund_id: RefundId,
        amount: Decimal,
        reason: String,
    },
    PaymentRefunded {
        context: IntentContext,
        refund_id: RefundId,
        amount: Decimal,
        total_refunded: Decimal,
        captured: Decimal,
        reason: String,
        reference: String,
        at: DateTime<Utc>,
    },
    RefundFailed {
        context: IntentContext,
        refund_id: RefundId,
        amount: Decimal,
        code: String,
        message: String,
        at: DateTime<Utc>,
    },
    /// The hold is exhausted, so the gateway was asked to stop the charge; `reason` and `code` are the
    /// exhaustion's.
    ChargeStopRequested {
        context: IntentContext,
        stop: StopRequest,
        reason: String,
        code: String,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for IntentEvent {
    fn event_type(&self) -> String {
        match self {
            IntentEvent::IntentOpened { .. } => "IntentOpened",
            IntentEvent::AuthorizationRequested { .. } => "AuthorizationRequested",
            IntentEvent::PaymentAuthorized { .. } => "PaymentAuthorized",
            IntentEvent::PaymentFailed { .. } => "PaymentFailed",
            IntentEvent::ExtensionRequested { .. } => "ExtensionRequested",
            IntentEvent::HoldExtended { .. } => "HoldExtended",
            IntentEvent::HoldExhausted { .. } => "HoldExhausted",
            IntentEvent::CaptureRequested { .. } => "CaptureRequested",
            IntentEvent::PaymentCaptured { .. } => "PaymentCaptured",
            IntentEvent::CaptureFailed { .. } => "CaptureFailed",
            IntentEvent::DunningStarted { .. } => "DunningStarted",
            IntentEvent::VoidRequested { .. } => "VoidRequested",
            IntentEvent::PaymentVoided { .. } => "PaymentVoided",
            IntentEvent::RefundRequested { .. } => "RefundRequested",
            IntentEvent::PaymentRefunded { .. } => "PaymentRefunded",
            IntentEvent::RefundFailed { .. } => "RefundFailed",
            IntentEvent::ChargeStopRequested { .. } => "ChargeStopRequested",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

/// The attempt after `n`. Attempts of one operation on one intent are a handful; saturating keeps an
/// impossible count where it is instead of panicking.
fn next_attempt(n: u32) -> u32 {
    n.saturating_add(1)
}

/// A sum of amounts in a command: every amount was checked at the edge, so an overflow means a value
/// from outside slipped past; it is refused, naming the field, never a panic.
fn out_of_range(field: &'static str, value: Option<Decimal>) -> Result<Decimal, IntentError> {
    value.ok_or_else(|| IntentError::InvalidAmount {
        field,
        reason: "is out of range".into(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentError {
    #[error("no such payment")]
    NotFound,
    #[error("{field}: {reason}")]
    InvalidAmount { field: &'static str, reason: String },
    #[error("currency: {got} does not match the payment's currency {expected}")]
    CurrencyMismatch { expected: Currency, got: Currency },
    #[error("the payment was voided; there is nothing to capture")]
    Voided,
    #[error("the payment is {status}; it cannot be {action}")]
    InvalidState {
        status: String,
        action: &'static str,
    },
    #[error("amount: the payment was already captured with {captured}")]
    AlreadyCaptured { captured: Decimal },
    #[error("amount: {requested} is more than the {available} captured and not yet refunded")]
    RefundExceedsCaptured {
        requested: Decimal,
        available: Decimal,
    },
    #[error("new_amount: {requested} is not above the {held} already held")]
    ExtensionNotAbove { requested: Decimal, held: Decimal },
    #[error("another operation ({0}) is under way on this payment; retry")]
    InProgress(&'static str),
    #[error("the payment already exists for another account or payment method")]
    OpenedDifferently,
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
    /// The events that only record what is about to be asked of a provider (ADR 009's first step).
    /// A commit of nothing else does not wait for the WAL flush (ADR 019): the answer's commit,
    /// which does, follows before anyone is answered.
    pub const REQUEST_EVENTS: &'static [&'static str] = &[
        "IntentOpened",
        "AuthorizationRequested",
        "ExtensionRequested",
        "CaptureRequested",
        "VoidRequested",
        "RefundRequested",
    ];

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

    fn context(&self) -> Result<&IntentContext, IntentError> {
        self.context.as_ref().ok_or(IntentError::NotFound)
    }

    fn state_error(&self, action: &'static str) -> IntentError {
        IntentError::InvalidState {
            status: self.status.map_or("unknown", Status::as_str).to_owned(),
            action,
        }
    }

    fn check_currency(&self, currency: Currency) -> Result<(), IntentError> {
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

    fn busy(&self) -> Result<(), IntentError> {
        match &self.pending {
            Some(op) => Err(IntentError::InProgress(op.name())),
            None => Ok(()),
        }
    }

    fn status_after_refund(&self) -> Status {
        if self.refunded >= self.captured {
            Status::Refunded
        } else {
            Status::PartiallyRefunded
        }
    }

    fn open(&self, open: Open) -> Result<Vec<IntentEvent>, IntentError> {
        if let Some(existing) = &self.context {
            // The same session asked again (redelivery, the gateway and the consumer both): nothing new.
            return if existing.account_id == open.context.account_id
                && existing.currency == open.context.currency
            {
                Ok(vec![])
            } else {
                Err(IntentError::OpenedDifferently)
            };
        }
        if open.amount <= Decimal::ZERO {
            return Err(IntentError::InvalidAmount {
                field: "amount",
                reason: "must be greater than zero".into(),
            });
        }
        Ok(vec![
            IntentEvent::IntentOpened {
                context: open.context,
                amount: open.amount,
                opened_at: open.at,
            },
            IntentEvent::AuthorizationRequested {
                attempt: 1,
                amount: open.amount,
            },
        ])
    }

    fn record_authorization(
        &self,
        attempt: u32,
        result: Result<Approval, Decline>,
        at: DateTime<Utc>,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        let context = self.context()?.clone();
        let Some(PendingOp::Authorize {
            attempt: pending,
            amount,
        }) = &self.pending
        else {
            return Ok(vec![]);
        };
        if *pending != attempt {
            return Ok(vec![]);
        }
        Ok(vec![match result {
            Ok(a) => IntentEvent::PaymentAuthorized {
                context,
                reference: a.reference,
                amount: a.amount,
                incremental: a.incremental,
                at,
            },
            Err(d) => IntentEvent::PaymentFailed {
                context,
                amount: *amount,
                code: d.code,
                message: d.message,
                at,
            },
        }])
    }

    fn request_extension(&self, new_total: Decimal) -> Result<Vec<IntentEvent>, IntentError> {
        self.context()?;
        if let Some(PendingOp::Extend {
            new_total: pending, ..
        }) = &self.pending
            && *pending == new_total
        {
            return Ok(vec![]);
        }
        if self.status != Some(Status::Authorized) {
            return Err(self.state_error("extended"));
        }
        self.busy()?;
        let held = self.authorized();
        if new_total <= held {
            return Err(IntentError::ExtensionNotAbove {
                requested: new_total,
                held,
            });
        }
        Ok(vec![IntentEvent::ExtensionRequested {
            attempt: next_attempt(self.extend_attempts),
            new_total,
        }])
    }

    fn record_extension(
        &self,
        attempt: u32,
        result: Result<Extension, Decline>,
        at: DateTime<Utc>,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        let context = self.context()?.clone();
        let Some(PendingOp::Extend {
            attempt: pending,
            new_total,
        }) = &self.pending
        else {
            return Ok(vec![]);
        };
        if *pending != attempt {
            return Ok(vec![]);
        }
        let held = self.authorized();
        Ok(vec![match result {
            Ok(e) => IntentEvent::HoldExtended {
                context,
                mode: e.mode,
                reference: e.reference,
                added: e.added,
                total: out_of_range("new_amount", held.checked_add(e.added))?,
                at,
            },
            Err(d) => IntentEvent::HoldExhausted {
                context,
                requested_total: *new_total,
                total: held,
                reason: d.exhausted_reason().into(),
                code: d.code,
                at,
            },
        }])
    }

    fn record_stop_request(
        &self,
        stop: StopRequest,
        at: DateTime<Utc>,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        let context = self.context()?.clone();
        // Once the charger took the stop, asking again (a redelivered cost update) records nothing.
        if self.stop_delivered || !self.exhausted {
            return Ok(vec![]);
        }
        let failure = self.failure.clone().unwrap_or_else(|| Decline::new("", ""));
        Ok(vec![IntentEvent::ChargeStopRequested {
            context,
            stop,
            reason: failure.message,
            code: failure.code,
            at,
        }])
    }

    fn request_capture(
        &self,
        amount: Decimal,
        currency: Currency,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        self.check_currency(currency)?;
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(IntentError::InvalidAmount {
                field: "amount",
                reason: "must not be negative".into(),
            });
        }
        let held = self.authorized();
        let take = amount.min(held);
        match self.status {
            Some(Status::Voided) if amount.is_zero() => return Ok(vec![]),
            Some(Status::Voided) => return Err(IntentError::Voided),
            Some(Status::Captured | Status::PartiallyRefunded | Status::Refunded) => {
                return if self.captured == take {
                    Ok(vec![])
                } else {
                    Err(IntentError::AlreadyCaptured {
                        captured: self.captured,
                    })
                };
            }
            Some(Status::Authorized) => {}
            _ => return Err(self.state_error("captured")),
        }
        match &self.pending {
            Some(PendingOp::Capture { amount: a, .. }) if *a == take => return Ok(vec![]),
            Some(PendingOp::Void {
                reason: VoidReason::ZeroAmount,
                ..
            }) if amount.is_zero() => return Ok(vec![]),
            Some(op) => return Err(IntentError::InProgress(op.name())),
            None => {}
        }
        if self.capture_amount == Some(take) && self.next_capture_at.is_some() {
            // Already asked for and waiting for its retry.
            return Ok(vec![]);
        }
        if amount.is_zero() {
            return Ok(vec![IntentEvent::VoidRequested {
                attempt: next_attempt(self.void_attempts),
                reason: VoidReason::ZeroAmount,
            }]);
        }
        Ok(vec![IntentEvent::CaptureRequested {
            attempt: next_attempt(self.capture_attempts),
            amount: take,
            // take = min(amount, held), both not negative.
            uncollected: amount.saturating_sub(take),
        }])
    }

    fn record_capture(
        &self,
        attempt: u32,
        result: Result<(), Decline>,
        at: DateTime<Utc>,
        policy: RetryPolicy,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        let context = self.context()?.clone();
        let Some(PendingOp::Capture {
            attempt: pending,
            amount,
        }) = &self.pending
        else {
            return Ok(vec![]);
        };
        if *pending != attempt {
            return Ok(vec![]);
        }
        let amount = *amount;
        match result {
            Ok(()) => Ok(vec![IntentEvent::PaymentCaptured {
                context,
                amount,
                // The captured amount is at most what is held (`request_capture`).
                released: self.authorized().saturating_sub(amount),
                uncollected: self.uncollected,
                at,
            }]),
            Err(d) if attempt >= policy.max_attempts => Ok(vec![
                IntentEvent::DunningStarted {
                    context,
                    amount_due: out_of_range("amount", amount.checked_add(self.uncollected))?,
                    attempts: attempt,
                    code: d.code,
                    at,
                },
                IntentEvent::VoidRequested {
                    attempt: next_attempt(self.void_attempts),
                    reason: VoidReason::Dunning,
                },
            ]),
            Err(d) => {
                let factor = 2i32.saturating_pow(attempt.saturating_sub(1).min(20));
                Ok(vec![IntentEvent::CaptureFailed {
                    context,
                    attempt,
                    amount,
                    code: d.code,
                    message: d.message,
                    // The delay doubles at most 20 times from the configured first delay; a time
                    // beyond chrono's range would be a misconfiguration, kept at the latest time.
                    next_attempt_at: policy
                        .first_delay
                        .checked_mul(factor)
                        .and_then(|delay| at.checked_add_signed(delay))
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                    at,
                }])
            }
        }
    }

    fn retry_capture(&self, at: DateTime<Utc>) -> Result<Vec<IntentEvent>, IntentError> {
        self.context()?;
        match (
            self.status,
            &self.pending,
            self.next_capture_at,
            self.capture_amount,
        ) {
            (Some(Status::Authorized), None, Some(next), Some(amount)) if next <= at => {
                Ok(vec![IntentEvent::CaptureRequested {
                    attempt: next_attempt(self.capture_attempts),
                    amount,
                    uncollected: self.uncollected,
                }])
            }
            _ => Ok(vec![]),
        }
    }

    fn request_void(&self, reason: VoidReason) -> Result<Vec<IntentEvent>, IntentError> {
        self.context()?;
        match self.status {
            Some(Status::Voided) => return Ok(vec![]),
            Some(Status::Authorized) => {}
            Some(Status::Captured | Status::PartiallyRefunded | Status::Refunded) => {
                return Err(IntentError::AlreadyCaptured {
                    captured: self.captured,
                });
            }
            _ => return Err(self.state_error("voided")),
        }
        match &self.pending {
            Some(PendingOp::Void { .. }) => return Ok(vec![]),
            Some(op) => return Err(IntentError::InProgress(op.name())),
            None => {}
        }
        Ok(vec![IntentEvent::VoidRequested {
            attempt: next_attempt(self.void_attempts),
            reason,
        }])
    }

    fn record_void(
        &self,
        attempt: u32,
        at: DateTime<Utc>,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        let context = self.context()?.clone();
        let Some(PendingOp::Void {
            attempt: pending,
            reason,
        }) = &self.pending
        else {
            return Ok(vec![]);
        };
        if *pending != attempt {
            return Ok(vec![]);
        }
        Ok(vec![IntentEvent::PaymentVoided {
            context,
            released: self.authorized(),
            reason: *reason,
            at,
        }])
    }

    fn request_refund(
        &self,
        refund_id: RefundId,
        amount: Decimal,
        currency: Currency,
        reason: String,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        self.check_currency(currency)?;
        if self.refunds.iter().any(|r| r.refund_id == refund_id) {
            return Ok(vec![]);
        }
        if amount <= Decimal::ZERO {
            return Err(IntentError::InvalidAmount {
                field: "amount",
                reason: "must be greater than zero".into(),
            });
        }
        match self.status {
            Some(Status::Captured | Status::PartiallyRefunded) => {}
            _ => return Err(self.state_error("refunded")),
        }
        self.busy()?;
        // Refunds never exceed the capture (checked below when each was asked).
        let available = self.captured.saturating_sub(self.refunded);
        if amount > available {
            return Err(IntentError::RefundExceedsCaptured {
                requested: amount,
                available,
            });
        }
        Ok(vec![IntentEvent::RefundRequested {
            refund_id,
            amount,
            reason,
        }])
    }

    fn record_refund(
        &self,
        refund_id: RefundId,
        result: Result<String, Decline>,
        at: DateTime<Utc>,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        let context = self.context()?.clone();
        let Some(PendingOp::Refund {
            refund_id: pending,
            amount,
        }) = &self.pending
        else {
            return Ok(vec![]);
        };
        if *pending != refund_id {
            return Ok(vec![]);
        }
        let reason = self
            .refunds
            .iter()
            .find(|r| r.refund_id == refund_id)
            .map(|r| r.reason.clone())
            .unwrap_or_default();
        Ok(vec![match result {
            Ok(reference) => IntentEvent::PaymentRefunded {
                context,
                refund_id,
                amount: *amount,
                // At most what was captured (`request_refund`).
                total_refunded: self.refunded.saturating_add(*amount),
                captured: self.captured,
                reason,
                reference,
                at,
            },
            Err(d) => IntentEvent::RefundFailed {
                context,
                refund_id,
                amount: *amount,
                code: d.code,
                message: d.message,
                at,
            },
        }])
    }

    /// A provider's view of the intent: applied only when it moves the intent forward, so the same
    /// observation twice, or a stale one after a newer, changes nothing.
    fn reconcile(
        &self,
        observed: Observed,
        at: DateTime<Utc>,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        let context = self.context()?.clone();
        let events = match observed {
            Observed::Authorized { reference, amount } => match (&self.pending, self.status) {
                (Some(PendingOp::Authorize { .. }), Some(Status::Pending)) => {
                    vec![IntentEvent::PaymentAuthorized {
                        context,
                        reference,
                        amount,
                        incremental: false,
                        at,
                    }]
                }
                (Some(PendingOp::Extend { .. }), Some(Status::Authorized)) => {
                    match self.holds.iter().find(|h| h.reference == reference) {
                        Some(h) if amount > h.amount => vec![IntentEvent::HoldExtended {
                            context,
                            mode: ExtensionMode::Incremental,
                            reference,
                            // amount > h.amount, and h.amount is part of what is held.
                            added: amount.saturating_sub(h.amount),
                            total: self
                                .authorized()
                                .saturating_sub(h.amount)
                                .saturating_add(amount),
                            at,
                        }],
                        _ => vec![],
                    }
                }
                _ => vec![],
            },
            Observed::Captured { reference, amount } => {
                // With several holds, one hold's capture is not the intent's: the engine records
                // the whole capture itself.
                let only = self.holds.len() == 1 && self.holds[0].reference == reference;
                if self.status == Some(Status::Authorized) && self.captured.is_zero() && only {
                    vec![IntentEvent::PaymentCaptured {
                        context,
                        amount,
                        released: self.authorized().saturating_sub(amount).max(Decimal::ZERO),
                        uncollected: self.uncollected,
                        at,
                    }]
                } else {
                    vec![]
                }
            }
            Observed::Canceled { reference } => {
                let known = self.holds.iter().any(|h| h.reference == reference);
                match self.status {
                    Some(Status::Authorized) if known && self.holds.len() == 1 => {
                        vec![IntentEvent::PaymentVoided {
                            context,
                            released: self.authorized(),
                            reason: VoidReason::Provider,
                            at,
                        }]
                    }
                    Some(Status::Pending) => vec![IntentEvent::PaymentFailed {
                        context,
                        amount: self.pending_amount(),
                        code: "canceled".into(),
                        message: "the provider cancelled the payment".into(),
                        at,
                    }],
                    _ => vec![],
                }
            }
            Observed::Failed { code, message } => match self.status {
                Some(Status::Pending) => vec![IntentEvent::PaymentFailed {
                    context,
                    amount: self.pending_amount(),
                    code,
                    message,
                    at,
                }],
                _ => vec![],
            },
            Observed::Refunded {
                refund_id,
                reference,
                amount,
            } => match &self.pending {
                Some(PendingOp::Refund {
                    refund_id: pending,
                    amount: pending_amount,
                }) if *pending == refund_id && *pending_amount == amount => {
                    self.record_refund(refund_id, Ok(reference), at)?
                }
                _ => vec![],
            },
        };
        Ok(events)
    }

    fn pending_amount(&self) -> Decimal {
        match &self.pending {
            Some(PendingOp::Authorize { amount, .. }) => *amount,
            _ => Decimal::ZERO,
        }
    }
}

impl Aggregate for PaymentIntent {
    const TYPE: &'static str = "PaymentIntent";
    type Command = IntentCommand;
    type Event = IntentEvent;
    type Error = IntentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: IntentCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), IntentError> {
        let events = match command {
            IntentCommand::Open(open) => self.open(open),
            IntentCommand::RecordAuthorization {
                attempt,
                result,
                at,
            } => self.record_authorization(attempt, result, at),
            IntentCommand::RequestExtension { new_total } => self.request_extension(new_total),
            IntentCommand::RecordExtension {
                attempt,
                result,
                at,
            } => self.record_extension(attempt, result, at),
            IntentCommand::RequestCapture { amount, currency } => {
                self.request_capture(amount, currency)
            }
            IntentCommand::RecordCapture {
                attempt,
                result,
                at,
                policy,
            } => self.record_capture(attempt, result, at, policy),
            IntentCommand::RetryCapture { at } => self.retry_capture(at),
            IntentCommand::RequestVoid { reason } => self.request_void(reason),
            IntentCommand::RecordVoid { attempt, at } => self.record_void(attempt, at),
            IntentCommand::RequestRefund {
                refund_id,
                amount,
                currency,
                reason,
            } => self.request_refund(refund_id, amount, currency, reason),
            IntentCommand::RecordRefund {
                refund_id,
                result,
                at,
            } => self.record_refund(refund_id, result, at),
            IntentCommand::Reconcile { observed, at } => self.reconcile(observed, at),
            IntentCommand::RecordStopRequest { stop, at } => self.record_stop_request(stop, at),
        }?;
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: IntentEvent) {
        match event {
            IntentEvent::IntentOpened {
                context, amount, ..
            } => {
                self.context = Some(context);
                self.status = Some(Status::Pending);
                self.opened_amount = amount;
            }
            IntentEvent::AuthorizationRequested { attempt, amount } => {
                self.authorize_attempts = attempt;
                self.pending = Some(PendingOp::Authorize { attempt, amount });
            }
            IntentEvent::PaymentAuthorized {
                reference,
                amount,
                incremental,
                ..
            } => {
                self.holds.push(Hold { reference, amount });
                self.incremental = incremental;
                self.status = Some(Status::Authorized);
                self.pending = None;
                self.failure = None;
            }
            IntentEvent::PaymentFailed { code, message, .. } => {
                self.status = Some(Status::Failed);
                self.pending = None;
                self.failure = Some(Decline { code, message });
            }
            IntentEvent::ExtensionRequested { attempt, new_total } => {
                self.extend_attempts = attempt;
                self.pending = Some(PendingOp::Extend { attempt, new_total });
            }
            IntentEvent::HoldExtended {
                mode,
                reference,
                added,
                ..
            } => {
                match (
                    mode,
                    self.holds.iter_mut().find(|h| h.reference == reference),
                ) {
                    (ExtensionMode::Incremental, Some(hold)) => {
                        // `record_extension` checked the new total.
                        hold.amount = hold.amount.saturating_add(added)
                    }
                    _ => self.holds.push(Hold {
                        reference,
                        amount: added,
                    }),
                }
                self.pending = None;
                self.exhausted = false;
            }
            IntentEvent::HoldExhausted { code, reason, .. } => {
                self.pending = None;
                self.exhausted = true;
                self.failure = Some(Decline {
                    code,
                    message: reason,
                });
            }
            IntentEvent::CaptureRequested {
                attempt,
                amount,
                uncollected,
            } => {
                self.capture_attempts = attempt;
                self.capture_amount = Some(amount);
                self.uncollected = uncollected;
                self.next_capture_at = None;
                self.pending = Some(PendingOp::Capture { attempt, amount });
            }
            IntentEvent::PaymentCaptured {
                amount,
                uncollected,
                ..
            } => {
                self.captured = amount;
                self.uncollected = uncollected;
                self.status = Some(Status::Captured);
                self.pending = None;
                self.next_capture_at = None;
            }
            IntentEvent::CaptureFailed {
                code,
                message,
                next_attempt_at,
                ..
            } => {
                self.pending = None;
                self.next_capture_at = Some(next_attempt_at);
                self.failure = Some(Decline { code, message });
            }
            IntentEvent::DunningStarted { code, .. } => {
                self.status = Some(Status::Dunning);
                self.pending = None;
                self.next_capture_at = None;
                self.failure = Some(Decline {
                    code,
                    message: "capture failed; collected by dunning".into(),
                });
            }
            IntentEvent::VoidRequested { attempt, reason } => {
                self.void_attempts = attempt;
                self.pending = Some(PendingOp::Void { attempt, reason });
            }
            IntentEvent::PaymentVoided { reason, .. } => {
                if reason != VoidReason::Dunning {
                    self.status = Some(Status::Voided);
                }
                self.holds.iter_mut().for_each(|h| h.amount = Decimal::ZERO);
                self.pending = None;
            }
            IntentEvent::RefundRequested {
                refund_id,
                amount,
                reason,
            } => {
                self.refunds.push(RefundRecord {
                    refund_id,
                    amount,
                    reason,
                    succeeded: None,
                    code: String::new(),
                });
                self.pending = Some(PendingOp::Refund { refund_id, amount });
            }
            IntentEvent::PaymentRefunded {
                refund_id,
                total_refunded,
                ..
            } => {
                self.refunded = total_refunded;
                if let Some(r) = self.refunds.iter_mut().find(|r| r.refund_id == refund_id) {
                    r.succeeded = Some(true);
                }
                self.status = Some(self.status_after_refund());
                self.pending = None;
            }
            IntentEvent::RefundFailed {
                refund_id, code, ..
            } => {
                if let Some(r) = self.refunds.iter_mut().find(|r| r.refund_id == refund_id) {
                    r.succeeded = Some(false);
                    r.code = code;
                }
                self.pending = None;
            }
            IntentEvent::ChargeStopRequested { stop, .. } => {
                self.stop_delivered = stop.delivered;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use rust_decimal_macros::dec;

    type Intent = TestFramework<PaymentIntent>;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
    }

    fn context() -> IntentContext {
        IntentContext {
            tenant_id: "default".into(),
            account_id: AccountId::derived("jane"),
            session_id: Some(SessionId::derived("default/CP-1/1")),
            order_id: None,
            purpose: Purpose::Session,
            provider: ProviderKind::Sandbox,
            method_id: MethodId::derived("m"),
            token: "tok_sandbox_ok".into(),
            customer: "cus".into(),
            currency: Currency::EUR,
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            first_delay: Duration::seconds(60),
        }
    }

    fn opened() -> Vec<IntentEvent> {
        vec![
            IntentEvent::IntentOpened {
                context: context(),
                amount: dec!(50),
                opened_at: at(),
            },
            IntentEvent::AuthorizationRequested {
                attempt: 1,
                amount: dec!(50),
            },
        ]
    }

    fn authorized() -> Vec<IntentEvent> {
        let mut events = opened();
        events.push(IntentEvent::PaymentAuthorized {
            context: context(),
            reference: "h1".into(),
            amount: dec!(50),
            incremental: true,
            at: at(),
        });
        events
    }

    fn capture_requested(amount: Decimal) -> Vec<IntentEvent> {
        let mut events = authorized();
        events.push(IntentEvent::CaptureRequested {
            attempt: 1,
            amount,
            uncollected: dec!(0),
        });
        events
    }

    fn captured(amount: Decimal) -> Vec<IntentEvent> {
        let mut events = capture_requested(amount);
        events.push(IntentEvent::PaymentCaptured {
            context: context(),
            amount,
            released: dec!(50) - amount,
            uncollected: dec!(0),
            at: at(),
        });
        events
    }

    fn voided() -> Vec<IntentEvent> {
        let mut events = authorized();
        events.push(IntentEvent::VoidRequested {
            attempt: 1,
            reason: VoidReason::ZeroAmount,
        });
        events.push(IntentEvent::PaymentVoided {
            context: context(),
            released: dec!(50),
            reason: VoidReason::ZeroAmount,
            at: at(),
        });
        events
    }

    #[test]
    fn opening_asks_for_a_hold_once() {
        Intent::with(())
            .given_no_previous_events()
            .when(IntentCommand::Open(Open {
                context: context(),
                amount: dec!(50),
                at: at(),
            }))
            .then_expect_events(opened());
        Intent::with(())
            .given(opened())
            .when(IntentCommand::Open(Open {
                context: context(),
                amount: dec!(50),
                at: at(),
            }))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_approval_places_the_hold_and_a_second_record_changes_nothing() {
        let approval = || IntentCommand::RecordAuthorization {
            attempt: 1,
            result: Ok(Approval {
                reference: "h1".into(),
                amount: dec!(50),
                incremental: true,
            }),
            at: at(),
        };
        Intent::with(())
            .given(opened())
            .when(approval())
            .then_expect_events(authorized()[2..].to_vec());
        Intent::with(())
            .given(authorized())
            .when(approval())
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_decline_fails_the_intent_keeping_the_provider_code() {
        Intent::with(())
            .given(opened())
            .when(IntentCommand::RecordAuthorization {
                attempt: 1,
                result: Err(Decline::new(
                    "insufficient_funds",
                    "Your card has insufficient funds.",
                )),
                at: at(),
            })
            .then_expect_events(vec![IntentEvent::PaymentFailed {
                context: context(),
                amount: dec!(50),
                code: "insufficient_funds".into(),
                message: "Your card has insufficient funds.".into(),
                at: at(),
            }]);
    }

    #[test]
    fn a_capture_takes_the_priced_amount_and_releases_the_rest() {
        Intent::with(())
            .given(authorized())
            .when(IntentCommand::RequestCapture {
                amount: dec!(12.34),
                currency: Currency::EUR,
            })
            .then_expect_events(vec![IntentEvent::CaptureRequested {
                attempt: 1,
                amount: dec!(12.34),
                uncollected: dec!(0),
            }]);
        Intent::with(())
            .given(capture_requested(dec!(12.34)))
            .when(IntentCommand::RecordCapture {
                attempt: 1,
                result: Ok(()),
                at: at(),
                policy: policy(),
            })
            .then_expect_events(vec![IntentEvent::PaymentCaptured {
                context: context(),
                amount: dec!(12.34),
                released: dec!(37.66),
                uncollected: dec!(0),
                at: at(),
            }]);
    }

    #[test]
    fn capturing_more_than_held_takes_the_hold_and_leaves_the_rest_uncollected() {
        Intent::with(())
            .given(authorized())
            .when(IntentCommand::RequestCapture {
                amount: dec!(61),
                currency: Currency::EUR,
            })
            .then_expect_events(vec![IntentEvent::CaptureRequested {
                attempt: 1,
                amount: dec!(50),
                uncollected: dec!(11),
            }]);
    }

    #[test]
    fn a_zero_amount_voids_the_hold() {
        Intent::with(())
            .given(authorized())
            .when(IntentCommand::RequestCapture {
                amount: dec!(0),
                currency: Currency::EUR,
            })
            .then_expect_events(vec![IntentEvent::VoidRequested {
                attempt: 1,
                reason: VoidReason::ZeroAmount,
            }]);
    }

    #[test]
    fn capturing_a_voided_intent_is_refused() {
        Intent::with(())
            .given(voided())
            .when(IntentCommand::RequestCapture {
                amount: dec!(5),
                currency: Currency::EUR,
            })
            .then_expect_error(IntentError::Voided);
    }

    #[test]
    fn a_currency_mismatch_is_refused() {
        Intent::with(())
            .given(authorized())
            .when(IntentCommand::RequestCapture {
                amount: dec!(5),
                currency: "USD".parse().unwrap(),
            })
            .then_expect_error(IntentError::CurrencyMismatch {
                expected: Currency::EUR,
                got: "USD".parse().unwrap(),
            });
    }

    #[test]
    fn capturing_again_with_the_same_amount_is_a_no_op_and_another_amount_is_refused() {
        Intent::with(())
            .given(captured(dec!(10)))
            .when(IntentCommand::RequestCapture {
                amount: dec!(10),
                currency: Currency::EUR,
            })
            .then_expect_events(vec![]);
        Intent::with(())
            .given(captured(dec!(10)))
            .when(IntentCommand::RequestCapture {
                amount: dec!(11),
                currency: Currency::EUR,
            })
            .then_expect_error(IntentError::AlreadyCaptured { captured: dec!(10) });
    }

    #[test]
    fn a_failed_capture_is_retried_with_a_doubling_delay_then_goes_to_dunning() {
        let fail = |attempt| IntentCommand::RecordCapture {
            attempt,
            result: Err(Decline::new("processing_error", "try later")),
            at: at(),
            policy: policy(),
        };
        let failed = |attempt: u32, delay: i64| IntentEvent::CaptureFailed {
            context: context(),
            attempt,
            amount: dec!(10),
            code: "processing_error".into(),
            message: "try later".into(),
            next_attempt_at: at() + Duration::seconds(delay),
            at: at(),
        };
        Intent::with(())
            .given(capture_requested(dec!(10)))
            .when(fail(1))
            .then_expect_events(vec![failed(1, 60)]);

        let mut history = capture_requested(dec!(10));
        history.push(failed(1, 60));
        Intent::with(())
            .given(history.clone())
            .when(IntentCommand::RetryCapture {
                at: at() + Duration::seconds(59),
            })
            .then_expect_events(vec![]);
        Intent::with(())
            .given(history.clone())
            .when(IntentCommand::RetryCapture {
                at: at() + Duration::seconds(60),
            })
            .then_expect_events(vec![IntentEvent::CaptureRequested {
                attempt: 2,
                amount: dec!(10),
                uncollected: dec!(0),
            }]);

        history.push(IntentEvent::CaptureRequested {
            attempt: 2,
            amount: dec!(10),
            uncollected: dec!(0),
        });
        Intent::with(())
            .given(history.clone())
            .when(fail(2))
            .then_expect_events(vec![failed(2, 120)]);
        history.push(failed(2, 120));
        history.push(IntentEvent::CaptureRequested {
            attempt: 3,
            amount: dec!(10),
            uncollected: dec!(0),
        });
        Intent::with(())
            .given(history)
            .when(fail(3))
            .then_expect_events(vec![
                IntentEvent::DunningStarted {
                    context: context(),
                    amount_due: dec!(10),
                    attempts: 3,
                    code: "processing_error".into(),
                    at: at(),
                },
                IntentEvent::VoidRequested {
                    attempt: 1,
                    reason: VoidReason::Dunning,
                },
            ]);
    }

    #[test]
    fn a_refund_never_exceeds_what_was_captured() {
        let refund = |amount| IntentCommand::RequestRefund {
            refund_id: RefundId::derived("r1"),
            amount,
            currency: Currency::EUR,
            reason: "requested_by_customer".into(),
        };
        Intent::with(())
            .given(captured(dec!(10)))
            .when(refund(dec!(10.01)))
            .then_expect_error(IntentError::RefundExceedsCaptured {
                requested: dec!(10.01),
                available: dec!(10),
            });
        Intent::with(())
            .given(captured(dec!(10)))
            .when(refund(dec!(0)))
            .then_expect_error(IntentError::InvalidAmount {
                field: "amount",
                reason: "must be greater than zero".into(),
            });
        Intent::with(())
            .given(authorized())
            .when(refund(dec!(1)))
            .then_expect_error(IntentError::InvalidState {
                status: "authorized".into(),
                action: "refunded",
            });
        Intent::with(())
            .given(captured(dec!(10)))
            .when(refund(dec!(4)))
            .then_expect_events(vec![IntentEvent::RefundRequested {
                refund_id: RefundId::derived("r1"),
                amount: dec!(4),
                reason: "requested_by_customer".into(),
            }]);
    }

    #[test]
    fn refunds_move_the_status_to_partially_and_fully_refunded() {
        let mut history = captured(dec!(10));
        history.push(IntentEvent::RefundRequested {
            refund_id: RefundId::derived("r1"),
            amount: dec!(4),
            reason: "r".into(),
        });
        let mut intent = PaymentIntent::default();
        for e in history.iter().cloned() {
            intent.apply(e);
        }
        intent.apply(IntentEvent::PaymentRefunded {
            context: context(),
            refund_id: RefundId::derived("r1"),
            amount: dec!(4),
            total_refunded: dec!(4),
            captured: dec!(10),
            reason: "r".into(),
            reference: "re_1".into(),
            at: at(),
        });
        assert_eq!(intent.status, Some(Status::PartiallyRefunded));
        Intent::with(())
            .given(history.clone())
            .when(IntentCommand::RecordRefund {
                refund_id: RefundId::derived("r1"),
                result: Ok("re_1".into()),
                at: at(),
            })
            .then_expect_events(vec![IntentEvent::PaymentRefunded {
                context: context(),
                refund_id: RefundId::derived("r1"),
                amount: dec!(4),
                total_refunded: dec!(4),
                captured: dec!(10),
                reason: "r".into(),
                reference: "re_1".into(),
                at: at(),
            }]);
        intent.apply(IntentEvent::RefundRequested {
            refund_id: RefundId::derived("r2"),
            amount: dec!(6),
            reason: "r".into(),
        });
        intent.apply(IntentEvent::PaymentRefunded {
            context: context(),
            refund_id: RefundId::derived("r2"),
            amount: dec!(6),
            total_refunded: dec!(10),
            captured: dec!(10),
            reason: "r".into(),
            reference: "re_2".into(),
            at: at(),
        });
        assert_eq!(intent.status, Some(Status::Refunded));
    }

    #[test]
    fn an_extension_raises_the_hold_or_reports_it_exhausted() {
        Intent::with(())
            .given(authorized())
            .when(IntentCommand::RequestExtension {
                new_total: dec!(50),
            })
            .then_expect_error(IntentError::ExtensionNotAbove {
                requested: dec!(50),
                held: dec!(50),
            });
        let mut history = authorized();
        history.push(IntentEvent::ExtensionRequested {
            attempt: 1,
            new_total: dec!(80),
        });
        Intent::with(())
            .given(history.clone())
            .when(IntentCommand::RecordExtension {
                attempt: 1,
                result: Ok(Extension {
                    mode: ExtensionMode::SecondHold,
                    reference: "h2".into(),
                    added: dec!(30),
                }),
                at: at(),
            })
            .then_expect_events(vec![IntentEvent::HoldExtended {
                context: context(),
                mode: ExtensionMode::SecondHold,
                reference: "h2".into(),
                added: dec!(30),
                total: dec!(80),
                at: at(),
            }]);
        Intent::with(())
            .given(history)
            .when(IntentCommand::RecordExtension {
                attempt: 1,
                result: Err(Decline::new("insufficient_funds", "no")),
                at: at(),
            })
            .then_expect_events(vec![IntentEvent::HoldExhausted {
                context: context(),
                requested_total: dec!(80),
                total: dec!(50),
                reason: "insufficient_funds".into(),
                code: "insufficient_funds".into(),
                at: at(),
            }]);
    }

    #[test]
    fn a_stop_is_recorded_for_an_exhausted_hold_until_the_charger_took_it() {
        let stop = |delivered| StopRequest {
            charge_point_id: "CP-1".into(),
            transaction_id: "7".into(),
            running_cost: dec!(45),
            delivered,
            answer: "RemoteStopTransaction: Accepted".into(),
            attempts: 1,
        };
        let record = |delivered| IntentCommand::RecordStopRequest {
            stop: stop(delivered),
            at: at(),
        };
        // A hold that is not exhausted has no charge to stop.
        Intent::with(())
            .given(authorized())
            .when(record(true))
            .then_expect_events(vec![]);
        let mut history = authorized();
        history.push(IntentEvent::ExtensionRequested {
            attempt: 1,
            new_total: dec!(80),
        });
        history.push(IntentEvent::HoldExhausted {
            context: context(),
            requested_total: dec!(80),
            total: dec!(50),
            reason: "insufficient_funds".into(),
            code: "insufficient_funds".into(),
            at: at(),
        });
        let stopped = IntentEvent::ChargeStopRequested {
            context: context(),
            stop: stop(false),
            reason: "insufficient_funds".into(),
            code: "insufficient_funds".into(),
            at: at(),
        };
        Intent::with(())
            .given(history.clone())
            .when(record(false))
            .then_expect_events(vec![stopped.clone()]);
        // Not delivered: asked and recorded again; delivered: nothing more.
        history.push(stopped);
        Intent::with(())
            .given(history.clone())
            .when(record(true))
            .then_expect_events(vec![IntentEvent::ChargeStopRequested {
                context: context(),
                stop: stop(true),
                reason: "insufficient_funds".into(),
                code: "insufficient_funds".into(),
                at: at(),
            }]);
        history.push(IntentEvent::ChargeStopRequested {
            context: context(),
            stop: stop(true),
            reason: "insufficient_funds".into(),
            code: "insufficient_funds".into(),
            at: at(),
        });
        Intent::with(())
            .given(history)
            .when(record(true))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_second_operation_waits_for_the_first() {
        Intent::with(())
            .given(capture_requested(dec!(5)))
            .when(IntentCommand::RequestVoid {
                reason: VoidReason::Requested,
            })
            .then_expect_error(IntentError::InProgress("capture"));
    }

    #[test]
    fn observations_apply_in_any_order_and_only_forward() {
        // The capture webhook arrives before the engine recorded the capture: it resolves it.
        Intent::with(())
            .given(capture_requested(dec!(12)))
            .when(IntentCommand::Reconcile {
                observed: Observed::Captured {
                    reference: "h1".into(),
                    amount: dec!(12),
                },
                at: at(),
            })
            .then_expect_events(vec![IntentEvent::PaymentCaptured {
                context: context(),
                amount: dec!(12),
                released: dec!(38),
                uncollected: dec!(0),
                at: at(),
            }]);
        // A stale "authorized" after the capture, or the capture seen twice: nothing.
        Intent::with(())
            .given(captured(dec!(12)))
            .when(IntentCommand::Reconcile {
                observed: Observed::Authorized {
                    reference: "h1".into(),
                    amount: dec!(50),
                },
                at: at(),
            })
            .then_expect_events(vec![]);
        Intent::with(())
            .given(captured(dec!(12)))
            .when(IntentCommand::Reconcile {
                observed: Observed::Captured {
                    reference: "h1".into(),
                    amount: dec!(12),
                },
                at: at(),
            })
            .then_expect_events(vec![]);
        // With a second hold, one hold's capture is not the intent's: nothing.
        let mut two_holds = authorized();
        two_holds.push(IntentEvent::ExtensionRequested {
            attempt: 1,
            new_total: dec!(80),
        });
        two_holds.push(IntentEvent::HoldExtended {
            context: context(),
            mode: ExtensionMode::SecondHold,
            reference: "h2".into(),
            added: dec!(30),
            total: dec!(80),
            at: at(),
        });
        Intent::with(())
            .given(two_holds)
            .when(IntentCommand::Reconcile {
                observed: Observed::Captured {
                    reference: "h2".into(),
                    amount: dec!(10),
                },
                at: at(),
            })
            .then_expect_events(vec![]);
        // The recorded capture after the webhook resolved it: nothing.
        Intent::with(())
            .given(captured(dec!(12)))
            .when(IntentCommand::RecordCapture {
                attempt: 1,
                result: Ok(()),
                at: at(),
                policy: policy(),
            })
            .then_expect_events(vec![]);
    }
}
