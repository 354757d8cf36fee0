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
//! Like a real provider it keeps books, in the payments schema (`sandbox_holds`, `sandbox_calls`), in
//! transactions of its own: a call with an idempotency key it has seen returns the first answer, so a
//! restarted Joule that repeats a call finds the hold or capture it already made. Those tables stand
//! for the provider's side and are what the crash tests compare Joule's state with.

use std::str::FromStr;

use joule_domain::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgPool, Row};

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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Ok(serde_json::Value),
    Err {
        code: String,
        message: String,
        kind: String,
    },
}

fn to_answer(result: Result<serde_json::Value, ProviderError>) -> Answer {
    match result {
        Ok(v) => Answer::Ok(v),
        Err(e) => Answer::Err {
            kind: match e.kind {
                ProviderErrorKind::Declined => "declined",
                ProviderErrorKind::Unsupported => "unsupported",
                ProviderErrorKind::Unavailable => "unavailable",
                ProviderErrorKind::Invalid => "invalid",
            }
            .into(),
            code: e.code,
            message: e.message,
        },
    }
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
    schema: String,
}

impl Sandbox {
    pub fn new(pool: PgPool, schema: &str) -> Self {
        Self {
            pool,
            schema: schema.to_owned(),
        }
    }

    /// Runs `operation` once per idempotency key, in one transaction with its record; a repeated key
    /// gets the recorded answer. A timeout is not recorded: like a lost request, nothing happened.
    async fn once<F>(
        &self,
        key: &str,
        operation: &str,
        run: F,
    ) -> Result<serde_json::Value, ProviderError>
    where
        F: for<'c> FnOnce(
                &'c mut sqlx::PgConnection,
            ) -> futures::future::BoxFuture<
                'c,
                Result<serde_json::Value, ProviderError>,
            > + Send,
    {
        let s = &self.schema;
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The sandbox stands for a remote provider: its books must survive Joule's process dying
        // (they do: the commit is done before the call returns), not a PostgreSQL crash, so it does
        // not wait for the WAL flush.
        // (One round trip for both: the setting and the key's lock.)
        sqlx::query(
            "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(hashtext($1))",
        )
        .bind(format!("sandbox/{key}"))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let seen: Option<serde_json::Value> = sqlx::query_scalar(&format!(
            "SELECT answer FROM {s}.sandbox_calls WHERE idempotency_key = $1"
        ))
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(seen) = seen {
            let answer: Answer = serde_json::from_value(seen)
                .map_err(|e| ProviderError::invalid("sandbox_corrupt", e.to_string()))?;
            return from_answer(answer);
        }
        let result = run(&mut tx).await;
        if matches!(&result, Err(e) if e.kind == ProviderErrorKind::Unavailable) {
            return result;
        }
        let answer = serde_json::to_value(to_answer(result.clone()))
            .map_err(|e| ProviderError::invalid("sandbox_corrupt", e.to_string()))?;
        sqlx::query(&format!(
            "INSERT INTO {s}.sandbox_calls (idempotency_key, operation, answer) VALUES ($1, $2, $3)"
        ))
        .bind(key)
        .bind(operation)
        .bind(answer)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        result
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

struct HoldRow {
    token: String,
    customer: String,
    currency: String,
    amount: Decimal,
    captured: Decimal,
    refunded: Decimal,
    status: String,
}

async fn hold(
    conn: &mut sqlx::PgConnection,
    schema: &str,
    reference: &str,
) -> Result<HoldRow, ProviderError> {
    let row = sqlx::query(&format!(
        "SELECT token, customer, currency, amount, captured, refunded, status
         FROM {schema}.sandbox_holds WHERE reference = $1 FOR UPDATE"
    ))
    .bind(reference)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .ok_or_else(|| ProviderError::invalid("resource_missing", format!("no hold {reference}")))?;
    Ok(HoldRow {
        token: row.get("token"),
        customer: row.get("customer"),
        currency: row.get("currency"),
        amount: row.get("amount"),
        captured: row.get("captured"),
        refunded: row.get("refunded"),
        status: row.get("status"),
    })
}

/// What a customer holds on a token now, other holds included.
async fn held(
    conn: &mut sqlx::PgConnection,
    schema: &str,
    customer: &str,
    token: &str,
) -> Result<Decimal, ProviderError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("sandbox-card/{customer}/{token}"))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    let held: Option<Decimal> = sqlx::query_scalar(&format!(
        "SELECT sum(amount) FROM {schema}.sandbox_holds
         WHERE customer = $1 AND token = $2 AND status = 'authorized'"
    ))
    .bind(customer)
    .bind(token)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    Ok(held.unwrap_or_default())
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
        let (schema, token, customer) = (
            self.schema.clone(),
            call.token.to_owned(),
            call.customer.to_owned(),
        );
        let (amount, key) = (call.amount, call.idempotency_key.clone());
        let value = self
            .once(&call.idempotency_key, "authorize", move |conn| {
                Box::pin(async move {
                    if let Some((code, message)) = c.authorize {
                        return Err(ProviderError::declined(code, message));
                    }
                    let held = held(conn, &schema, &customer, &token).await?;
                    if held + amount.amount > limit(amount.currency) {
                        return Err(ProviderError::declined(
                            "insufficient_funds",
                            "Your card has insufficient funds.",
                        ));
                    }
                    let reference = make_reference("hold_sandbox", &key);
                    sqlx::query(&format!(
                        "INSERT INTO {schema}.sandbox_holds
                           (reference, token, customer, currency, amount, captured, refunded, status)
                         VALUES ($1, $2, $3, $4, $5, 0, 0, 'authorized')"
                    ))
                    .bind(&reference)
                    .bind(&token)
                    .bind(&customer)
                    .bind(amount.currency.code())
                    .bind(amount.amount)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(json!({
                        "reference": reference,
                        "amount": amount.amount.to_string(),
                        "incremental": c.incremental,
                    }))
                })
            })
            .await?;
        Ok(Authorization {
            reference: value["reference"].as_str().unwrap_or_default().to_owned(),
            amount: decimal(&value, "amount")?,
            incremental: value["incremental"].as_bool().unwrap_or(false),
        })
    }

    async fn increment(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError> {
        let (schema, reference, new_total) =
            (self.schema.clone(), call.reference.to_owned(), call.amount);
        let value = self
            .once(&call.idempotency_key, "increment", move |conn| {
                Box::pin(async move {
                    let h = hold(conn, &schema, &reference).await?;
                    let c = card(&h.token).ok_or_else(|| {
                        ProviderError::invalid("unknown_token", "not a sandbox test card")
                    })?;
                    if !c.incremental {
                        return Err(ProviderError::unsupported(
                            "this card does not support incremental authorisation",
                        ));
                    }
                    if h.status != "authorized" || h.currency != new_total.currency.code() {
                        return Err(ProviderError::invalid(
                            "payment_intent_unexpected_state",
                            format!("the hold is {}", h.status),
                        ));
                    }
                    let others = held(conn, &schema, &h.customer, &h.token).await? - h.amount;
                    if others + new_total.amount > limit(new_total.currency) {
                        return Err(ProviderError::declined(
                            "insufficient_funds",
                            "Your card has insufficient funds.",
                        ));
                    }
                    sqlx::query(&format!(
                        "UPDATE {schema}.sandbox_holds SET amount = $2 WHERE reference = $1"
                    ))
                    .bind(&reference)
                    .bind(new_total.amount)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(json!({ "amount": new_total.amount.to_string() }))
                })
            })
            .await?;
        decimal(&value, "amount")
    }

    async fn capture(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError> {
        let (schema, reference, amount) =
            (self.schema.clone(), call.reference.to_owned(), call.amount);
        let value = self
            .once(&call.idempotency_key, "capture", move |conn| {
                Box::pin(async move {
                    let h = hold(conn, &schema, &reference).await?;
                    if card(&h.token).is_some_and(|c| c.capture_fails) {
                        return Err(ProviderError::declined(
                            "processing_error",
                            "An error occurred while processing the capture.",
                        ));
                    }
                    // Capturing a captured hold again with the same amount is answered as done, like
                    // a provider that keys captures on the hold.
                    if h.status == "captured" && h.captured == amount.amount {
                        return Ok(json!({ "captured": h.captured.to_string() }));
                    }
                    if h.status != "authorized" {
                        return Err(ProviderError::invalid(
                            "payment_intent_unexpected_state",
                            format!("the hold is {}", h.status),
                        ));
                    }
                    if amount.amount > h.amount {
                        return Err(ProviderError::invalid(
                            "amount_too_large",
                            format!("{} is more than the {} held", amount.amount, h.amount),
                        ));
                    }
                    sqlx::query(&format!(
                        "UPDATE {schema}.sandbox_holds SET captured = $2, status = 'captured'
                         WHERE reference = $1"
                    ))
                    .bind(&reference)
                    .bind(amount.amount)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(json!({ "captured": amount.amount.to_string() }))
                })
            })
            .await?;
        decimal(&value, "captured")
    }

    async fn cancel(&self, call: &HoldCall<'_>) -> Result<(), ProviderError> {
        let (schema, reference) = (self.schema.clone(), call.reference.to_owned());
        self.once(&call.idempotency_key, "cancel", move |conn| {
            Box::pin(async move {
                let h = hold(conn, &schema, &reference).await?;
                if h.status == "authorized" {
                    sqlx::query(&format!(
                        "UPDATE {schema}.sandbox_holds SET status = 'canceled' WHERE reference = $1"
                    ))
                    .bind(&reference)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                }
                Ok(json!({ "status": "canceled" }))
            })
        })
        .await
        .map(|_| ())
    }

    async fn refund(&self, call: &RefundCall<'_>) -> Result<String, ProviderError> {
        let (schema, reference, amount, key) = (
            self.schema.clone(),
            call.reference.to_owned(),
            call.amount,
            call.idempotency_key.clone(),
        );
        let value = self
            .once(&call.idempotency_key, "refund", move |conn| {
                Box::pin(async move {
                    let h = hold(conn, &schema, &reference).await?;
                    if h.status != "captured" || h.refunded + amount.amount > h.captured {
                        return Err(ProviderError::invalid(
                            "charge_already_refunded",
                            format!(
                                "{} is more than the {} left to refund",
                                amount.amount,
                                h.captured - h.refunded
                            ),
                        ));
                    }
                    sqlx::query(&format!(
                        "UPDATE {schema}.sandbox_holds SET refunded = refunded + $2 WHERE reference = $1"
                    ))
                    .bind(&reference)
                    .bind(amount.amount)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    Ok(json!({ "refund": make_reference("re_sandbox", &key) }))
                })
            })
            .await?;
        Ok(value["refund"].as_str().unwrap_or_default().to_owned())
    }
}
