//! The `intents` read table and its history (`intent_events`): projected from a batch of intent
//! events in one statement (the function `project_intent_events`, migration 6), and read as the
//! wire's `PaymentIntent`.

use chrono::{DateTime, SecondsFormat, Utc};
use joule_domain::Currency;
use joule_proto::v1;
use joule_store::{ProjectionError, StoredEvent};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{Page, aggregate_uuid, money, ts};
use crate::domain::intent::{IntentEvent, VoidReason};
use crate::wire;

/// One line of an intent's history: what happened, the amount it moved (the decimal as the event
/// carries it), and a short detail.
fn history(event: &IntentEvent) -> (Option<Decimal>, String) {
    let attempt = |n: &u32| format!("attempt {n}");
    match event {
        IntentEvent::IntentOpened {
            context, amount, ..
        } => (
            Some(amount.amount),
            format!(
                "{} via {}",
                context.purpose.as_str(),
                context.provider.as_str()
            ),
        ),
        IntentEvent::AuthorizationRequested { attempt: n, amount } => (Some(*amount), attempt(n)),
        IntentEvent::ExtensionRequested {
            new_total,
            attempt: n,
        } => (Some(*new_total), attempt(n)),
        IntentEvent::CaptureRequested {
            amount, attempt: n, ..
        } => (Some(*amount), attempt(n)),
        // The provider reference, so webhooks and settlement lines find the intent.
        IntentEvent::PaymentAuthorized {
            amount: m,
            reference,
            ..
        }
        | IntentEvent::HoldExtended {
            added: m,
            reference,
            ..
        }
        | IntentEvent::PaymentRefunded {
            amount: m,
            reference,
            ..
        } => (Some(m.amount), reference.clone()),
        IntentEvent::PaymentFailed {
            amount: m, code, ..
        }
        | IntentEvent::DunningStarted {
            amount_due: m,
            code,
            ..
        }
        | IntentEvent::RefundFailed {
            amount: m, code, ..
        } => (Some(m.amount), code.clone()),
        IntentEvent::HoldExhausted {
            requested_total,
            reason,
            code,
            ..
        } => (Some(requested_total.amount), format!("{reason} ({code})")),
        IntentEvent::PaymentCaptured {
            amount, released, ..
        } => (Some(amount.amount), format!("released {}", released.amount)),
        IntentEvent::CaptureFailed {
            amount,
            code,
            next_attempt_at,
            ..
        } => (
            Some(amount.amount),
            format!("{code}; next attempt at {}", next_attempt_at.to_rfc3339()),
        ),
        IntentEvent::VoidRequested { reason, .. } => (None, reason.as_str().into()),
        IntentEvent::PaymentVoided {
            released, reason, ..
        } => (Some(released.amount), reason.as_str().into()),
        IntentEvent::RefundRequested { amount, reason, .. } => (Some(*amount), reason.clone()),
        IntentEvent::ChargeStopRequested { stop, reason, .. } => (
            Some(stop.running_cost.amount),
            format!(
                "stop {} transaction {}: {} ({reason})",
                stop.charge_point_id, stop.transaction_id, stop.answer
            ),
        ),
    }
}

/// One intent event as the projection function `project_intent_events` (migration 6) reads it: the
/// history line and the values its change of the `intents` row needs.
fn intent_line(stored: &StoredEvent) -> Result<serde_json::Value, ProjectionError> {
    let event: IntentEvent = stored.read()?;
    // Microseconds, as PostgreSQL keeps them (truncated, as a bound timestamp is).
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let at = event.at().unwrap_or(stored.relayed_at);
    let (amount, detail) = history(&event);
    let mut line = json!({
        "id": aggregate_uuid(stored)?,
        "at": time(&at),
        "sequence": stored.sequence,
        "type": stored.event_type,
        "amount": amount.map(|a| a.to_string()),
        "detail": detail,
    });
    let change = match &event {
        IntentEvent::IntentOpened { context, .. } => json!({
            "tenant_id": context.tenant_id,
            "session_id": context.session_id.map(|s| s.as_uuid()),
            "order_id": context.order_id,
            "account_id": context.account_id.as_uuid(),
            "provider": context.provider.as_str(),
            "kind": context.provider.kind(),
            "purpose": context.purpose.as_str(),
            "method_id": context.method_id.as_uuid(),
            "currency": context.currency.code(),
        }),
        IntentEvent::PaymentAuthorized { amount: value, .. }
        | IntentEvent::PaymentCaptured { amount: value, .. }
        | IntentEvent::HoldExtended { total: value, .. }
        | IntentEvent::PaymentRefunded {
            total_refunded: value,
            ..
        } => json!({ "value": value.amount.to_string() }),
        IntentEvent::PaymentFailed { code, message, .. } => {
            json!({ "code": code, "message": message })
        }
        IntentEvent::HoldExhausted { reason, code, .. } => {
            json!({ "code": code, "message": reason })
        }
        IntentEvent::CaptureFailed {
            code,
            message,
            next_attempt_at,
            ..
        } => json!({ "code": code, "message": message, "next_at": time(next_attempt_at) }),
        IntentEvent::DunningStarted { code, .. } => json!({ "code": code }),
        IntentEvent::PaymentVoided { reason, .. } => {
            json!({ "keep_status": *reason == VoidReason::Dunning })
        }
        _ => json!({}),
    };
    if let (Some(line), serde_json::Value::Object(change)) = (line.as_object_mut(), change) {
        line.extend(change);
    }
    Ok(line)
}

/// Projects a batch's intent events in ONE statement (the function `project_intent_events`).
pub(super) async fn project(
    conn: &mut PgConnection,
    schema: &str,
    events: &[&StoredEvent],
) -> Result<(), ProjectionError> {
    if events.is_empty() {
        return Ok(());
    }
    let lines = events
        .iter()
        .map(|e| intent_line(e))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(&format!("SELECT {schema}.project_intent_events($1)"))
        .bind(serde_json::Value::Array(lines))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const INTENT_COLUMNS: &str = "id, seq, session_id, order_id, account_id, provider, kind, purpose, payment_method_id,
    status, currency, amount_authorized, amount_captured, amount_refunded, failure_code, failure_message,
    created_at, updated_at";

fn intent_from(row: &PgRow) -> v1::PaymentIntent {
    let currency: String = row.get("currency");
    let c = currency.parse().ok();
    v1::PaymentIntent {
        id: row.get::<Uuid, _>("id").to_string(),
        session_id: row
            .get::<Option<Uuid>, _>("session_id")
            .map(|s| s.to_string())
            .unwrap_or_default(),
        order_id: row.get::<Option<String>, _>("order_id").unwrap_or_default(),
        account_id: row.get::<Uuid, _>("account_id").to_string(),
        provider: row.get("provider"),
        kind: row.get("kind"),
        purpose: row.get("purpose"),
        payment_method_id: row.get::<Uuid, _>("payment_method_id").to_string(),
        status: row.get("status"),
        amount_authorized: money(row, "amount_authorized", c),
        amount_captured: money(row, "amount_captured", c),
        amount_refunded: money(row, "amount_refunded", c),
        currency,
        failure_code: row.get("failure_code"),
        failure_message: row.get("failure_message"),
        events: vec![],
        created_at: ts(row.get("created_at")),
        updated_at: ts(row.get("updated_at")),
    }
}

async fn with_events(
    pool: &PgPool,
    schema: &str,
    mut intents: Vec<v1::PaymentIntent>,
) -> Result<Vec<v1::PaymentIntent>, sqlx::Error> {
    let ids: Vec<Uuid> = intents
        .iter()
        .filter_map(|i| Uuid::parse_str(&i.id).ok())
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT intent_id, sequence, type, amount, detail, occurred_at FROM {schema}.intent_events
         WHERE intent_id = ANY($1) ORDER BY intent_id, sequence"
    ))
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for intent in &mut intents {
        let c: Option<Currency> = intent.currency.parse().ok();
        intent.events = rows
            .iter()
            .filter(|r| r.get::<Uuid, _>("intent_id").to_string() == intent.id)
            .map(|r| v1::PaymentEventRecord {
                sequence: r.get::<i64, _>("sequence") as u64,
                r#type: r.get("type"),
                amount: r
                    .get::<Option<Decimal>, _>("amount")
                    .map(|a| match c {
                        Some(c) => wire::amount(a, c),
                        None => a.to_string(),
                    })
                    .unwrap_or_default(),
                detail: r.get("detail"),
                occurred_at: ts(r.get("occurred_at")),
            })
            .collect();
    }
    Ok(intents)
}

pub async fn intent(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    id: Uuid,
) -> Result<Option<v1::PaymentIntent>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {INTENT_COLUMNS} FROM {schema}.intents WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_events(pool, schema, vec![intent_from(&row)])
        .await?
        .pop())
}

/// Intents of a tenant, optionally of one session and/or account, in creation order from `after`.
/// Which intents a page lists: the tenant's, narrowed by each filter given.
#[derive(Debug, Clone, Default)]
pub struct IntentFilter<'a> {
    pub tenant: &'a str,
    pub session: Option<Uuid>,
    pub account: Option<Uuid>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub status: Option<&'static str>,
}

pub async fn intents(
    pool: &PgPool,
    schema: &str,
    filter: &IntentFilter<'_>,
    page: Page,
) -> Result<(Vec<v1::PaymentIntent>, Option<i64>), sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {INTENT_COLUMNS} FROM {schema}.intents
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR session_id = $2) AND ($3::uuid IS NULL OR account_id = $3)
           AND seq > $4
           AND ($6::timestamptz IS NULL OR created_at > $6)
           AND ($7::timestamptz IS NULL OR created_at < $7)
           AND ($8::text IS NULL OR status = $8)
         ORDER BY seq LIMIT $5"
    ))
    .bind(filter.tenant)
    .bind(filter.session)
    .bind(filter.account)
    .bind(page.after)
    // The page size is capped by the callers (500).
    .bind(page.fetch())
    .bind(filter.created_after)
    .bind(filter.created_before)
    .bind(filter.status)
    .fetch_all(pool)
    .await?;
    let (rows, next) = page.cut(rows, |r| r.get("seq"));
    let intents = rows.iter().map(intent_from).collect();
    Ok((with_events(pool, schema, intents).await?, next))
}

/// The function `project_intent_events` receives what it received before the amounts became
/// `Money`: the same lines for an event stored at 1.0 (upcast, as the relay reads it) as the code
/// of 1.0 built.
#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::TimeZone;
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::UPCASTERS;

    fn stored(sequence: i64, payload: Value) -> StoredEvent {
        let event_type = payload.as_object().unwrap().keys().next().unwrap().clone();
        let (payload, event_version) =
            joule_store::upcast::upcast(&UPCASTERS, &event_type, "1.0", payload);
        StoredEvent {
            schema: "payments".into(),
            aggregate_type: "PaymentIntent".into(),
            aggregate_id: "6a6f756c-6550-4000-8000-000000000001".into(),
            sequence,
            event_type,
            event_version,
            payload,
            metadata: HashMap::new(),
            relayed_at: Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap(),
        }
    }

    fn context() -> Value {
        json!({
            "tenant_id": "default",
            "account_id": "6a6f756c-6550-4000-8000-00000000000a",
            "session_id": "6a6f756c-6550-4000-8000-00000000000b",
            "order_id": null,
            "purpose": "session",
            "provider": "sandbox",
            "method_id": "6a6f756c-6550-4000-8000-00000000000c",
            "token": "tok_sandbox_ok",
            "customer": "cus",
            "currency": "EUR",
        })
    }

    #[test]
    fn events_stored_at_1_0_give_the_projection_the_lines_it_always_got() {
        let id = "6a6f756c-6550-4000-8000-000000000001";
        let at = "2026-11-02T08:00:00.000000Z";
        let opened = stored(
            1,
            json!({"IntentOpened": {"context": context(), "amount": "50.00",
                "opened_at": "2026-11-02T08:00:00Z"}}),
        );
        assert_eq!(
            intent_line(&opened).unwrap(),
            json!({"id": id, "at": at, "sequence": 1, "type": "IntentOpened", "amount": "50.00",
                "detail": "session via sandbox", "tenant_id": "default",
                "session_id": "6a6f756c-6550-4000-8000-00000000000b", "order_id": null,
                "account_id": "6a6f756c-6550-4000-8000-00000000000a", "provider": "sandbox",
                "kind": "card", "purpose": "session",
                "method_id": "6a6f756c-6550-4000-8000-00000000000c", "currency": "EUR"})
        );
        let captured = stored(
            5,
            json!({"PaymentCaptured": {"context": context(), "amount": "12.30",
                "released": "37.70", "uncollected": "0", "at": "2026-11-02T08:00:00Z"}}),
        );
        assert_eq!(
            intent_line(&captured).unwrap(),
            json!({"id": id, "at": at, "sequence": 5, "type": "PaymentCaptured",
                "amount": "12.30", "detail": "released 37.70", "value": "12.30"})
        );
        let stopped = stored(
            6,
            json!({"ChargeStopRequested": {"context": context(), "stop": {
                "charge_point_id": "CP-1", "transaction_id": "7", "running_cost": "45.5",
                "delivered": true, "answer": "RemoteStopTransaction: Accepted", "attempts": 1},
                "reason": "insufficient_funds", "code": "card_declined",
                "at": "2026-11-02T08:00:00Z"}}),
        );
        assert_eq!(
            intent_line(&stopped).unwrap(),
            json!({"id": id, "at": at, "sequence": 6, "type": "ChargeStopRequested",
                "amount": "45.5",
                "detail": "stop CP-1 transaction 7: RemoteStopTransaction: Accepted (insufficient_funds)"})
        );
        // A request record has no business time: the relay's.
        let requested = stored(
            2,
            json!({"AuthorizationRequested": {"attempt": 1, "amount": "50.00"}}),
        );
        assert_eq!(
            intent_line(&requested).unwrap(),
            json!({"id": id, "at": "2026-11-02T09:00:00.000000Z", "sequence": 2,
                "type": "AuthorizationRequested", "amount": "50.00", "detail": "attempt 1"})
        );
    }
}
