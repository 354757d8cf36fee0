//! Provider webhooks: `POST /webhooks/stripe` on `JOULE_PAYMENTS_WEBHOOK_ADDR`.
//!
//! A webhook is applied only when its `Stripe-Signature` verifies (HMAC-SHA256 of `<t>.<body>` with
//! the endpoint's signing secret, within five minutes of `t`). Each event id is applied once (the
//! `webhook_events` table); and what an event says becomes an observation the intent applies only
//! if it moves the intent forward, so events may come in any order, late, or twice.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use hmac::{Hmac, Mac};
use joule_domain::{Currency, Money, TenantId};
use joule_store::CommandMeta;
use serde_json::Value;
use sha2::Sha256;
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::domain::intent::{IntentCommand, Observed};
use crate::engine::Engine;
use crate::ids::{IntentId, RefundId};
use crate::provider::stripe::from_minor;

/// How far a signature's time may be from now.
const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Stripe-Signature header missing")]
    Missing,
    #[error("Stripe-Signature header malformed")]
    Malformed,
    #[error("signature timestamp outside the tolerance")]
    Stale,
    #[error("no v1 signature matches")]
    Mismatch,
}

/// Verifies a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=...]`) for `payload` at `now`.
pub fn verify_signature(
    header: Option<&str>,
    payload: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s.to_owned()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // The timestamp is the sender's: a difference beyond i64 is as stale as any.
    if now
        .checked_sub(timestamp)
        .and_then(i64::checked_abs)
        .is_none_or(|age| age > TOLERANCE_SECS)
    {
        return Err(SignatureError::Stale);
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Malformed)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if signatures
        .iter()
        .any(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// What a Stripe event tells about an intent: the intent's Joule id (from metadata, or found by the
/// provider's reference) and the observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub intent: Option<IntentId>,
    pub reference: String,
    pub observed: Observed,
}

fn amount(v: &Value, currency: Currency) -> Option<Money> {
    v.as_i64()
        .map(|m| Money::new(from_minor(m, currency), currency))
}

/// Reads a Stripe event; `None` for events Joule does not act on.
pub fn observation(event: &Value) -> Option<Observation> {
    let object = &event["data"]["object"];
    let currency: Currency = object["currency"].as_str()?.to_uppercase().parse().ok()?;
    let intent_of = |o: &Value| {
        o["metadata"]["joule_intent_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
    };
    let event_type = event["type"].as_str()?;
    if object["object"].as_str() == Some("refund") {
        let refund_id: RefundId = object["metadata"]["joule_refund_id"]
            .as_str()?
            .parse()
            .ok()?;
        if object["status"].as_str() != Some("succeeded") {
            return None;
        }
        return Some(Observation {
            intent: None,
            reference: object["payment_intent"].as_str()?.to_owned(),
            observed: Observed::Refunded {
                refund_id,
                reference: object["id"].as_str()?.to_owned(),
                amount: amount(&object["amount"], currency)?,
            },
        });
    }
    if object["object"].as_str() != Some("payment_intent") {
        return None;
    }
    let reference = object["id"].as_str()?.to_owned();
    let observed = match event_type {
        "payment_intent.amount_capturable_updated" => Observed::Authorized {
            reference: reference.clone(),
            amount: amount(&object["amount_capturable"], currency)?,
        },
        "payment_intent.succeeded" => {
            let charge = match &object["latest_charge"] {
                Value::Object(_) => &object["latest_charge"],
                _ => &object["charges"]["data"][0],
            };
            // `amount_received` (Stripe); emulators that lack it report the charge less what the
            // partial capture released.
            let received = object["amount_received"]
                .as_i64()
                .or_else(|| charge["amount_captured"].as_i64())
                .or_else(|| {
                    charge["amount"]
                        .as_i64()?
                        .checked_sub(charge["amount_refunded"].as_i64().unwrap_or(0))
                })?;
            Observed::Captured {
                reference: reference.clone(),
                amount: amount(&Value::from(received), currency)?,
            }
        }
        "payment_intent.canceled" => Observed::Canceled {
            reference: reference.clone(),
        },
        "payment_intent.payment_failed" => {
            let error = &object["last_payment_error"];
            Observed::Failed {
                code: error["decline_code"]
                    .as_str()
                    .or_else(|| error["code"].as_str())
                    .unwrap_or("payment_failed")
                    .to_owned(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
            }
        }
        _ => return None,
    };
    Some(Observation {
        intent: intent_of(object),
        reference,
        observed,
    })
}

#[derive(Clone)]
pub struct WebhookState {
    pub engine: Arc<Engine>,
    pub pool: PgPool,
    pub schema: String,
    pub secret: String,
    pub default_tenant: TenantId,
}

pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/webhooks/stripe", post(stripe))
        .with_state(state)
}

async fn stripe(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if state.secret.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no webhook signing secret is configured".into(),
        );
    }
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = verify_signature(signature, &body, &state.secret, Utc::now().timestamp()) {
        tracing::warn!(error = %e, "webhook refused");
        return (StatusCode::BAD_REQUEST, e.to_string());
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not JSON".into());
    };
    let Some(event_id) = event["id"].as_str().map(str::to_owned) else {
        return (StatusCode::BAD_REQUEST, "the event has no id".into());
    };
    match apply(&state, &event_id, &event).await {
        Ok(()) => (StatusCode::OK, "ok".into()),
        Err(e) => {
            // Stripe retries a webhook that was not acknowledged.
            tracing::warn!(event = %event_id, error = %e, "webhook not applied; the provider will retry");
            (StatusCode::SERVICE_UNAVAILABLE, "not applied; retry".into())
        }
    }
}

async fn apply(state: &WebhookState, event_id: &str, event: &Value) -> Result<(), String> {
    let s = &state.schema;
    let seen: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM {s}.webhook_events WHERE provider = 'stripe' AND event_id = $1"
    ))
    .bind(event_id)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| e.to_string())?;
    if seen.is_some() {
        return Ok(());
    }
    if let Some(o) = observation(event) {
        let intent = match o.intent {
            Some(i) => Some(i),
            None => sqlx::query_scalar::<_, Uuid>(&format!(
                "SELECT intent_id FROM {s}.intent_events WHERE type IN ('PaymentAuthorized', 'HoldExtended')
                 AND detail = $1 LIMIT 1"
            ))
            .bind(&o.reference)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| e.to_string())?
            .map(IntentId::from),
        };
        match intent {
            Some(id) => {
                let meta = CommandMeta {
                    tenant_id: state.default_tenant.to_string(),
                    correlation_id: event_id.to_owned(),
                    causation_id: event_id.to_owned(),
                };
                let loaded = state.engine.load(id).await.map_err(|e| e.to_string())?;
                if loaded.context.is_some() {
                    state
                        .engine
                        .intents
                        .execute(
                            &id.to_string(),
                            IntentCommand::Reconcile {
                                observed: o.observed,
                                at: Utc::now(),
                            },
                            &meta,
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            None => {
                tracing::info!(event = %event_id, reference = %o.reference, "webhook for a payment Joule does not know")
            }
        }
    }
    sqlx::query(&format!(
        "INSERT INTO {s}.webhook_events (provider, event_id, type) VALUES ('stripe', $1, $2)
         ON CONFLICT DO NOTHING"
    ))
    .bind(event_id)
    .bind(event["type"].as_str().unwrap_or_default())
    .execute(&state.pool)
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={hex}")
    }

    #[test]
    fn signatures_verify_only_with_the_secret_the_body_and_a_fresh_time() {
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
        let header = sign("whsec_test", 1_800_000_000, body);
        assert_eq!(
            verify_signature(Some(&header), body, "whsec_test", 1_800_000_010),
            Ok(())
        );
        assert_eq!(
            verify_signature(Some(&header), body, "whsec_other", 1_800_000_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&header), b"{}", "whsec_test", 1_800_000_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&header), body, "whsec_test", 1_800_000_400),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(None, body, "whsec_test", 0),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(Some("t=1"), body, "whsec_test", 1),
            Err(SignatureError::Malformed)
        );
        // Several v1 signatures (a secret being rolled): any match is enough.
        let rolled = format!("{header},v1=deadbeef");
        assert_eq!(
            verify_signature(Some(&rolled), body, "whsec_test", 1_800_000_000),
            Ok(())
        );
    }

    // Event payloads in Stripe's documented wire format (API 2024-06-20), not recorded traffic:
    // localstripe sends only `payment_intent.succeeded` and `payment_intent.payment_failed`.
    #[test]
    fn stripe_events_become_observations() {
        let intent = IntentId::derived("x");
        let capturable = json!({"id": "evt_1", "type": "payment_intent.amount_capturable_updated",
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 5000,
                "amount_capturable": 7500, "currency": "eur", "status": "requires_capture",
                "metadata": {"joule_intent_id": intent.to_string()}}}});
        let o = observation(&capturable).unwrap();
        assert_eq!(o.intent, Some(intent));
        assert_eq!(
            o.observed,
            Observed::Authorized {
                reference: "pi_1".into(),
                amount: Money::new(dec!(75.00), Currency::EUR)
            }
        );
        let succeeded = json!({"id": "evt_2", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 5000,
                "amount_received": 1234, "currency": "eur", "status": "succeeded", "metadata": {}}}});
        assert_eq!(
            observation(&succeeded).unwrap().observed,
            Observed::Captured {
                reference: "pi_1".into(),
                amount: Money::new(dec!(12.34), Currency::EUR)
            }
        );
        let canceled = json!({"id": "evt_3", "type": "payment_intent.canceled",
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "currency": "eur", "metadata": {}}}});
        assert_eq!(
            observation(&canceled).unwrap().observed,
            Observed::Canceled {
                reference: "pi_1".into()
            }
        );
        let refund_id = RefundId::derived("r");
        let refunded = json!({"id": "evt_4", "type": "refund.created",
            "data": {"object": {"id": "re_1", "object": "refund", "amount": 500, "currency": "eur",
                "payment_intent": "pi_1", "status": "succeeded",
                "metadata": {"joule_refund_id": refund_id.to_string()}}}});
        assert_eq!(
            observation(&refunded).unwrap().observed,
            Observed::Refunded {
                refund_id,
                reference: "re_1".into(),
                amount: Money::new(dec!(5.00), Currency::EUR)
            }
        );
        let other = json!({"id": "evt_5", "type": "customer.created",
            "data": {"object": {"id": "cus_1", "object": "customer"}}});
        assert!(observation(&other).is_none());
    }
}
