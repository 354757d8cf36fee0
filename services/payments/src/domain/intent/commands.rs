//! The intent's commands, and what each decides from the state (the events it records).

use chrono::{DateTime, Utc};
use joule_domain::{Currency, Money};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{
    Decline, ExtensionMode, IntentContext, IntentError, IntentEvent, PaymentIntent, PendingOp,
    RetryPolicy, Status, VoidReason,
};
use crate::ids::RefundId;

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

/// What a provider says about an intent's money (from a webhook or a lookup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observed {
    Authorized {
        reference: String,
        amount: Money,
    },
    Captured {
        reference: String,
        amount: Money,
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
        amount: Money,
    },
}

impl Observed {
    /// The money the provider says moved, if the observation is of an amount.
    pub fn amount(&self) -> Option<Money> {
        match self {
            Observed::Authorized { amount, .. }
            | Observed::Captured { amount, .. }
            | Observed::Refunded { amount, .. } => Some(*amount),
            Observed::Canceled { .. } | Observed::Failed { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub context: IntentContext,
    /// What to hold, in the context's currency.
    pub amount: Money,
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
        amount: Money,
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
        amount: Money,
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
    pub running_cost: Money,
    /// The charger took the command (OCPP `Accepted`); `false` also when the gateway was unreachable.
    pub delivered: bool,
    /// The charger's status, or why the command did not reach it.
    pub answer: String,
    /// Calls made to the gateway.
    pub attempts: u32,
}

/// The attempt after `n`. Attempts of one operation on one intent are a handful; saturating keeps an
/// impossible count where it is instead of panicking.
fn next_attempt(n: u32) -> u32 {
    n.saturating_add(1)
}

/// Amounts in `currency`, the intent's.
fn in_currency(currency: Currency) -> impl Fn(Decimal) -> Money {
    move |amount| Money::new(amount, currency)
}

/// A sum of amounts in a command: every amount was checked at the edge, so an overflow means a value
/// from outside slipped past; it is refused, naming the field, never a panic.
fn out_of_range(field: &'static str, value: Option<Decimal>) -> Result<Decimal, IntentError> {
    value.ok_or_else(|| IntentError::InvalidAmount {
        field,
        reason: "is out of range".into(),
    })
}

impl PaymentIntent {
    /// What `command` records, decided from the state (nothing for a command already applied).
    pub(super) fn decide(&self, command: IntentCommand) -> Result<Vec<IntentEvent>, IntentError> {
        match command {
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
            IntentCommand::RequestCapture { amount } => self.request_capture(amount),
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
                reason,
            } => self.request_refund(refund_id, amount, reason),
            IntentCommand::RecordRefund {
                refund_id,
                result,
                at,
            } => self.record_refund(refund_id, result, at),
            IntentCommand::Reconcile { observed, at } => self.reconcile(observed, at),
            IntentCommand::RecordStopRequest { stop, at } => self.record_stop_request(stop, at),
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
        if open.amount.currency != open.context.currency {
            return Err(IntentError::CurrencyMismatch {
                expected: open.context.currency,
                got: open.amount.currency,
            });
        }
        if open.amount.amount <= Decimal::ZERO {
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
                amount: open.amount.amount,
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
        // Recorded already (or never asked): nothing.
        let amount = match &self.pending {
            Some(PendingOp::Authorize { attempt: a, amount }) if *a == attempt => *amount,
            _ => return Ok(vec![]),
        };
        let money = in_currency(context.currency);
        Ok(vec![match result {
            Ok(a) => IntentEvent::PaymentAuthorized {
                context,
                reference: a.reference,
                amount: money(a.amount),
                incremental: a.incremental,
                at,
            },
            Err(d) => IntentEvent::PaymentFailed {
                context,
                amount: money(amount),
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
        let new_total = match &self.pending {
            Some(PendingOp::Extend {
                attempt: a,
                new_total,
            }) if *a == attempt => *new_total,
            _ => return Ok(vec![]),
        };
        let held = self.authorized();
        let money = in_currency(context.currency);
        Ok(vec![match result {
            Ok(e) => IntentEvent::HoldExtended {
                context,
                mode: e.mode,
                reference: e.reference,
                added: money(e.added),
                total: money(out_of_range("new_amount", held.checked_add(e.added))?),
                at,
            },
            Err(d) => IntentEvent::HoldExhausted {
                context,
                requested_total: money(new_total),
                total: money(held),
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

    fn request_capture(&self, amount: Money) -> Result<Vec<IntentEvent>, IntentError> {
        self.check_currency(amount.currency)?;
        let amount = amount.amount;
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
        let amount = match &self.pending {
            Some(PendingOp::Capture { attempt: a, amount }) if *a == attempt => *amount,
            _ => return Ok(vec![]),
        };
        let money = in_currency(context.currency);
        match result {
            Ok(()) => Ok(vec![IntentEvent::PaymentCaptured {
                context,
                amount: money(amount),
                // The captured amount is at most what is held (`request_capture`).
                released: money(self.authorized().saturating_sub(amount)),
                uncollected: money(self.uncollected),
                at,
            }]),
            Err(d) if attempt >= policy.max_attempts => Ok(vec![
                IntentEvent::DunningStarted {
                    context,
                    amount_due: money(out_of_range(
                        "amount",
                        amount.checked_add(self.uncollected),
                    )?),
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
                    amount: money(amount),
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
        let reason = match &self.pending {
            Some(PendingOp::Void { attempt: a, reason }) if *a == attempt => *reason,
            _ => return Ok(vec![]),
        };
        Ok(vec![IntentEvent::PaymentVoided {
            released: Money::new(self.authorized(), context.currency),
            context,
            reason,
            at,
        }])
    }

    fn request_refund(
        &self,
        refund_id: RefundId,
        amount: Money,
        reason: String,
    ) -> Result<Vec<IntentEvent>, IntentError> {
        self.check_currency(amount.currency)?;
        let amount = amount.amount;
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
        let Some(amount) = self.pending_refund(refund_id) else {
            return Ok(vec![]);
        };
        let reason = self
            .refunds
            .iter()
            .find(|r| r.refund_id == refund_id)
            .map(|r| r.reason.clone())
            .unwrap_or_default();
        let money = in_currency(context.currency);
        Ok(vec![match result {
            Ok(reference) => IntentEvent::PaymentRefunded {
                context,
                refund_id,
                amount: money(amount),
                // At most what was captured (`request_refund`).
                total_refunded: money(self.refunded.saturating_add(amount)),
                captured: money(self.captured),
                reason,
                reference,
                at,
            },
            Err(d) => IntentEvent::RefundFailed {
                context,
                refund_id,
                amount: money(amount),
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
        // An amount in another currency is not of this intent's money.
        if observed
            .amount()
            .is_some_and(|m| m.currency != context.currency)
        {
            return Ok(vec![]);
        }
        let money = in_currency(context.currency);
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
                    let amount = amount.amount;
                    match self.holds.iter().find(|h| h.reference == reference) {
                        Some(h) if amount > h.amount => vec![IntentEvent::HoldExtended {
                            context,
                            mode: ExtensionMode::Incremental,
                            reference,
                            // amount > h.amount, and h.amount is part of what is held.
                            added: money(amount.saturating_sub(h.amount)),
                            total: money(
                                self.authorized()
                                    .saturating_sub(h.amount)
                                    .saturating_add(amount),
                            ),
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
                        released: money(
                            self.authorized()
                                .saturating_sub(amount.amount)
                                .max(Decimal::ZERO),
                        ),
                        uncollected: money(self.uncollected),
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
                            released: money(self.authorized()),
                            reason: VoidReason::Provider,
                            at,
                        }]
                    }
                    Some(Status::Pending) => vec![IntentEvent::PaymentFailed {
                        context,
                        amount: money(self.pending_amount()),
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
                    amount: money(self.pending_amount()),
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
            } if self.pending_refund(refund_id) == Some(amount.amount) => {
                self.record_refund(refund_id, Ok(reference), at)?
            }
            Observed::Refunded { .. } => vec![],
        };
        Ok(events)
    }
}
