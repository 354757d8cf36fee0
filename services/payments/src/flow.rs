//! The payment flow of charging sessions, shared by the consumers and the gRPC service.
//!
//! - At session start, an account whose default method is a card or a wallet gets a hold; an account
//!   without one pays later, by invoice. The first to decide for a session wins (`session_decisions`):
//!   a session priced before payments saw its start is settled by invoice, and a start seen after its
//!   price asks for nothing. The `hold` decision is written by the intent's opening commit itself (a
//!   trigger on the event store), so a hold costs one commit less and a decided hold always has its
//!   intent.
//! - When the session is priced, the intent captures the receipt's gross (see [`crate::amounts`]) and
//!   releases the rest; zero voids the hold; a hold that was declined captures nothing and the invoice
//!   stays receivable.

use std::sync::Arc;

use chrono::Utc;
use joule_domain::{AccountId, Currency, Money, SessionId, TenantId};
use joule_proto::v1::SessionPriced;
use joule_store::CommandMeta;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::amounts::{AmountError, HoldAmountSource, HoldQuoteRequest, capture_amount};
use crate::domain::intent::{
    IntentContext, IntentError, Open, PaymentIntent, ProviderKind, Purpose, Status,
};
use crate::engine::{Engine, EngineError};
use crate::ids::{IntentId, WalletId};

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Invalid(#[from] AmountError),
    /// The account is not (yet) in the payments service's registry projection.
    #[error("account {0} is not known (yet)")]
    UnknownAccount(AccountId),
    /// A hold is being placed by someone else; the caller retries.
    #[error("the session's hold is still being placed")]
    HoldInProgress,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("payments store: {0}")]
    Store(String),
}

impl From<sqlx::Error> for FlowError {
    fn from(e: sqlx::Error) -> Self {
        FlowError::Store(e.to_string())
    }
}

impl<E: std::error::Error> From<cqrs_es::AggregateError<E>> for FlowError {
    fn from(e: cqrs_es::AggregateError<E>) -> Self {
        FlowError::Store(e.to_string())
    }
}

/// What happened to a session's payment at start.
#[derive(Debug, Clone)]
pub enum Decision {
    /// A hold is placed.
    Approved(Box<PaymentIntent>),
    /// The hold was refused; the intent keeps the provider's code.
    Declined(Box<PaymentIntent>),
    /// No hold: the session is billed by invoice.
    PayLater(&'static str),
}

#[derive(Debug, Clone)]
pub struct SessionStart {
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub account_id: AccountId,
    pub currency: Option<Currency>,
    pub charger_id: Option<String>,
    pub amount: Option<Decimal>,
}

pub struct Flow {
    pub engine: Arc<Engine>,
    pub pool: PgPool,
    pub schema: String,
    pub holds: Arc<dyn HoldAmountSource>,
}

impl Flow {
    /// The account's currency, from the REGISTRY projection.
    pub async fn account_currency(
        &self,
        account: AccountId,
    ) -> Result<Option<Currency>, FlowError> {
        let code: Option<String> = sqlx::query_scalar(&format!(
            "SELECT currency FROM {}.accounts WHERE account_id = $1",
            self.schema
        ))
        .bind(account.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        Ok(code.and_then(|c| c.parse().ok()))
    }

    /// Records `decision` for the session unless one is recorded; returns the recorded one.
    async fn decide(&self, session: SessionId, decision: &str) -> Result<String, FlowError> {
        let s = &self.schema;
        sqlx::query(&format!(
            "INSERT INTO {s}.session_decisions (session_id, decision) VALUES ($1, $2)
             ON CONFLICT (session_id) DO NOTHING"
        ))
        .bind(session.as_uuid())
        .bind(decision)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_scalar(&format!(
            "SELECT decision FROM {s}.session_decisions WHERE session_id = $1"
        ))
        .bind(session.as_uuid())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn recorded(&self, session: SessionId) -> Result<Option<String>, FlowError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT decision FROM {}.session_decisions WHERE session_id = $1",
            self.schema
        ))
        .bind(session.as_uuid())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn pay_later(
        &self,
        session: SessionId,
        why: &'static str,
    ) -> Result<Option<Decision>, FlowError> {
        match self.decide(session, "pay_later").await?.as_str() {
            "pay_later" => Ok(Some(Decision::PayLater(why))),
            _ => Ok(None),
        }
    }

    /// Places the session's hold, or decides it pays later. Idempotent per session.
    pub async fn start_session(
        &self,
        start: SessionStart,
        meta: &CommandMeta,
    ) -> Result<Decision, FlowError> {
        let session = start.session_id;
        let intent_id = IntentId::for_session(session);
        // No read of the session's decision first: the opening below settles every case in its one
        // commit. A session decided to pay later refuses the opening (the trigger); a start seen
        // again finds its intent open (the commit conflicts and opening again records nothing) and
        // drives it; a `hold` decision left without its intent by an older version is opened.
        let methods = self
            .engine
            .methods
            .load(&start.account_id.to_string())
            .await?;
        let Some(method) = methods.default_method().cloned() else {
            return self
                .settled_later(session, "no default payment method", intent_id, meta)
                .await;
        };
        let currency = match start.currency {
            Some(c) => c,
            None => self
                .account_currency(start.account_id)
                .await?
                .ok_or(FlowError::UnknownAccount(start.account_id))?,
        };
        if method.provider == ProviderKind::Wallet
            && method.token != WalletId::for_account(start.account_id, currency).to_string()
        {
            return self
                .settled_later(
                    session,
                    "the default wallet is in another currency",
                    intent_id,
                    meta,
                )
                .await;
        }
        let amount = match start.amount {
            Some(a) => Some(Money::new(a, currency)),
            None => {
                self.holds
                    .hold_amount(&HoldQuoteRequest {
                        account_id: start.account_id,
                        session_id: session,
                        charger_id: start.charger_id.clone(),
                        currency,
                    })
                    .await
            }
        };
        let Some(amount) = amount else {
            return self
                .settled_later(session, "no hold amount for the currency", intent_id, meta)
                .await;
        };
        let context = IntentContext {
            tenant_id: start.tenant_id,
            account_id: start.account_id,
            session_id: Some(session),
            order_id: None,
            purpose: Purpose::Session,
            provider: method.provider,
            method_id: method.method_id,
            token: method.token.clone(),
            customer: method.customer.clone(),
            currency,
        };
        // The opening commits the session's `hold` decision with it (a trigger, migration 4), and is
        // refused when the session was decided to pay later meanwhile.
        let opened = self
            .engine
            .open(
                intent_id,
                Open {
                    context,
                    amount,
                    at: Utc::now(),
                },
                meta,
            )
            .await;
        match opened {
            Ok(intent) => Ok(outcome(intent)),
            Err(EngineError::Store(e)) => match self.recorded(session).await?.as_deref() {
                Some("pay_later") => Ok(Decision::PayLater("priced before its start was seen")),
                _ => Err(EngineError::Store(e).into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    async fn settled_later(
        &self,
        session: SessionId,
        why: &'static str,
        intent_id: IntentId,
        meta: &CommandMeta,
    ) -> Result<Decision, FlowError> {
        match self.pay_later(session, why).await? {
            Some(d) => Ok(d),
            None => self.hold_outcome(intent_id, meta).await,
        }
    }

    async fn hold_outcome(&self, id: IntentId, meta: &CommandMeta) -> Result<Decision, FlowError> {
        let intent = self.engine.load(id).await?;
        if intent.context.is_none() {
            // Decided for a hold by a process that has not opened it yet (or died before): the
            // session's start message is redelivered and opens it.
            return Err(FlowError::HoldInProgress);
        }
        Ok(outcome(self.engine.drive(id, intent, meta).await?))
    }

    /// Captures a priced session's receipt gross from its hold (nothing for a session paid later).
    pub async fn settle_priced(
        &self,
        priced: &SessionPriced,
        meta: &CommandMeta,
    ) -> Result<Option<PaymentIntent>, FlowError> {
        let session: SessionId = priced
            .session_id
            .parse()
            .map_err(|e: joule_domain::IdError| AmountError::new("session_id", e.to_string()))?;
        if self.decide(session, "pay_later").await? == "pay_later" {
            return Ok(None);
        }
        let id = IntentId::for_session(session);
        let intent = self.engine.load(id).await?;
        let Some(context) = intent.context.clone() else {
            return Err(FlowError::HoldInProgress);
        };
        let intent = self.engine.drive(id, intent, meta).await?;
        match intent.status() {
            Some(Status::Failed) | Some(Status::Voided) | Some(Status::Dunning) => {
                return Ok(Some(intent));
            }
            _ => {}
        }
        let amount = capture_amount(priced)?;
        if amount.currency != context.currency {
            tracing::error!(session = %session, priced = %amount.currency, held = %context.currency,
                "session priced in another currency than its hold; releasing the hold, the invoice stays receivable");
            return Ok(Some(self.engine.void(id, meta).await?));
        }
        match self.engine.capture(id, amount, meta).await {
            Ok(intent) => Ok(Some(intent)),
            // Priced again with another amount after it was captured: the first capture stands.
            Err(EngineError::Intent(e @ IntentError::AlreadyCaptured { .. })) => {
                tracing::warn!(session = %session, error = %e, "session priced again after capture; keeping the capture");
                Ok(Some(self.engine.load(id).await?))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn outcome(intent: PaymentIntent) -> Decision {
    match intent.status() {
        Some(Status::Failed) => Decision::Declined(Box::new(intent)),
        _ => Decision::Approved(Box::new(intent)),
    }
}
