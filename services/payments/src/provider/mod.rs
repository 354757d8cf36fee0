//! Payment providers behind one interface. The engine asks a provider to describe a token, place,
//! raise, capture and cancel holds, and refund; every call carries an idempotency key derived from
//! the intent, the operation and its attempt, so a repeated call (after a crash or a timeout) is
//! answered as the first one was and moves no money twice.
//!
//! - [`sandbox`]: deterministic test cards, persisted in the payments schema like a real provider's
//!   books, so tests and demos can take every path and a restarted process sees what was done.
//! - [`stripe`]: Stripe's PaymentIntents API over HTTP (manual capture, incremental authorisation).
//! - [`wallet`]: Joule's prepaid wallet, through the Wallet aggregate.

pub mod sandbox;
pub mod stripe;
pub mod wallet;

use std::collections::HashMap;
use std::sync::Arc;

use joule_domain::{AccountId, Money};
use rust_decimal::Decimal;

use crate::domain::intent::ProviderKind;

/// How a provider call went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// The provider refused (declined card, insufficient funds, authentication required, ...).
    Declined,
    /// The provider does not offer this (incremental authorisation on this card).
    Unsupported,
    /// No answer, or a temporary failure: the outcome is unknown. Retry with the same key.
    Unavailable,
    /// The request was refused as malformed or naming something unknown.
    Invalid,
}

/// A provider's refusal or failure, with the provider's own code kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    pub code: String,
    pub message: String,
}

impl ProviderError {
    pub fn new(
        kind: ProviderErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn declined(code: &str, message: &str) -> Self {
        Self::new(ProviderErrorKind::Declined, code, message)
    }

    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        Self::new(ProviderErrorKind::Unavailable, code, message)
    }

    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(ProviderErrorKind::Invalid, code, message)
    }

    pub fn unsupported(message: &str) -> Self {
        Self::new(ProviderErrorKind::Unsupported, "not_supported", message)
    }
}

/// What may be shown of a saved token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodDetails {
    /// The token to charge from now on (a provider may exchange a one-time token for a reusable one).
    pub token: String,
    /// The provider's customer the token is attached to.
    pub customer: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

#[derive(Debug, Clone)]
pub struct DescribeCall<'a> {
    pub idempotency_key: String,
    pub account_id: AccountId,
    /// The customer the provider already knows this account as, if a method was saved before.
    pub customer: Option<&'a str>,
    pub token: &'a str,
}

#[derive(Debug, Clone)]
pub struct AuthorizeCall<'a> {
    pub idempotency_key: String,
    /// Joule's intent, recorded with the provider for reconciliation.
    pub intent_id: String,
    pub token: &'a str,
    pub customer: &'a str,
    pub amount: Money,
}

/// A placed hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub reference: String,
    pub amount: Decimal,
    /// The provider can raise this hold later (incremental authorisation).
    pub incremental: bool,
}

#[derive(Debug, Clone)]
pub struct HoldCall<'a> {
    pub idempotency_key: String,
    pub reference: &'a str,
    /// For an increment: the hold's new total. For a capture: what to take (the rest is released).
    /// For a cancel: zero.
    pub amount: Money,
}

#[derive(Debug, Clone)]
pub struct RefundCall<'a> {
    pub idempotency_key: String,
    pub reference: &'a str,
    pub amount: Money,
    pub refund_id: String,
    pub reason: &'a str,
}

/// One payment provider.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Validates a token for an account and returns what may be shown of it.
    async fn describe(&self, call: &DescribeCall<'_>) -> Result<MethodDetails, ProviderError>;
    /// Places a hold (authorisation without capture).
    async fn authorize(&self, call: &AuthorizeCall<'_>) -> Result<Authorization, ProviderError>;
    /// Raises a hold to a new total (incremental authorisation); `Unsupported` where not offered.
    async fn increment(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError>;
    /// Captures part or all of a hold and releases the rest; returns what was captured.
    async fn capture(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError>;
    /// Releases a hold without capturing.
    async fn cancel(&self, call: &HoldCall<'_>) -> Result<(), ProviderError>;
    /// Gives back part or all of a captured hold; returns the provider's refund reference.
    async fn refund(&self, call: &RefundCall<'_>) -> Result<String, ProviderError>;
}

/// The providers this process can use.
#[derive(Clone, Default)]
pub struct Providers(HashMap<ProviderKind, Arc<dyn Provider>>);

impl Providers {
    pub fn with(mut self, kind: ProviderKind, provider: Arc<dyn Provider>) -> Self {
        self.0.insert(kind, provider);
        self
    }

    pub fn get(&self, kind: ProviderKind) -> Result<&Arc<dyn Provider>, ProviderError> {
        self.0.get(&kind).ok_or_else(|| {
            ProviderError::invalid(
                "provider_not_configured",
                format!("the {} provider is not configured", kind.as_str()),
            )
        })
    }
}
