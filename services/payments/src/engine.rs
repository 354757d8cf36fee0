//! The engine: runs a payment intent's pending operation against its provider and records the answer.
//!
//! Every operation is first recorded in the intent (`*Requested`, with an attempt number), then asked
//! of the provider with an idempotency key derived from the intent, the operation and the attempt, then
//! the answer is recorded. [`Engine::drive`] repeats this until nothing is pending, from wherever it
//! stopped: after a crash between the provider call and the record, the next driver (the redelivered
//! message, the API client's retry with its idempotency key, or the sweeper) asks again with the same
//! key and records the provider's first answer. An unknown outcome (timeout, 5xx) leaves the operation
//! pending; only a hold that never got an answer is given up on (recorded as failed with the code).
//!
//! Fault injection: `JOULE_FAULT_PAYMENTS_CRASH_AFTER_PROVIDER=<operation>` (authorize, extend,
//! capture, void, refund) makes the process exit abruptly right after the provider answered that
//! operation and before the answer is recorded. The kill test uses it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cqrs_es::AggregateError;
use joule_domain::{Currency, Money, limits};
use joule_store::CommandMeta;
use rust_decimal::Decimal;

use crate::domain::intent::{
    Approval, Decline, Extension, ExtensionMode, IntentCommand, IntentError, Open, PaymentIntent,
    PendingOp, RetryPolicy, StopRequest, VoidReason,
};
use crate::domain::methods::AccountMethods;
use crate::domain::wallet::Wallet;
use crate::ids::{IntentId, RefundId};
use crate::provider::{
    AuthorizeCall, HoldCall, Provider, ProviderError, ProviderErrorKind, Providers, RefundCall,
};
use crate::store::{Aggregates, Versioned};

/// Tries of a call whose outcome is unknown, with the same key, before the engine gives up for now.
const UNKNOWN_OUTCOME_TRIES: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Intent(#[from] IntentError),
    /// The provider did not answer; the operation stays pending and is asked again later.
    #[error("payment provider unavailable: {0}")]
    ProviderUnavailable(String),
    #[error("payments store: {0}")]
    Store(String),
}

impl From<AggregateError<IntentError>> for EngineError {
    fn from(e: AggregateError<IntentError>) -> Self {
        match e {
            AggregateError::UserError(e) => EngineError::Intent(e),
            other => EngineError::Store(other.to_string()),
        }
    }
}

/// How an extension ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendOutcome {
    Extended(ExtensionMode),
    Exhausted { reason: String, code: String },
}

pub struct Engine {
    pub intents: Aggregates<PaymentIntent>,
    pub methods: Aggregates<AccountMethods>,
    pub wallets: Arc<Aggregates<Wallet>>,
    pub providers: Providers,
    pub policy: RetryPolicy,
    crash_after: Option<String>,
}

fn key(intent: IntentId, operation: &str, attempt: impl std::fmt::Display, part: usize) -> String {
    format!("joule-{intent}-{operation}-{attempt}-{part}")
}

fn decline(e: ProviderError) -> Decline {
    Decline::new(e.code, e.message)
}

/// Asks again, with the same key, while the outcome is unknown.
async fn retried<T, F, Fut>(mut call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut tries: u32 = 0;
    loop {
        match call().await {
            Err(e)
                if e.kind == ProviderErrorKind::Unavailable
                    && tries < UNKNOWN_OUTCOME_TRIES.saturating_sub(1) =>
            {
                // At most UNKNOWN_OUTCOME_TRIES tries: the count and the delay stay small.
                tries = tries.saturating_add(1);
                tracing::warn!(code = %e.code, error = %e.message, retry_in = ?delay, "provider outcome unknown; asking again");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            other => return other,
        }
    }
}

/// An amount a provider may be asked for: at most the currency's maximum
/// (`joule_domain::limits::max_amount`). Requests are checked at the edge; this guards what was
/// recorded before the limit existed and what the running cost asks for.
fn within_limit(amount: Decimal, currency: Currency) -> Result<(), ProviderError> {
    limits::check_max_amount("amount", amount, currency)
        .map_err(|e| ProviderError::invalid("amount_too_large", e.to_string()))
}

/// How much of `total` each hold takes, in order: the first holds are used up first.
fn spread(total: Decimal, amounts: &[Decimal]) -> Vec<Decimal> {
    let mut left = total;
    amounts
        .iter()
        .map(|a| {
            let take = left.min(*a).max(Decimal::ZERO);
            // take <= left: the difference cannot overflow.
            left = left.saturating_sub(take);
            take
        })
        .collect()
}

impl Engine {
    pub fn new(
        intents: Aggregates<PaymentIntent>,
        methods: Aggregates<AccountMethods>,
        wallets: Arc<Aggregates<Wallet>>,
        providers: Providers,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            intents,
            methods,
            wallets,
            providers,
            policy,
            crash_after: joule_store::fault::armed(
                joule_store::fault::PAYMENTS_CRASH_AFTER_PROVIDER,
            ),
        }
    }

    fn crash_point(&self, operation: &str, intent: IntentId) {
        if self.crash_after.as_deref() == Some(operation) {
            joule_store::fault::crash(
                "payments after the provider call, before recording it",
                &format!("{operation} {intent}"),
            );
        }
    }

    pub async fn load(&self, id: IntentId) -> Result<PaymentIntent, EngineError> {
        Ok(self.intents.load(&id.to_string()).await?)
    }

    async fn execute(
        &self,
        id: IntentId,
        known: Option<Versioned<PaymentIntent>>,
        command: IntentCommand,
        meta: &CommandMeta,
    ) -> Result<Versioned<PaymentIntent>, EngineError> {
        Ok(self
            .intents
            .execute_on(&id.to_string(), known, command, meta)
            .await?)
    }

    /// Opens the intent (once) and places its hold.
    pub async fn open(
        &self,
        id: IntentId,
        open: Open,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        // A new intent has no events: its first commit starts from the empty state without reading
        // the store. If it exists after all (a redelivered start), that commit conflicts and the
        // command runs again on the stored events, where opening again records nothing.
        let empty = Versioned {
            state: PaymentIntent::default(),
            sequence: 0,
        };
        let intent = self
            .execute(id, Some(empty), IntentCommand::Open(open), meta)
            .await?;
        self.drive_on(id, intent, meta).await
    }

    /// Runs pending operations until none is left.
    pub async fn drive(
        &self,
        id: IntentId,
        intent: PaymentIntent,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        let Some(op) = intent.pending.clone() else {
            return Ok(intent);
        };
        // The caller's state carries no sequence: the first record reads the events again.
        let intent = self.perform(id, &intent, None, op, meta).await?;
        self.drive_on(id, intent, meta).await
    }

    async fn drive_on(
        &self,
        id: IntentId,
        mut intent: Versioned<PaymentIntent>,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        while let Some(op) = intent.state.pending.clone() {
            let state = intent.state.clone();
            intent = self.perform(id, &state, Some(intent), op, meta).await?;
        }
        Ok(intent.state)
    }

    fn provider(&self, intent: &PaymentIntent) -> Result<&Arc<dyn Provider>, EngineError> {
        let context = intent.context.as_ref().ok_or(IntentError::NotFound)?;
        self.providers
            .get(context.provider)
            .map_err(|e| EngineError::ProviderUnavailable(e.message))
    }

    async fn perform(
        &self,
        id: IntentId,
        intent: &PaymentIntent,
        known: Option<Versioned<PaymentIntent>>,
        op: PendingOp,
        meta: &CommandMeta,
    ) -> Result<Versioned<PaymentIntent>, EngineError> {
        let context = intent.context.clone().ok_or(IntentError::NotFound)?;
        let provider = self.provider(intent)?;
        let currency = context.currency;
        let unknown = |e: ProviderError| EngineError::ProviderUnavailable(e.to_string());
        let command = match op {
            PendingOp::Authorize { attempt, amount } => {
                let call = AuthorizeCall {
                    idempotency_key: key(id, "authorize", attempt, 0),
                    intent_id: id.to_string(),
                    token: &context.token,
                    customer: &context.customer,
                    amount: Money::new(amount, currency),
                };
                let result = match within_limit(amount, currency) {
                    Ok(()) => retried(|| provider.authorize(&call)).await,
                    Err(refused) => Err(refused),
                };
                self.crash_point("authorize", id);
                // A hold that never got an answer is given up on: the session must not wait for it.
                IntentCommand::RecordAuthorization {
                    attempt,
                    result: result
                        .map(|a| Approval {
                            reference: a.reference,
                            amount: a.amount,
                            incremental: a.incremental,
                        })
                        .map_err(decline),
                    at: Utc::now(),
                }
            }
            PendingOp::Extend { attempt, new_total } => {
                let first = intent.holds.first().cloned().ok_or(IntentError::NotFound)?;
                // An extension above the currency's maximum (one an older version recorded, or a
                // running cost beyond any hold) is refused here, before the provider is asked: it
                // ends as a failed extension (`HoldExhausted`, `amount_too_large`).
                let amounts = within_limit(new_total, currency).and_then(|()| {
                    let added = new_total.checked_sub(intent.authorized());
                    let raised = added.and_then(|a| first.amount.checked_add(a));
                    added.zip(raised).ok_or_else(|| {
                        ProviderError::invalid("amount_too_large", new_total.to_string())
                    })
                });
                let result = match amounts {
                    Err(refused) => Err(decline(refused)),
                    Ok((added, raised)) => {
                        let incremental = if intent.incremental {
                            let call = HoldCall {
                                idempotency_key: key(id, "extend", attempt, 0),
                                reference: &first.reference,
                                amount: Money::new(raised, currency),
                            };
                            retried(|| provider.increment(&call)).await
                        } else {
                            Err(ProviderError::unsupported("the hold cannot be raised"))
                        };
                        match incremental {
                            Ok(_) => Ok(Extension {
                                mode: ExtensionMode::Incremental,
                                reference: first.reference.clone(),
                                added,
                            }),
                            Err(e) if e.kind == ProviderErrorKind::Unsupported => {
                                let call = AuthorizeCall {
                                    idempotency_key: key(id, "extend", attempt, 1),
                                    intent_id: id.to_string(),
                                    token: &context.token,
                                    customer: &context.customer,
                                    amount: Money::new(added, currency),
                                };
                                match retried(|| provider.authorize(&call)).await {
                                    Ok(a) => Ok(Extension {
                                        mode: ExtensionMode::SecondHold,
                                        reference: a.reference,
                                        added: a.amount,
                                    }),
                                    Err(e) if e.kind == ProviderErrorKind::Unavailable => {
                                        return Err(unknown(e));
                                    }
                                    Err(e) => Err(decline(e)),
                                }
                            }
                            Err(e) if e.kind == ProviderErrorKind::Unavailable => {
                                return Err(unknown(e));
                            }
                            Err(e) => Err(decline(e)),
                        }
                    }
                };
                self.crash_point("extend", id);
                IntentCommand::RecordExtension {
                    attempt,
                    result,
                    at: Utc::now(),
                }
            }
            PendingOp::Capture { attempt, amount } => {
                let holds: Vec<Decimal> = intent.holds.iter().map(|h| h.amount).collect();
                let mut result = Ok(());
                for (part, (hold, take)) in
                    intent.holds.iter().zip(spread(amount, &holds)).enumerate()
                {
                    if hold.amount.is_zero() {
                        continue;
                    }
                    let call = HoldCall {
                        idempotency_key: key(id, "capture", attempt, part),
                        reference: &hold.reference,
                        amount: Money::new(take, currency),
                    };
                    let answer = if take.is_zero() {
                        retried(|| provider.cancel(&call)).await
                    } else {
                        retried(|| provider.capture(&call)).await.map(|_| ())
                    };
                    match answer {
                        Ok(()) => {}
                        Err(e) if e.kind == ProviderErrorKind::Unavailable => {
                            return Err(unknown(e));
                        }
                        Err(e) => {
                            result = Err(decline(e));
                            break;
                        }
                    }
                }
                self.crash_point("capture", id);
                IntentCommand::RecordCapture {
                    attempt,
                    result,
                    at: Utc::now(),
                    policy: self.policy,
                }
            }
            PendingOp::Void { attempt, .. } => {
                for (part, hold) in intent.holds.iter().enumerate() {
                    if hold.amount.is_zero() {
                        continue;
                    }
                    let call = HoldCall {
                        idempotency_key: key(id, "void", attempt, part),
                        reference: &hold.reference,
                        amount: Money::zero(currency),
                    };
                    match retried(|| provider.cancel(&call)).await {
                        Ok(()) => {}
                        Err(e) if e.kind == ProviderErrorKind::Unavailable => {
                            return Err(unknown(e));
                        }
                        // A hold the provider will not cancel lapses by itself; nothing was taken.
                        Err(e) => {
                            tracing::warn!(intent = %id, code = %e.code, error = %e.message, "provider refused to cancel a hold");
                        }
                    }
                }
                self.crash_point("void", id);
                IntentCommand::RecordVoid {
                    attempt,
                    at: Utc::now(),
                }
            }
            PendingOp::Refund { refund_id, amount } => {
                let holds: Vec<Decimal> = intent.holds.iter().map(|h| h.amount).collect();
                let captured = spread(intent.captured, &holds);
                let refunded = spread(intent.refunded, &captured);
                let left: Vec<Decimal> = captured
                    .iter()
                    .zip(&refunded)
                    // Each refunded piece is at most its captured piece (`spread`).
                    .map(|(c, r)| c.saturating_sub(*r))
                    .collect();
                let reason = intent
                    .refunds
                    .iter()
                    .find(|r| r.refund_id == refund_id)
                    .map(|r| r.reason.clone())
                    .unwrap_or_default();
                let mut references = Vec::new();
                let mut result = Ok(());
                for (part, (hold, piece)) in
                    intent.holds.iter().zip(spread(amount, &left)).enumerate()
                {
                    if piece.is_zero() {
                        continue;
                    }
                    let call = RefundCall {
                        idempotency_key: key(id, "refund", refund_id, part),
                        reference: &hold.reference,
                        amount: Money::new(piece, currency),
                        refund_id: refund_id.to_string(),
                        reason: &reason,
                    };
                    match retried(|| provider.refund(&call)).await {
                        Ok(reference) => references.push(reference),
                        Err(e) if e.kind == ProviderErrorKind::Unavailable => {
                            return Err(unknown(e));
                        }
                        Err(e) => {
                            result = Err(decline(e));
                            break;
                        }
                    }
                }
                self.crash_point("refund", id);
                IntentCommand::RecordRefund {
                    refund_id,
                    result: result.map(|()| references.join(",")),
                    at: Utc::now(),
                }
            }
        };
        self.execute(id, known, command, meta).await
    }

    /// Raises the hold to `new_total`: incremental authorisation where the provider offers it, a
    /// second hold where it does not; when neither works the intent records `HoldExhausted`, which is
    /// published for the gateway to stop or limit the charge.
    pub async fn extend(
        &self,
        id: IntentId,
        new_total: Decimal,
        meta: &CommandMeta,
    ) -> Result<(PaymentIntent, ExtendOutcome), EngineError> {
        let before = self.load(id).await?;
        let holds_before = before.holds.len();
        let intent = self
            .execute(
                id,
                None,
                IntentCommand::RequestExtension { new_total },
                meta,
            )
            .await?;
        let intent = self.drive_on(id, intent, meta).await?;
        let outcome = if intent.authorized() >= new_total {
            ExtendOutcome::Extended(if intent.holds.len() > holds_before {
                ExtensionMode::SecondHold
            } else {
                ExtensionMode::Incremental
            })
        } else {
            let failure = intent
                .failure
                .clone()
                .unwrap_or_else(|| Decline::new("", ""));
            ExtendOutcome::Exhausted {
                reason: failure.message,
                code: failure.code,
            }
        };
        Ok((intent, outcome))
    }

    /// The intent with the sequence of its last event: a caller that checks the intent before a
    /// command hands it on, so the command does not read the events a second time.
    pub async fn load_versioned(
        &self,
        id: IntentId,
    ) -> Result<Versioned<PaymentIntent>, EngineError> {
        Ok(self.intents.load_versioned(&id.to_string()).await?)
    }

    /// Captures `amount` (what is held at most; the rest is released). Zero voids the hold.
    pub async fn capture(
        &self,
        id: IntentId,
        amount: Money,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        self.capture_on(id, None, amount, meta).await
    }

    /// [`Engine::capture`] on the state the caller loaded (`known`), without reading it again; if
    /// another writer committed since, the request's commit conflicts and runs on the stored events.
    pub async fn capture_on(
        &self,
        id: IntentId,
        known: Option<Versioned<PaymentIntent>>,
        amount: Money,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        let intent = self
            .execute(id, known, IntentCommand::RequestCapture { amount }, meta)
            .await?;
        self.drive_on(id, intent, meta).await
    }

    /// Records that the gateway was asked to stop the charge of an exhausted hold (and its answer).
    pub async fn record_stop(
        &self,
        id: IntentId,
        stop: StopRequest,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        let intent = self
            .execute(
                id,
                None,
                IntentCommand::RecordStopRequest {
                    stop,
                    at: Utc::now(),
                },
                meta,
            )
            .await?;
        Ok(intent.state)
    }

    pub async fn void(
        &self,
        id: IntentId,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        let intent = self
            .execute(
                id,
                None,
                IntentCommand::RequestVoid {
                    reason: VoidReason::Requested,
                },
                meta,
            )
            .await?;
        self.drive_on(id, intent, meta).await
    }

    pub async fn refund(
        &self,
        id: IntentId,
        refund_id: RefundId,
        amount: Money,
        reason: String,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        let intent = self
            .execute(
                id,
                None,
                IntentCommand::RequestRefund {
                    refund_id,
                    amount,
                    reason,
                },
                meta,
            )
            .await?;
        self.drive_on(id, intent, meta).await
    }

    /// A failed capture whose retry time has come is asked again.
    pub async fn retry_capture(
        &self,
        id: IntentId,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        let intent = self
            .execute(
                id,
                None,
                IntentCommand::RetryCapture { at: Utc::now() },
                meta,
            )
            .await?;
        self.drive_on(id, intent, meta).await
    }

    /// Resumes whatever is pending on an intent (after a crash or a provider outage).
    pub async fn resume(
        &self,
        id: IntentId,
        meta: &CommandMeta,
    ) -> Result<PaymentIntent, EngineError> {
        let intent = self.load(id).await?;
        self.drive(id, intent, meta).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_are_spread_over_the_holds_in_order() {
        assert_eq!(
            spread(dec!(70), &[dec!(50), dec!(30)]),
            vec![dec!(50), dec!(20)]
        );
        assert_eq!(
            spread(dec!(20), &[dec!(50), dec!(30)]),
            vec![dec!(20), dec!(0)]
        );
        assert_eq!(spread(dec!(0), &[dec!(50)]), vec![dec!(0)]);
    }

    #[test]
    fn keys_name_the_intent_operation_and_attempt() {
        let id = IntentId::derived("x");
        assert_eq!(key(id, "capture", 2, 1), format!("joule-{id}-capture-2-1"));
        assert_ne!(key(id, "capture", 1, 0), key(id, "capture", 2, 0));
    }
}
