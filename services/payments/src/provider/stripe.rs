//! The Stripe provider: PaymentIntents with manual capture, over Stripe's form-encoded HTTP API.
//!
//! - A token is a PaymentMethod (`pm_...`, created by Stripe.js in the driver's browser or app). Saving
//!   it attaches it to a Customer made for the account (once, with an idempotency key).
//! - A hold is a PaymentIntent confirmed off-session with `capture_method=manual`, asking for
//!   incremental authorisation `if_available`; whether the card offers it is read from the charge
//!   (`payment_method_details.card.incremental_authorization.status`).
//! - Raising a hold is `increment_authorization`; capture is partial capture (`amount_to_capture`, the
//!   rest is released); a void is `cancel`; a refund is a Refund on the PaymentIntent.
//! - Every POST carries `Idempotency-Key`. 402 answers are declines with Stripe's `decline_code` or
//!   `code` kept; 409, 429, 5xx and transport failures are "unknown outcome" and retried with the same
//!   key.
//!
//! The HTTP client is the workspace's reqwest with rustls (ring provider) and the webpki root
//! certificates compiled in: it reaches `https://api.stripe.com` without the host's CA store, and
//! still speaks plain HTTP to localstripe on loopback in the tests.

use std::time::Duration;

use joule_domain::{Currency, Money};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::Value;

use super::{
    Authorization, AuthorizeCall, DescribeCall, HoldCall, MethodDetails, Provider, ProviderError,
    ProviderErrorKind, RefundCall,
};

pub struct Stripe {
    http: reqwest::Client,
    base: String,
    secret_key: String,
}

impl Stripe {
    pub fn new(base: &str, secret_key: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            base: base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Value), ProviderError> {
        let response = request
            .bearer_auth(&self.secret_key)
            .send()
            .await
            .map_err(|e| ProviderError::unavailable("network", e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ProviderError::unavailable("network", e.to_string()))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }

    async fn post(
        &self,
        path: &str,
        form: &[(String, String)],
        key: &str,
    ) -> Result<Value, ProviderError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Idempotency-Key", key)
            .form(form);
        let (status, body) = self.send(request).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(error_from(status.as_u16(), &body))
        }
    }

    async fn get(&self, path: &str) -> Result<Value, ProviderError> {
        let (status, body) = self
            .send(self.http.get(format!("{}{path}", self.base)))
            .await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(error_from(status.as_u16(), &body))
        }
    }
}

fn form(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// An amount in the smallest currency unit, as Stripe counts. An amount that is not a whole number of
/// minor units, negative, or too large for Stripe's integer is refused (`amount_invalid`,
/// `amount_too_large`), never rounded and never a panic.
pub fn to_minor(amount: Money) -> Result<i64, ProviderError> {
    let too_large = || ProviderError::invalid("amount_too_large", amount.to_string());
    let scale = 10i64
        .checked_pow(amount.currency.minor_units())
        .ok_or_else(too_large)?;
    let scaled = amount
        .amount
        .checked_mul(Decimal::from(scale))
        .ok_or_else(too_large)?;
    if scaled.fract() != Decimal::ZERO || scaled.is_sign_negative() {
        return Err(ProviderError::invalid(
            "amount_invalid",
            format!("{amount} is not a whole number of minor units"),
        ));
    }
    scaled.to_i64().ok_or_else(too_large)
}

pub fn from_minor(minor: i64, currency: Currency) -> Decimal {
    Decimal::new(minor, currency.minor_units())
}

/// Stripe's error object mapped to Joule's kinds, keeping Stripe's most specific code.
pub fn error_from(status: u16, body: &Value) -> ProviderError {
    let error = &body["error"];
    let code = error["decline_code"]
        .as_str()
        .or_else(|| error["code"].as_str())
        .unwrap_or(match status {
            402 => "card_declined",
            404 => "resource_missing",
            _ => "stripe_error",
        })
        .to_owned();
    let message = error["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Stripe answered {status}"));
    let kind = match status {
        402 => ProviderErrorKind::Declined,
        409 | 429 => ProviderErrorKind::Unavailable,
        s if s >= 500 => ProviderErrorKind::Unavailable,
        _ => ProviderErrorKind::Invalid,
    };
    ProviderError::new(kind, code, message)
}

fn currency_of(pi: &Value) -> Result<Currency, ProviderError> {
    pi["currency"]
        .as_str()
        .map(str::to_uppercase)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ProviderError::invalid("stripe_contract", "currency missing"))
}

fn charge_of(pi: &Value) -> &Value {
    // `latest_charge` (API 2022-11-15 and later, expanded) or `charges.data[0]` (earlier versions).
    match &pi["latest_charge"] {
        Value::Object(_) => &pi["latest_charge"],
        _ => &pi["charges"]["data"][0],
    }
}

/// A confirmed manual-capture PaymentIntent read as a hold, or the decline it carries.
pub fn authorization_from(pi: &Value) -> Result<Authorization, ProviderError> {
    let currency = currency_of(pi)?;
    let id = pi["id"].as_str().unwrap_or_default().to_owned();
    match pi["status"].as_str().unwrap_or_default() {
        "requires_capture" => {
            let minor = pi["amount_capturable"]
                .as_i64()
                .filter(|a| *a > 0)
                .or_else(|| pi["amount"].as_i64())
                .unwrap_or_default();
            let incremental = charge_of(pi)["payment_method_details"]["card"]
                ["incremental_authorization"]["status"]
                .as_str()
                == Some("available");
            Ok(Authorization {
                reference: id,
                amount: from_minor(minor, currency),
                incremental,
            })
        }
        "requires_action" => Err(ProviderError::declined(
            "authentication_required",
            "The card requires authentication (3-D Secure); an off-session hold cannot be placed.",
        )),
        "processing" => Err(ProviderError::unavailable(
            "processing",
            "the payment is still processing",
        )),
        status => {
            let error = &pi["last_payment_error"];
            Err(ProviderError::declined(
                error["decline_code"]
                    .as_str()
                    .or_else(|| error["code"].as_str())
                    .unwrap_or("card_declined"),
                error["message"]
                    .as_str()
                    .unwrap_or(&format!("the PaymentIntent is {status}")),
            ))
        }
    }
}

#[async_trait::async_trait]
impl Provider for Stripe {
    async fn describe(&self, call: &DescribeCall<'_>) -> Result<MethodDetails, ProviderError> {
        if !call.token.starts_with("pm_") {
            return Err(ProviderError::invalid(
                "invalid_token",
                format!("{:?} is not a Stripe PaymentMethod id (pm_...)", call.token),
            ));
        }
        let pm = self
            .get(&format!("/v1/payment_methods/{}", call.token))
            .await?;
        let customer = match call.customer {
            Some(c) => c.to_owned(),
            None => {
                let created = self
                    .post(
                        "/v1/customers",
                        &form(&[("metadata[joule_account_id]", call.account_id.to_string())]),
                        &format!("{}-customer", call.idempotency_key),
                    )
                    .await?;
                created["id"].as_str().unwrap_or_default().to_owned()
            }
        };
        if pm["customer"].as_str() != Some(customer.as_str()) {
            self.post(
                &format!("/v1/payment_methods/{}/attach", call.token),
                &form(&[("customer", customer.clone())]),
                &format!("{}-attach", call.idempotency_key),
            )
            .await?;
        }
        let card = &pm["card"];
        Ok(MethodDetails {
            token: call.token.to_owned(),
            customer,
            brand: card["brand"].as_str().unwrap_or("card").to_lowercase(),
            last4: card["last4"].as_str().unwrap_or_default().to_owned(),
            exp_month: card["exp_month"].as_u64().unwrap_or_default() as u32,
            exp_year: card["exp_year"].as_u64().unwrap_or_default() as u32,
        })
    }

    async fn authorize(&self, call: &AuthorizeCall<'_>) -> Result<Authorization, ProviderError> {
        let body = form(&[
            ("amount", to_minor(call.amount)?.to_string()),
            ("currency", call.amount.currency.code().to_lowercase()),
            ("customer", call.customer.to_owned()),
            ("payment_method", call.token.to_owned()),
            ("capture_method", "manual".into()),
            ("confirm", "true".into()),
            ("off_session", "true".into()),
            ("metadata[joule_intent_id]", call.intent_id.clone()),
            (
                "payment_method_options[card][request_incremental_authorization]",
                "if_available".into(),
            ),
        ]);
        let pi = self
            .post("/v1/payment_intents", &body, &call.idempotency_key)
            .await?;
        match authorization_from(&pi) {
            Err(e) if e.code == "authentication_required" => {
                // Nobody is there to authenticate: let the PaymentIntent go rather than leave it open.
                if let Some(id) = pi["id"].as_str() {
                    let _ = self
                        .post(
                            &format!("/v1/payment_intents/{id}/cancel"),
                            &[],
                            &format!("{}-cancel", call.idempotency_key),
                        )
                        .await;
                }
                Err(e)
            }
            other => other,
        }
    }

    async fn increment(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError> {
        let result = self
            .post(
                &format!(
                    "/v1/payment_intents/{}/increment_authorization",
                    call.reference
                ),
                &form(&[("amount", to_minor(call.amount)?.to_string())]),
                &call.idempotency_key,
            )
            .await;
        match result {
            Ok(pi) => {
                let minor = pi["amount_capturable"]
                    .as_i64()
                    .filter(|a| *a > 0)
                    .or_else(|| pi["amount"].as_i64())
                    .unwrap_or_default();
                Ok(from_minor(minor, call.amount.currency))
            }
            // An endpoint the server does not have, or a PaymentIntent not eligible for it.
            Err(e)
                if e.code == "resource_missing"
                    || e.code == "payment_intent_incremental_authorization_unsupported"
                    || e.code == "incremental_authorization_unsupported" =>
            {
                Err(ProviderError::unsupported(&e.message))
            }
            Err(e) => Err(e),
        }
    }

    async fn capture(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError> {
        let result = self
            .post(
                &format!("/v1/payment_intents/{}/capture", call.reference),
                &form(&[("amount_to_capture", to_minor(call.amount)?.to_string())]),
                &call.idempotency_key,
            )
            .await;
        let pi = match result {
            Ok(pi) => pi,
            Err(e) if e.kind == ProviderErrorKind::Invalid => {
                // Already captured (a retry after an unknown outcome with a new attempt): done if it
                // took what we ask for now.
                let pi = self
                    .get(&format!("/v1/payment_intents/{}", call.reference))
                    .await?;
                if pi["status"].as_str() != Some("succeeded") {
                    return Err(e);
                }
                pi
            }
            Err(e) => return Err(e),
        };
        match pi["status"].as_str() {
            Some("succeeded") => Ok(pi["amount_received"]
                .as_i64()
                .map(|m| from_minor(m, call.amount.currency))
                .unwrap_or(call.amount.amount)),
            Some("processing") => Ok(call.amount.amount),
            other => Err(ProviderError::declined(
                "capture_failed",
                &format!("the PaymentIntent is {}", other.unwrap_or("unknown")),
            )),
        }
    }

    async fn cancel(&self, call: &HoldCall<'_>) -> Result<(), ProviderError> {
        match self
            .post(
                &format!("/v1/payment_intents/{}/cancel", call.reference),
                &[],
                &call.idempotency_key,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ProviderErrorKind::Invalid => {
                let pi = self
                    .get(&format!("/v1/payment_intents/{}", call.reference))
                    .await?;
                if pi["status"].as_str() == Some("canceled") {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn refund(&self, call: &RefundCall<'_>) -> Result<String, ProviderError> {
        let refund = self
            .post(
                "/v1/refunds",
                &form(&[
                    ("payment_intent", call.reference.to_owned()),
                    ("amount", to_minor(call.amount)?.to_string()),
                    ("metadata[joule_refund_id]", call.refund_id.clone()),
                    ("metadata[joule_reason]", call.reason.to_owned()),
                ]),
                &call.idempotency_key,
            )
            .await?;
        match refund["status"].as_str() {
            Some("failed" | "canceled") => Err(ProviderError::declined(
                refund["failure_reason"].as_str().unwrap_or("refund_failed"),
                "the refund failed",
            )),
            _ => Ok(refund["id"].as_str().unwrap_or_default().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Stripe's wire format, for what localstripe does not implement (incremental authorisation, the
    //! `latest_charge` card details, decline codes). The payloads follow Stripe's API reference for
    //! the PaymentIntent and error objects (API version 2024-06-20); they are not recordings of live
    //! traffic, which these tests cannot reach.
    use super::*;
    use rust_decimal_macros::dec;

    /// The client speaks https (rustls): a TLS handshake is attempted (and fails against a listener
    /// that hangs up) instead of the URL being refused as an unsupported scheme, as it was without a
    /// TLS feature. Production Stripe is `https://api.stripe.com`.
    #[tokio::test]
    async fn the_client_speaks_https() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            drop(socket);
        });
        let stripe = Stripe::new(
            &format!("https://{addr}"),
            "sk_test_x",
            Duration::from_secs(5),
        )
        .unwrap();
        let error = stripe
            .http
            .get(format!("{}/v1/balance", stripe.base))
            .send()
            .await
            .unwrap_err();
        assert!(!error.is_builder(), "{error:?}");
        assert!(error.is_connect() || error.is_request(), "{error:?}");
        server.await.unwrap();
    }
    use serde_json::json;

    fn requires_capture(incremental: &str) -> Value {
        json!({
            "id": "pi_3PqXyZ2eZvKYlo2C1gJ4x0mN",
            "object": "payment_intent",
            "amount": 5000,
            "amount_capturable": 5000,
            "amount_received": 0,
            "capture_method": "manual",
            "currency": "eur",
            "customer": "cus_QhZ1lQwJ4Zt9Xb",
            "latest_charge": {
                "id": "ch_3PqXyZ2eZvKYlo2C1Qd1bH8s",
                "object": "charge",
                "amount": 5000,
                "amount_captured": 0,
                "captured": false,
                "payment_method_details": {
                    "card": {
                        "brand": "visa",
                        "last4": "4242",
                        "incremental_authorization": {"status": incremental},
                        "overcapture": {"maximum_amount_capturable": 5000, "status": "unavailable"}
                    },
                    "type": "card"
                },
                "status": "succeeded"
            },
            "metadata": {"joule_intent_id": "5d0c6a2c-8f4e-5d2b-9a53-7c1f3b2a1e90"},
            "payment_method": "pm_1PqXyY2eZvKYlo2CkQ2xU7fA",
            "payment_method_options": {"card": {"request_incremental_authorization": "if_available"}},
            "status": "requires_capture"
        })
    }

    #[test]
    fn a_manual_capture_intent_is_a_hold_with_its_incremental_support() {
        let a = authorization_from(&requires_capture("available")).unwrap();
        assert_eq!(a.reference, "pi_3PqXyZ2eZvKYlo2C1gJ4x0mN");
        assert_eq!(a.amount, dec!(50.00));
        assert!(a.incremental);
        assert!(
            !authorization_from(&requires_capture("unavailable"))
                .unwrap()
                .incremental
        );
    }

    #[test]
    fn an_intent_that_needs_authentication_or_failed_is_a_decline_with_stripes_code() {
        let mut pi = requires_capture("available");
        pi["status"] = json!("requires_action");
        assert_eq!(
            authorization_from(&pi).unwrap_err().code,
            "authentication_required"
        );
        pi["status"] = json!("requires_payment_method");
        pi["last_payment_error"] = json!({
            "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.", "type": "card_error"
        });
        let e = authorization_from(&pi).unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ProviderErrorKind::Declined, "insufficient_funds")
        );
    }

    #[test]
    fn error_objects_map_to_kinds_keeping_the_decline_code() {
        let declined = json!({"error": {
            "code": "card_declined", "decline_code": "expired_card", "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card has expired.", "type": "card_error"
        }});
        let e = error_from(402, &declined);
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ProviderErrorKind::Declined, "expired_card")
        );
        let unsupported = json!({"error": {
            "code": "payment_intent_incremental_authorization_unsupported",
            "message": "This PaymentIntent is not eligible for incremental authorization.",
            "type": "invalid_request_error"
        }});
        assert_eq!(
            error_from(400, &unsupported).kind,
            ProviderErrorKind::Invalid
        );
        let in_use = json!({"error": {"code": "idempotency_key_in_use", "type": "idempotency_error",
            "message": "There is currently another in-progress request using this Idempotency Key."}});
        assert_eq!(
            error_from(409, &in_use).kind,
            ProviderErrorKind::Unavailable
        );
        assert_eq!(
            error_from(503, &json!("down")).kind,
            ProviderErrorKind::Unavailable
        );
    }

    #[test]
    fn amounts_go_in_minor_units() {
        assert_eq!(
            to_minor(Money::new(dec!(12.34), Currency::EUR)).unwrap(),
            1234
        );
        assert_eq!(
            to_minor(Money::new(dec!(12.3), Currency::EUR)).unwrap(),
            1230
        );
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(to_minor(Money::new(dec!(500), jpy)).unwrap(), 500);
        assert!(to_minor(Money::new(dec!(1.001), Currency::EUR)).is_err());
        // Beyond Decimal's range once scaled, and beyond i64: refused, not a panic.
        assert_eq!(
            to_minor(Money::new(Decimal::MAX, Currency::EUR))
                .unwrap_err()
                .code,
            "amount_too_large"
        );
        assert_eq!(
            to_minor(Money::new(dec!(100000000000000000), Currency::EUR))
                .unwrap_err()
                .code,
            "amount_too_large"
        );
        assert_eq!(from_minor(1234, Currency::EUR), dec!(12.34));
    }

    #[test]
    fn charges_of_older_api_versions_are_read_too() {
        let mut pi = requires_capture("available");
        let charge = pi["latest_charge"].take();
        pi["latest_charge"] = json!("ch_3PqXyZ2eZvKYlo2C1Qd1bH8s");
        pi["charges"] = json!({"object": "list", "data": [charge]});
        assert!(authorization_from(&pi).unwrap().incremental);
    }
}
