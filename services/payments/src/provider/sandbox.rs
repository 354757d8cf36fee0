//! The sandbox provider: deterministic test cards for demos and tests.
//!
//! | token | behaviour |
//! |---|---|
//! | `tok_sandbox_ok` | approves; incremental authorisation; holds up to 10,000 (major units) per customer |
//! | `tok_sandbox_no_incremental` | approves; no incremental authorisation (extensions take a second hold) |
//! | `tok_sandbox_decline` | `card_declined` |
//! | `tok_sandbox_insufficient_funds` | `insufficient_funds` |
//! | `tok_sandbox_expired` | `expired_card` |
//! | `tok_sandbox_auth_required` | `authentication_required` |
//! | `tok_sandbox_timeout` | never answers an authorisation (network timeout) |
//! | `tok_sandbox_capture_fail` | approves; every capture fails with `processing_error` |
//!
//! Like a real provider it keeps books, in the payments schema (`sandbox_holds`, `sandbox_calls`): a
//! call with an idempotency key it has seen returns the first answer, so a restarted Joule that
//! repeats a call finds the hold or capture it already made. Those tables stand for the provider's
//! side and are what the crash tests compare Joule's state with. As one call to a remote provider is
//! one request, one call to the sandbox is one statement: the function `sandbox_call` (migration 5 of
//! the payments schema) keeps the books; this side decides what each test card does.

use std::str::FromStr;

use joule_domain::Currency;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use super::{
    Authorization, AuthorizeCall, DescribeCall, HoldCall, MethodDetails, Provider, ProviderError,
    ProviderErrorKind, RefundCall,
};

/// What one customer may hold on a sandbox card at once, in the currency's major unit.
pub const CARD_LIMIT: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

struct Card {
    brand: &'static str,
    last4: &'static str,
    exp: (u32, u32),
    authorize: Option<(&'static str, &'static str)>,
    timeout: bool,
    incremental: bool,
    capture_fails: bool,
}

fn card(token: &str) -> Option<Card> {
    let ok = Card {
        brand: "visa",
        last4: "4242",
        exp: (12, 2034),
        authorize: None,
        timeout: false,
        incremental: true,
        capture_fails: false,
    };
    let declined = |last4, code, message| Card {
        last4,
        authorize: Some((code, message)),
        ..card("tok_sandbox_ok").expect("ok card")
    };
    Some(match token {
        "tok_sandbox_ok" => ok,
        "tok_sandbox_no_incremental" => Card {
            brand: "mastercard",
            last4: "4444",
            incremental: false,
            ..ok
        },
        "tok_sandbox_decline" => declined("0002", "card_declined", "Your card was declined."),
        "tok_sandbox_insufficient_funds" => declined(
            "9995",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        "tok_sandbox_expired" => Card {
            exp: (1, 2024),
            ..declined("0069", "expired_card", "Your card has expired.")
        },
        "tok_sandbox_auth_required" => declined(
            "3184",
            "authentication_required",
            "Your card requires authentication.",
        ),
        "tok_sandbox_timeout" => Card {
            last4: "0119",
            timeout: true,
            ..ok
        },
        "tok_sandbox_capture_fail" => Card {
            last4: "0341",
            capture_fails: true,
            ..ok
        },
        _ => return None,
    })
}

/// An answer as the sandbox remembers it under an idempotency key.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Ok(serde_json::Value),
    Err {
        code: String,
        message: String,
        kind: String,
    },
}

fn from_answer(answer: Answer) -> Result<serde_json::Value, ProviderError> {
    match answer {
        Answer::Ok(v) => Ok(v),
        Answer::Err {
            code,
            message,
            kind,
        } => {
            let kind = match kind.as_str() {
                "declined" => ProviderErrorKind::Declined,
                "unsupported" => ProviderErrorKind::Unsupported,
                "unavailable" => ProviderErrorKind::Unavailable,
                _ => ProviderErrorKind::Invalid,
            };
            Err(ProviderError::new(kind, code, message))
        }
    }
}

fn db(e: sqlx::Error) -> ProviderError {
    ProviderError::unavailable("sandbox_unavailable", e.to_string())
}

fn decimal(v: &serde_json::Value, field: &str) -> Result<Decimal, ProviderError> {
    v[field]
        .as_str()
        .and_then(|s| Decimal::from_str(s).ok())
        .ok_or_else(|| ProviderError::invalid("sandbox_corrupt", format!("{field} missing")))
}

pub struct Sandbox {
    pool: PgPool,
    call: String,
}

impl Sandbox {
    pub fn new(pool: PgPool, schema: &str) -> Self {
        Self {
            pool,
            call: format!("SELECT {schema}.sandbox_call($1, $2, $3)"),
        }
    }

    /// Runs `operation` once per idempotency key (the function `sandbox_call` of the payments schema,
    /// one statement and one transaction with its record); a repeated key gets the recorded answer.
    async fn once(
        &self,
        key: &str,
        operation: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, ProviderError> {
        let answer: serde_json::Value = sqlx::query_scalar(&self.call)
            .bind(key)
            .bind(operation)
            .bind(args)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let answer: Answer = serde_json::from_value(answer)
            .map_err(|e| ProviderError::invalid("sandbox_corrupt", e.to_string()))?;
        from_answer(answer)
    }
}

fn make_reference(prefix: &str, key: &str) -> String {
    format!(
        "{prefix}_{}",
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).simple()
    )
}

/// The same 10,000 in every currency's major unit: plenty for EUR, tight for JPY, on purpose simple.
fn limit(_currency: Currency) -> Decimal {
    CARD_LIMIT
}

#[async_trait::async_trait]
impl Provider for Sandbox {
    async fn describe(&self, call: &DescribeCall<'_>) -> Result<MethodDetails, ProviderError> {
        let c = card(call.token).ok_or_else(|| {
            ProviderError::invalid(
                "unknown_token",
                format!(
                    "{:?} is not a sandbox test card (tok_sandbox_ok, tok_sandbox_decline, ...)",
                    call.token
                ),
            )
        })?;
        Ok(MethodDetails {
            token: call.token.to_owned(),
            customer: call.account_id.to_string(),
            brand: c.brand.into(),
            last4: c.last4.into(),
            exp_month: c.exp.0,
            exp_year: c.exp.1,
        })
    }

    async fn authorize(&self, call: &AuthorizeCall<'_>) -> Result<Authorization, ProviderError> {
        let c = card(call.token)
            .ok_or_else(|| ProviderError::invalid("unknown_token", "not a sandbox test card"))?;
        if c.timeout {
            return Err(ProviderError::unavailable(
                "timeout",
                "the sandbox did not answer in time",
            ));
        }
        let (decline_code, decline_message) = c.authorize.unzip();
        let args = json!({
            "reference": make_reference("hold_sandbox", &call.idempotency_key),
            "token": call.token,
            "customer": call.customer,
            "currency": call.amount.currency.code(),
            "amount": call.amount.amount.to_string(),
            "limit": limit(call.amount.currency).to_string(),
            "incremental": c.incremental,
            "capture_fails": c.capture_fails,
            "decline_code": decline_code,
            "decline_message": decline_message,
        });
        let value = self.once(&call.idempotency_key, "authorize", args).await?;
        Ok(Authorization {
            reference: value["reference"].as_str().unwrap_or_default().to_owned(),
            amount: decimal(&value, "amount")?,
            incremental: value["incremental"].as_bool().unwrap_or(false),
        })
    }

    async fn increment(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError> {
        let args = json!({
            "reference": call.reference,
            "currency": call.amount.currency.code(),
            "amount": call.amount.amount.to_string(),
            "limit": limit(call.amount.currency).to_string(),
        });
        let value = self.once(&call.idempotency_key, "increment", args).await?;
        decimal(&value, "amount")
    }

    async fn capture(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError> {
        let args = json!({
            "reference": call.reference,
            "amount": call.amount.amount.to_string(),
        });
        let value = self.once(&call.idempotency_key, "capture", args).await?;
        decimal(&value, "captured")
    }

    async fn cancel(&self, call: &HoldCall<'_>) -> Result<(), ProviderError> {
        let args = json!({ "reference": call.reference });
        self.once(&call.idempotency_key, "cancel", args)
            .await
            .map(|_| ())
    }

    async fn refund(&self, call: &RefundCall<'_>) -> Result<String, ProviderError> {
        let args = json!({
            "reference": call.reference,
            "amount": call.amount.amount.to_string(),
            "refund": make_reference("re_sandbox", &call.idempotency_key),
        });
        let value = self.once(&call.idempotency_key, "refund", args).await?;
        Ok(value["refund"].as_str().unwrap_or_default().to_owned())
    }
}
