//! `joule.v1.PaymentsService`, and the one mapping from the service's errors to gRPC status codes.
//! Every write runs under its idempotency key ([`crate::idempotency`]); refusals name the field.

use std::sync::Arc;

use chrono::Utc;
use cqrs_es::AggregateError;
use joule_domain::{AccountId, Currency, Money, SessionId};
use joule_proto::v1;
use joule_proto::v1::payments_service_server::PaymentsService;
use joule_store::CommandMeta;
use rust_decimal::Decimal;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use uuid::Uuid;

use crate::amounts::{AmountError, parse_amount, parse_currency, wire};
use crate::engine::{EngineError, ExtendOutcome};
use crate::flow::{Decision, Flow, FlowError, SessionStart};
use crate::idempotency::IdempotencyStore;
use crate::ids::{IntentId, MethodId, RefundId, SettlementLineId, WalletId};
use crate::intent::{
    IntentContext, IntentError, Open, PaymentIntent, ProviderKind, Purpose, Status as IntentStatus,
};
use crate::methods::{AccountMethods, MethodsCommand, SavedMethod};
use crate::provider::{DescribeCall, ProviderErrorKind};
use crate::settlement::{RecordLine, SettlementRecord, parse_report};
use crate::store::Aggregates;
use crate::views;
use crate::wallet::{Funding, Wallet, WalletCommand, WalletError};

fn invalid(field: &str, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}

impl From<AmountError> for Status {
    fn from(e: AmountError) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

impl From<IntentError> for Status {
    fn from(e: IntentError) -> Self {
        match &e {
            IntentError::NotFound => Status::not_found("no such payment"),
            IntentError::InvalidAmount { .. }
            | IntentError::CurrencyMismatch { .. }
            | IntentError::RefundExceedsCaptured { .. }
            | IntentError::ExtensionNotAbove { .. } => Status::invalid_argument(e.to_string()),
            IntentError::Voided
            | IntentError::InvalidState { .. }
            | IntentError::AlreadyCaptured { .. }
            | IntentError::OpenedDifferently => Status::failed_precondition(e.to_string()),
            IntentError::InProgress(_) => Status::aborted(e.to_string()),
        }
    }
}

impl From<EngineError> for Status {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Intent(e) => e.into(),
            EngineError::ProviderUnavailable(reason) => {
                tracing::warn!(%reason, "payment provider unavailable");
                Status::unavailable(
                    "the payment provider is unavailable; retry with the same idempotency key",
                )
            }
            EngineError::Store(reason) => {
                tracing::error!(%reason, "payments store failed");
                Status::unavailable("payments store unavailable")
            }
        }
    }
}

impl From<FlowError> for Status {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Invalid(e) => e.into(),
            FlowError::UnknownAccount(a) => Status::invalid_argument(format!(
                "currency: account {a} is not known to payments yet; give the currency"
            )),
            FlowError::HoldInProgress => {
                Status::aborted("the session's hold is being placed; retry")
            }
            FlowError::Engine(e) => e.into(),
            FlowError::Store(reason) => {
                tracing::error!(%reason, "payments store failed");
                Status::unavailable("payments store unavailable")
            }
        }
    }
}

fn store_error<E: std::error::Error>(e: AggregateError<E>) -> Status {
    tracing::error!(error = %e, "payments store failed");
    Status::unavailable("payments store unavailable")
}

fn db(e: sqlx::Error) -> Status {
    tracing::error!(error = %e, "payments read failed");
    Status::unavailable("payments store unavailable")
}

pub struct PaymentsGrpc {
    pub flow: Arc<Flow>,
    pub wallets: Arc<Aggregates<Wallet>>,
    pub settlements: Aggregates<SettlementRecord>,
    pub idempotency: IdempotencyStore,
    pub pool: PgPool,
    pub schema: String,
    pub default_tenant: String,
}

fn tenant(default: &str, given: &str) -> String {
    if given.is_empty() {
        default.to_owned()
    } else {
        given.to_owned()
    }
}

fn meta(tenant: &str) -> CommandMeta {
    CommandMeta {
        tenant_id: tenant.to_owned(),
        correlation_id: Uuid::new_v4().to_string(),
        causation_id: String::new(),
    }
}

fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, Status>
where
    T::Err: std::fmt::Display,
{
    if raw.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    raw.trim().parse().map_err(|e| invalid(field, e))
}

/// The wire form of an intent from its aggregate (consistent right after a write), with the history
/// from the read table (which follows within milliseconds).
pub fn intent_proto(id: IntentId, intent: &PaymentIntent) -> v1::PaymentIntent {
    let Some(c) = &intent.context else {
        return v1::PaymentIntent {
            id: id.to_string(),
            ..Default::default()
        };
    };
    let cur = c.currency;
    let failure = intent.failure.clone();
    v1::PaymentIntent {
        id: id.to_string(),
        session_id: c.session_id.map(|s| s.to_string()).unwrap_or_default(),
        order_id: c.order_id.clone().unwrap_or_default(),
        account_id: c.account_id.to_string(),
        provider: c.provider.as_str().into(),
        kind: c.provider.kind().into(),
        purpose: c.purpose.as_str().into(),
        payment_method_id: c.method_id.to_string(),
        status: intent
            .status()
            .map_or("pending", IntentStatus::as_str)
            .into(),
        currency: cur.to_string(),
        amount_authorized: wire(intent.authorized(), cur),
        amount_captured: wire(intent.captured, cur),
        amount_refunded: wire(intent.refunded, cur),
        failure_code: failure.as_ref().map(|f| f.code.clone()).unwrap_or_default(),
        failure_message: failure.map(|f| f.message).unwrap_or_default(),
        events: vec![],
        created_at: None,
        updated_at: Some(joule_proto::time::to_proto(Utc::now())),
    }
}

fn method_proto(
    account: AccountId,
    m: &SavedMethod,
    methods: &AccountMethods,
) -> v1::PaymentMethod {
    v1::PaymentMethod {
        id: m.method_id.to_string(),
        account_id: account.to_string(),
        provider: m.provider.as_str().into(),
        kind: m.provider.kind().into(),
        brand: m.brand.clone(),
        last4: m.last4.clone(),
        exp_month: m.exp_month,
        exp_year: m.exp_year,
        is_default: methods.default == Some(m.method_id),
        created_at: Some(joule_proto::time::to_proto(Utc::now())),
    }
}

fn wallet_proto(id: WalletId, w: &Wallet) -> v1::Wallet {
    let c = w.currency.unwrap_or(Currency::EUR);
    v1::Wallet {
        id: id.to_string(),
        account_id: w.account_id.map(|a| a.to_string()).unwrap_or_default(),
        currency: c.to_string(),
        balance: wire(w.balance, c),
        held: wire(w.held(), c),
        available: wire(w.available(), c),
        created_at: None,
    }
}

impl PaymentsGrpc {
    async fn load_intent(&self, raw: &str) -> Result<(IntentId, PaymentIntent), Status> {
        let id: IntentId = parse_id("intent_id", raw)?;
        let intent = self.flow.engine.load(id).await?;
        if intent.context.is_none() {
            return Err(Status::not_found(format!("no payment {id}")));
        }
        Ok((id, intent))
    }

    async fn with_history(&self, tenant: &str, mut p: v1::PaymentIntent) -> v1::PaymentIntent {
        if let Ok(id) = Uuid::parse_str(&p.id)
            && let Ok(Some(read)) = views::intent(&self.pool, &self.schema, tenant, id).await
        {
            p.events = read.events;
            p.created_at = read.created_at;
        }
        p
    }

    async fn save_method(
        &self,
        r: v1::SavePaymentMethodRequest,
    ) -> Result<v1::PaymentMethod, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let account: AccountId = parse_id("account_id", &r.account_id)?;
        let provider = ProviderKind::parse_external(r.provider.trim()).ok_or_else(|| {
            invalid(
                "provider",
                format!("{:?} is not a provider (sandbox or stripe)", r.provider),
            )
        })?;
        let token = r.provider_token.trim();
        if token.is_empty() {
            return Err(invalid("provider_token", "is required"));
        }
        let engine = &self.flow.engine;
        let methods = engine
            .methods
            .load(&account.to_string())
            .await
            .map_err(store_error)?;
        let method_id = MethodId::for_token(account, provider.as_str(), token);
        let saved = match methods.get(method_id) {
            Some(m) => m.clone(),
            None => {
                let p = engine
                    .providers
                    .get(provider)
                    .map_err(|e| Status::failed_precondition(format!("provider: {}", e.message)))?;
                let details = p
                    .describe(&DescribeCall {
                        idempotency_key: format!("joule-method-{method_id}"),
                        account_id: account,
                        customer: methods.customer(provider),
                        token,
                    })
                    .await
                    .map_err(|e| match e.kind {
                        ProviderErrorKind::Unavailable => Status::unavailable(format!(
                            "the {} provider is unavailable",
                            provider.as_str()
                        )),
                        _ => invalid("provider_token", format!("{} ({})", e.message, e.code)),
                    })?;
                SavedMethod {
                    method_id,
                    provider,
                    token: details.token,
                    customer: details.customer,
                    brand: details.brand,
                    last4: details.last4,
                    exp_month: details.exp_month,
                    exp_year: details.exp_year,
                }
            }
        };
        let methods = engine
            .methods
            .execute(
                &account.to_string(),
                MethodsCommand::Save {
                    tenant_id: tenant.clone(),
                    account_id: account,
                    method: saved.clone(),
                    make_default: r.make_default,
                    at: Utc::now(),
                },
                &meta(&tenant),
            )
            .await
            .map_err(|e| match e {
                AggregateError::UserError(e) => Status::failed_precondition(e.to_string()),
                other => store_error(other),
            })?;
        Ok(method_proto(account, &saved, &methods))
    }

    async fn authorize_session(
        &self,
        r: v1::AuthorizeSessionPaymentRequest,
    ) -> Result<v1::AuthorizeSessionPaymentResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let session: SessionId = parse_id("session_id", &r.session_id)?;
        let account: AccountId = parse_id("account_id", &r.account_id)?;
        let currency = match r.currency.trim() {
            "" => None,
            c => Some(parse_currency("currency", c, None)?),
        };
        let amount = match (r.amount.trim(), currency) {
            ("", _) => None,
            (_, None) => return Err(invalid("currency", "is required with an amount")),
            (a, Some(c)) => Some(parse_amount("amount", a, c, false)?),
        };
        let decision = self
            .flow
            .start_session(
                SessionStart {
                    tenant_id: tenant.clone(),
                    session_id: session,
                    account_id: account,
                    currency,
                    charger_id: Some(r.charger_id.clone()).filter(|c| !c.is_empty()),
                    amount,
                },
                &meta(&tenant),
            )
            .await?;
        let id = IntentId::for_session(session);
        Ok(match decision {
            Decision::Approved(intent) => v1::AuthorizeSessionPaymentResponse {
                decision: "approved".into(),
                intent: Some(intent_proto(id, &intent)),
                ..Default::default()
            },
            Decision::Declined(intent) => {
                let failure = intent.failure.clone().unwrap_or_else(|| {
                    crate::intent::Decline::new("declined", "the hold was declined")
                });
                v1::AuthorizeSessionPaymentResponse {
                    decision: "declined".into(),
                    intent: Some(intent_proto(id, &intent)),
                    failure_code: failure.code,
                    failure_message: failure.message,
                }
            }
            Decision::PayLater(why) => v1::AuthorizeSessionPaymentResponse {
                decision: "pay_later".into(),
                intent: None,
                failure_code: String::new(),
                failure_message: why.into(),
            },
        })
    }

    async fn extend(&self, r: v1::ExtendHoldRequest) -> Result<v1::ExtendHoldResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let (id, intent) = self.load_intent(&r.intent_id).await?;
        let currency = intent
            .context
            .as_ref()
            .map(|c| c.currency)
            .ok_or(IntentError::NotFound)?;
        let new_total = parse_amount("new_amount", &r.new_amount, currency, false)?;
        let (intent, outcome) = self
            .flow
            .engine
            .extend(id, new_total, &meta(&tenant))
            .await?;
        let intent = Some(intent_proto(id, &intent));
        Ok(match outcome {
            ExtendOutcome::Extended(mode) => v1::ExtendHoldResponse {
                extended: true,
                mode: mode.as_str().into(),
                intent,
                ..Default::default()
            },
            ExtendOutcome::Exhausted { reason, code } => v1::ExtendHoldResponse {
                extended: false,
                exhausted_reason: reason,
                provider_code: code,
                intent,
                ..Default::default()
            },
        })
    }

    async fn capture(&self, r: v1::CapturePaymentRequest) -> Result<v1::PaymentIntent, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let id: IntentId = parse_id("intent_id", &r.intent_id)?;
        // Loaded once: the capture's request commits on this state (one read of the events less).
        let loaded = self.flow.engine.load_versioned(id).await?;
        let held = loaded
            .state
            .context
            .as_ref()
            .map(|c| c.currency)
            .ok_or_else(|| Status::not_found(format!("no payment {id}")))?;
        let currency = parse_currency("currency", &r.currency, Some(held))?;
        let amount = parse_amount("amount", &r.amount, currency, true)?;
        let intent = self
            .flow
            .engine
            .capture_on(
                id,
                Some(loaded),
                Money::new(amount, currency),
                &meta(&tenant),
            )
            .await?;
        Ok(intent_proto(id, &intent))
    }

    async fn void(&self, r: v1::VoidPaymentRequest) -> Result<v1::PaymentIntent, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let (id, _) = self.load_intent(&r.intent_id).await?;
        let intent = self.flow.engine.void(id, &meta(&tenant)).await?;
        Ok(intent_proto(id, &intent))
    }

    async fn refund(
        &self,
        r: v1::RefundPaymentRequest,
    ) -> Result<v1::RefundPaymentResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let (id, intent) = self.load_intent(&r.intent_id).await?;
        let held = intent
            .context
            .as_ref()
            .map(|c| c.currency)
            .ok_or(IntentError::NotFound)?;
        let currency = parse_currency("currency", &r.currency, Some(held))?;
        let amount = parse_amount("amount", &r.amount, currency, false)?;
        let reason = match r.reason.trim() {
            "" => "requested_by_customer".to_owned(),
            r if r.len() > 200 => return Err(invalid("reason", "must be at most 200 characters")),
            r => r.to_owned(),
        };
        let refund_id = RefundId::derived(&format!("{id}/{}", r.idempotency_key.trim()));
        let intent = self
            .flow
            .engine
            .refund(
                id,
                refund_id,
                Money::new(amount, currency),
                reason.clone(),
                &meta(&tenant),
            )
            .await?;
        let record = intent.refunds.iter().find(|x| x.refund_id == refund_id);
        let refund = v1::Refund {
            id: refund_id.to_string(),
            intent_id: id.to_string(),
            amount: wire(amount, currency),
            currency: currency.to_string(),
            reason,
            status: match record.and_then(|x| x.succeeded) {
                Some(true) => "succeeded",
                Some(false) => "failed",
                None => "pending",
            }
            .into(),
            failure_code: record.map(|x| x.code.clone()).unwrap_or_default(),
        };
        Ok(v1::RefundPaymentResponse {
            refund: Some(refund),
            intent: Some(intent_proto(id, &intent)),
        })
    }

    async fn load_wallet(&self, raw: &str) -> Result<(WalletId, Wallet), Status> {
        let id: WalletId = parse_id("wallet_id", raw)?;
        let wallet = self
            .wallets
            .load(&id.to_string())
            .await
            .map_err(store_error)?;
        if wallet.currency.is_none() {
            return Err(Status::not_found(format!("no wallet {id}")));
        }
        Ok((id, wallet))
    }

    async fn create_wallet(&self, r: v1::CreateWalletRequest) -> Result<v1::Wallet, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let account: AccountId = parse_id("account_id", &r.account_id)?;
        let currency = parse_currency("currency", &r.currency, None)?;
        let id = WalletId::for_account(account, currency);
        let m = meta(&tenant);
        let wallet = self
            .wallets
            .execute(
                &id.to_string(),
                WalletCommand::Open {
                    tenant_id: tenant.clone(),
                    account_id: account,
                    currency,
                    at: Utc::now(),
                },
                &m,
            )
            .await
            .map_err(|e| match e {
                AggregateError::UserError(e) => Status::failed_precondition(e.to_string()),
                other => store_error(other),
            })?;
        let method = SavedMethod {
            method_id: MethodId::for_token(account, "wallet", &id.to_string()),
            provider: ProviderKind::Wallet,
            token: id.to_string(),
            customer: account.to_string(),
            brand: "wallet".into(),
            last4: String::new(),
            exp_month: 0,
            exp_year: 0,
        };
        self.flow
            .engine
            .methods
            .execute(
                &account.to_string(),
                MethodsCommand::Save {
                    tenant_id: tenant.clone(),
                    account_id: account,
                    method,
                    make_default: r.make_default,
                    at: Utc::now(),
                },
                &m,
            )
            .await
            .map_err(store_error)?;
        Ok(wallet_proto(id, &wallet))
    }

    async fn top_up(&self, r: v1::TopUpWalletRequest) -> Result<v1::Wallet, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let (id, wallet) = self.load_wallet(&r.wallet_id).await?;
        let (account, held_currency) = (
            wallet
                .account_id
                .ok_or_else(|| Status::not_found("no such wallet"))?,
            wallet.currency.unwrap_or(Currency::EUR),
        );
        let currency = parse_currency("currency", &r.currency, Some(held_currency))?;
        if currency != held_currency {
            return Err(invalid(
                "currency",
                format!("{currency} does not match the wallet's currency {held_currency}"),
            ));
        }
        let amount = parse_amount("amount", &r.amount, currency, false)?;
        let m = meta(&tenant);
        let top_up_id = format!("top-up/{}", r.idempotency_key.trim());
        let (funding, intent_id) = match (r.reference.trim(), r.payment_method_id.trim()) {
            ("", "") => {
                return Err(invalid(
                    "reference",
                    "give the reference of funds received, or a payment_method_id to charge",
                ));
            }
            (_, "") => (Funding::External, None),
            (_, method) => {
                let method_id: MethodId = parse_id("payment_method_id", method)?;
                let engine = &self.flow.engine;
                let methods = engine
                    .methods
                    .load(&account.to_string())
                    .await
                    .map_err(store_error)?;
                let method = methods
                    .get(method_id)
                    .filter(|m| m.provider != ProviderKind::Wallet)
                    .cloned()
                    .ok_or_else(|| {
                        Status::not_found(format!(
                            "payment_method_id: no card {method_id} saved for the wallet's account"
                        ))
                    })?;
                let intent_id = IntentId::derived(&format!("{id}/{top_up_id}"));
                let opened = engine
                    .open(
                        intent_id,
                        Open {
                            context: IntentContext {
                                tenant_id: tenant.clone(),
                                account_id: account,
                                session_id: None,
                                order_id: Some(top_up_id.clone()),
                                purpose: Purpose::WalletTopUp,
                                provider: method.provider,
                                method_id,
                                token: method.token.clone(),
                                customer: method.customer.clone(),
                                currency,
                            },
                            amount,
                            at: Utc::now(),
                        },
                        &m,
                    )
                    .await?;
                if opened.status() == Some(IntentStatus::Failed) {
                    let f = opened
                        .failure
                        .unwrap_or_else(|| crate::intent::Decline::new("declined", ""));
                    return Err(Status::failed_precondition(format!(
                        "payment_method_id: the card was declined ({}: {})",
                        f.code, f.message
                    )));
                }
                let captured = engine
                    .capture(intent_id, Money::new(amount, currency), &m)
                    .await?;
                if captured.status() != Some(IntentStatus::Captured) {
                    return Err(Status::failed_precondition(format!(
                        "payment_method_id: the card payment could not be captured ({})",
                        captured.failure.map(|f| f.code).unwrap_or_default()
                    )));
                }
                (Funding::Card, Some(intent_id))
            }
        };
        let wallet = self
            .wallets
            .execute(
                &id.to_string(),
                WalletCommand::TopUp {
                    top_up_id,
                    amount,
                    funding,
                    reference: r.reference.trim().to_owned(),
                    intent_id,
                    at: Utc::now(),
                },
                &m,
            )
            .await
            .map_err(|e| match e {
                AggregateError::UserError(e @ WalletError::NotPositive) => invalid("amount", e),
                AggregateError::UserError(e @ WalletError::OutOfRange) => {
                    Status::invalid_argument(e.to_string())
                }
                AggregateError::UserError(e) => Status::failed_precondition(e.to_string()),
                other => store_error(other),
            })?;
        Ok(wallet_proto(id, &wallet))
    }

    async fn import(
        &self,
        r: v1::ImportSettlementReportRequest,
    ) -> Result<v1::ImportSettlementReportResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id);
        let provider = ProviderKind::parse_external(r.provider.trim())
            .ok_or_else(|| invalid("provider", "must be sandbox or stripe"))?;
        let lines = parse_report(provider.as_str(), r.format.trim(), &r.content)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let m = meta(&tenant);
        let (mut new, mut fees, mut payouts) = (0u32, Decimal::ZERO, Decimal::ZERO);
        let currency = lines[0].currency;
        for line in &lines {
            let id = SettlementLineId::for_transaction(provider.as_str(), &line.transaction_id);
            let intent_id = self.intent_of(&line.intent_reference).await?;
            let before = self
                .settlements
                .load(&id.to_string())
                .await
                .map_err(store_error)?;
            self.settlements
                .execute(
                    &id.to_string(),
                    RecordLine {
                        tenant_id: tenant.clone(),
                        line: line.clone(),
                        intent_id,
                    },
                    &m,
                )
                .await
                .map_err(store_error)?;
            if !before.recorded {
                // At most MAX_SETTLEMENT_LINES lines.
                new = new.saturating_add(1);
            }
            if line.currency == currency {
                // Lines are at most the currency's maximum and at most MAX_SETTLEMENT_LINES of them:
                // far inside Decimal's range, still checked.
                let sums = fees
                    .checked_add(line.fee)
                    .zip(match line.category.as_str() {
                        "payout" => payouts.checked_sub(line.net),
                        _ => Some(payouts),
                    })
                    .ok_or_else(|| invalid("content", "the report's totals are out of range"))?;
                (fees, payouts) = sums;
            }
        }
        Ok(v1::ImportSettlementReportResponse {
            lines: lines.len() as u32,
            lines_new: new,
            currency: currency.to_string(),
            fees: wire(fees, currency),
            payouts: wire(payouts, currency),
        })
    }

    /// Joule's intent for a report's reference: Joule's own id, or the provider's hold reference.
    async fn intent_of(&self, reference: &str) -> Result<Option<String>, Status> {
        if reference.is_empty() {
            return Ok(None);
        }
        if let Ok(id) = Uuid::parse_str(reference) {
            return Ok(Some(id.to_string()));
        }
        let found: Option<Uuid> = sqlx::query_scalar(&format!(
            "SELECT intent_id FROM {}.intent_events WHERE type = 'PaymentAuthorized' AND detail = $1 LIMIT 1",
            self.schema
        ))
        .bind(reference)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(found.map(|u| u.to_string()))
    }
}

macro_rules! traced {
    ($name:literal, $request:expr, $body:expr) => {{
        let span = joule_telemetry::grpc_server_span($name, &$request);
        async move { $body.map(Response::new) }
            .instrument(span)
            .await
    }};
}

/// A write that takes an idempotency key: the key is taken out of the request, the rest of the request
/// is what "the same body" means, and the operation runs at most once per key.
macro_rules! idempotent_write {
    ($self:ident, $name:literal, $op:literal, $request:ident, $method:ident) => {
        traced!($name, $request, {
            let r = $request.into_inner();
            let key = r.idempotency_key.clone();
            let mut hashed = r.clone();
            hashed.idempotency_key = String::new();
            $self
                .idempotency
                .run($op, &key, &hashed, || $self.$method(r))
                .await
        })
    };
}

#[tonic::async_trait]
impl PaymentsService for PaymentsGrpc {
    async fn save_payment_method(
        &self,
        request: Request<v1::SavePaymentMethodRequest>,
    ) -> Result<Response<v1::PaymentMethod>, Status> {
        idempotent_write!(
            self,
            "SavePaymentMethod",
            "save_payment_method",
            request,
            save_method
        )
    }

    async fn list_payment_methods(
        &self,
        request: Request<v1::ListPaymentMethodsRequest>,
    ) -> Result<Response<v1::ListPaymentMethodsResponse>, Status> {
        traced!("ListPaymentMethods", request, {
            let r = request.into_inner();
            let account: AccountId = parse_id("account_id", &r.account_id)?;
            let tenant = tenant(&self.default_tenant, &r.tenant_id);
            views::methods(&self.pool, &self.schema, &tenant, account.as_uuid())
                .await
                .map(|payment_methods| v1::ListPaymentMethodsResponse { payment_methods })
                .map_err(db)
        })
    }

    async fn authorize_session_payment(
        &self,
        request: Request<v1::AuthorizeSessionPaymentRequest>,
    ) -> Result<Response<v1::AuthorizeSessionPaymentResponse>, Status> {
        traced!("AuthorizeSessionPayment", request, {
            let r = request.into_inner();
            let key = r.idempotency_key.clone();
            let hashed = v1::AuthorizeSessionPaymentRequest {
                idempotency_key: String::new(),
                ..r.clone()
            };
            self.idempotency
                .run("authorize_session_payment", &key, &hashed, || {
                    self.authorize_session(r)
                })
                .await
        })
    }

    async fn extend_hold(
        &self,
        request: Request<v1::ExtendHoldRequest>,
    ) -> Result<Response<v1::ExtendHoldResponse>, Status> {
        idempotent_write!(self, "ExtendHold", "extend_hold", request, extend)
    }

    async fn capture_payment(
        &self,
        request: Request<v1::CapturePaymentRequest>,
    ) -> Result<Response<v1::PaymentIntent>, Status> {
        idempotent_write!(self, "CapturePayment", "capture_payment", request, capture)
    }

    async fn void_payment(
        &self,
        request: Request<v1::VoidPaymentRequest>,
    ) -> Result<Response<v1::PaymentIntent>, Status> {
        idempotent_write!(self, "VoidPayment", "void_payment", request, void)
    }

    async fn refund_payment(
        &self,
        request: Request<v1::RefundPaymentRequest>,
    ) -> Result<Response<v1::RefundPaymentResponse>, Status> {
        traced!("RefundPayment", request, {
            let r = request.into_inner();
            let key = r.idempotency_key.clone();
            let tenant = tenant(&self.default_tenant, &r.tenant_id);
            let hashed = v1::RefundPaymentRequest {
                idempotency_key: String::new(),
                ..r.clone()
            };
            let mut response = self
                .idempotency
                .run("refund_payment", &key, &hashed, || self.refund(r))
                .await?;
            if let Some(intent) = response.intent.take() {
                response.intent = Some(self.with_history(&tenant, intent).await);
            }
            Ok::<_, Status>(response)
        })
    }

    async fn list_payments(
        &self,
        request: Request<v1::ListPaymentsRequest>,
    ) -> Result<Response<v1::ListPaymentsResponse>, Status> {
        traced!("ListPayments", request, {
            let r = request.into_inner();
            let tenant = tenant(&self.default_tenant, &r.tenant_id);
            let session = match r.session_id.trim() {
                "" => None,
                s => Some(parse_id::<SessionId>("session_id", s)?.as_uuid()),
            };
            let account = match r.account_id.trim() {
                "" => None,
                a => Some(parse_id::<AccountId>("account_id", a)?.as_uuid()),
            };
            let after = match r.cursor.trim() {
                "" => 0,
                c => c
                    .parse::<i64>()
                    .map_err(|_| invalid("cursor", "is not a cursor of this list"))?,
            };
            let limit = match r.page_size {
                0 => 50,
                n => i64::from(n.min(500)),
            };
            let (payments, next) = views::intents(
                &self.pool,
                &self.schema,
                &tenant,
                session,
                account,
                after,
                limit,
            )
            .await
            .map_err(db)?;
            Ok::<_, Status>(v1::ListPaymentsResponse {
                payments,
                next_cursor: next.map(|n| n.to_string()).unwrap_or_default(),
            })
        })
    }

    async fn get_payment(
        &self,
        request: Request<v1::GetPaymentRequest>,
    ) -> Result<Response<v1::PaymentIntent>, Status> {
        traced!("GetPayment", request, {
            let r = request.into_inner();
            let tenant = tenant(&self.default_tenant, &r.tenant_id);
            let id: IntentId = parse_id("intent_id", &r.intent_id)?;
            views::intent(&self.pool, &self.schema, &tenant, id.as_uuid())
                .await
                .map_err(db)?
                .ok_or_else(|| Status::not_found(format!("no payment {id}")))
        })
    }

    async fn create_wallet(
        &self,
        request: Request<v1::CreateWalletRequest>,
    ) -> Result<Response<v1::Wallet>, Status> {
        idempotent_write!(
            self,
            "CreateWallet",
            "create_wallet",
            request,
            create_wallet
        )
    }

    async fn top_up_wallet(
        &self,
        request: Request<v1::TopUpWalletRequest>,
    ) -> Result<Response<v1::Wallet>, Status> {
        idempotent_write!(self, "TopUpWallet", "top_up_wallet", request, top_up)
    }

    async fn get_wallet(
        &self,
        request: Request<v1::GetWalletRequest>,
    ) -> Result<Response<v1::Wallet>, Status> {
        traced!("GetWallet", request, {
            let r = request.into_inner();
            self.load_wallet(&r.wallet_id)
                .await
                .map(|(id, w)| wallet_proto(id, &w))
        })
    }

    async fn list_wallet_transactions(
        &self,
        request: Request<v1::GetWalletRequest>,
    ) -> Result<Response<v1::ListWalletTransactionsResponse>, Status> {
        traced!("ListWalletTransactions", request, {
            let r = request.into_inner();
            let (id, wallet) = self.load_wallet(&r.wallet_id).await?;
            views::wallet_transactions(
                &self.pool,
                &self.schema,
                id.as_uuid(),
                wallet.currency.unwrap_or(Currency::EUR),
            )
            .await
            .map(|transactions| v1::ListWalletTransactionsResponse { transactions })
            .map_err(db)
        })
    }

    async fn import_settlement_report(
        &self,
        request: Request<v1::ImportSettlementReportRequest>,
    ) -> Result<Response<v1::ImportSettlementReportResponse>, Status> {
        idempotent_write!(
            self,
            "ImportSettlementReport",
            "import_settlement_report",
            request,
            import
        )
    }
}
