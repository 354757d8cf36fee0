//! What the payments service does with its committed events: the read tables (intents with their
//! event history, payment methods, wallets with their history, settlement lines), updated in the
//! relay's transaction, and the PAYMENT stream's messages.

use chrono::{DateTime, SecondsFormat, Utc};
use joule_bus::Outgoing;
use joule_proto::v1;
use joule_store::{BoxFuture, OutboxHandler, ProjectionError, StoredEvent};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::amounts::wire;
use crate::intent::{IntentContext, IntentEvent, PaymentIntent};
use crate::methods::{AccountMethods, MethodsEvent};
use crate::settlement::{SettlementEvent, SettlementRecord};
use crate::wallet::{Wallet, WalletEvent};
use cqrs_es::Aggregate;

pub struct PaymentsOutbox {
    schema: String,
}

impl PaymentsOutbox {
    pub fn new(schema: &str) -> Self {
        Self {
            schema: schema.to_owned(),
        }
    }
}

/// The event's aggregate id, a UUID in every payments aggregate.
fn aggregate_uuid(stored: &StoredEvent) -> Result<Uuid, ProjectionError> {
    Uuid::parse_str(&stored.aggregate_id).map_err(|e| ProjectionError::decode(stored, e))
}

/// One line of an intent's history: what happened, the amount it moved, and a short detail.
fn history(event: &IntentEvent) -> (Option<Decimal>, String) {
    match event {
        IntentEvent::IntentOpened {
            context, amount, ..
        } => (
            Some(*amount),
            format!(
                "{} via {}",
                context.purpose.as_str(),
                context.provider.as_str()
            ),
        ),
        IntentEvent::AuthorizationRequested { attempt, amount } => {
            (Some(*amount), format!("attempt {attempt}"))
        }
        IntentEvent::PaymentAuthorized {
            amount, reference, ..
        } => (Some(*amount), reference.clone()),
        IntentEvent::PaymentFailed { amount, code, .. } => (Some(*amount), code.clone()),
        IntentEvent::ExtensionRequested { new_total, attempt } => {
            (Some(*new_total), format!("attempt {attempt}"))
        }
        // The provider reference, so webhooks and settlement lines find the intent.
        IntentEvent::HoldExtended {
            added, reference, ..
        } => (Some(*added), reference.clone()),
        IntentEvent::HoldExhausted {
            requested_total,
            reason,
            code,
            ..
        } => (Some(*requested_total), format!("{reason} ({code})")),
        IntentEvent::CaptureRequested {
            amount, attempt, ..
        } => (Some(*amount), format!("attempt {attempt}")),
        IntentEvent::PaymentCaptured {
            amount, released, ..
        } => (Some(*amount), format!("released {released}")),
        IntentEvent::CaptureFailed {
            amount,
            code,
            next_attempt_at,
            ..
        } => (
            Some(*amount),
            format!("{code}; next attempt at {}", next_attempt_at.to_rfc3339()),
        ),
        IntentEvent::DunningStarted {
            amount_due, code, ..
        } => (Some(*amount_due), code.clone()),
        IntentEvent::VoidRequested { reason, .. } => (None, reason.as_str().into()),
        IntentEvent::PaymentVoided {
            released, reason, ..
        } => (Some(*released), reason.as_str().into()),
        IntentEvent::RefundRequested { amount, reason, .. } => (Some(*amount), reason.clone()),
        IntentEvent::PaymentRefunded {
            amount, reference, ..
        } => (Some(*amount), reference.clone()),
        IntentEvent::RefundFailed { amount, code, .. } => (Some(*amount), code.clone()),
        IntentEvent::ChargeStopRequested { stop, reason, .. } => (
            Some(stop.running_cost),
            format!(
                "stop {} transaction {}: {} ({reason})",
                stop.charge_point_id, stop.transaction_id, stop.answer
            ),
        ),
    }
}

fn event_time(event: &IntentEvent) -> Option<DateTime<Utc>> {
    match event {
        IntentEvent::IntentOpened { opened_at, .. } => Some(*opened_at),
        IntentEvent::PaymentAuthorized { at, .. }
        | IntentEvent::PaymentFailed { at, .. }
        | IntentEvent::HoldExtended { at, .. }
        | IntentEvent::HoldExhausted { at, .. }
        | IntentEvent::PaymentCaptured { at, .. }
        | IntentEvent::CaptureFailed { at, .. }
        | IntentEvent::DunningStarted { at, .. }
        | IntentEvent::PaymentVoided { at, .. }
        | IntentEvent::PaymentRefunded { at, .. }
        | IntentEvent::RefundFailed { at, .. }
        | IntentEvent::ChargeStopRequested { at, .. } => Some(*at),
        _ => None,
    }
}

/// One intent event as the projection function `project_intent_events` (migration 6) reads it: the
/// history line and the values its change of the `intents` row needs.
fn intent_line(stored: &StoredEvent) -> Result<serde_json::Value, ProjectionError> {
    let event: IntentEvent = stored.read()?;
    // Microseconds, as PostgreSQL keeps them (truncated, as a bound timestamp is).
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let at = event_time(&event).unwrap_or(stored.relayed_at);
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
        } => json!({ "value": value.to_string() }),
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
            json!({ "keep_status": *reason == crate::intent::VoidReason::Dunning })
        }
        _ => json!({}),
    };
    if let (Some(line), serde_json::Value::Object(change)) = (line.as_object_mut(), change) {
        line.extend(change);
    }
    Ok(line)
}

impl PaymentsOutbox {
    /// Projects a batch's intent events in ONE statement (the function `project_intent_events`).
    async fn project_intents(
        &self,
        conn: &mut PgConnection,
        events: &[&StoredEvent],
    ) -> Result<(), ProjectionError> {
        if events.is_empty() {
            return Ok(());
        }
        let lines = events
            .iter()
            .map(|e| intent_line(e))
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(&format!("SELECT {}.project_intent_events($1)", self.schema))
            .bind(serde_json::Value::Array(lines))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn project_methods(
        &self,
        conn: &mut PgConnection,
        stored: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let s = &self.schema;
        match stored.read::<MethodsEvent>()? {
            MethodsEvent::PaymentMethodSaved {
                tenant_id,
                account_id,
                method,
                at,
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {s}.methods (id, tenant_id, account_id, provider, kind, brand, last4, exp_month,
                        exp_year, is_default, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, $10) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(method.method_id.as_uuid())
                .bind(tenant_id)
                .bind(account_id.as_uuid())
                .bind(method.provider.as_str())
                .bind(method.provider.kind())
                .bind(&method.brand)
                .bind(&method.last4)
                .bind(method.exp_month as i32)
                .bind(method.exp_year as i32)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            MethodsEvent::DefaultMethodChanged {
                account_id,
                method_id,
                ..
            } => {
                sqlx::query(&format!(
                    "UPDATE {s}.methods SET is_default = (id = $2) WHERE account_id = $1"
                ))
                .bind(account_id.as_uuid())
                .bind(method_id.as_uuid())
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    async fn project_wallet(
        &self,
        conn: &mut PgConnection,
        stored: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let s = &self.schema;
        let id = aggregate_uuid(stored)?;
        let event: WalletEvent = stored.read()?;
        let (kind, amount, balance, held, reference, at) = match &event {
            WalletEvent::WalletOpened {
                tenant_id,
                account_id,
                currency,
                at,
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {s}.wallets (id, tenant_id, account_id, currency, balance, held, created_at)
                     VALUES ($1, $2, $3, $4, 0, 0, $5) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(id)
                .bind(tenant_id)
                .bind(account_id.as_uuid())
                .bind(currency.code())
                .bind(at)
                .execute(&mut *conn)
                .await?;
                return Ok(());
            }
            WalletEvent::WalletToppedUp {
                amount,
                balance,
                held,
                reference,
                at,
                ..
            } => ("top_up", amount, balance, held, reference.clone(), at),
            WalletEvent::WalletHoldPlaced {
                hold_id,
                amount,
                balance,
                held,
                at,
            } => ("hold", amount, balance, held, hold_id.clone(), at),
            WalletEvent::WalletHoldRaised {
                hold_id,
                added,
                balance,
                held,
                at,
            } => ("hold_extended", added, balance, held, hold_id.clone(), at),
            WalletEvent::WalletHoldCaptured {
                hold_id,
                amount,
                balance,
                held,
                at,
                ..
            } => ("capture", amount, balance, held, hold_id.clone(), at),
            WalletEvent::WalletHoldReleased {
                hold_id,
                released,
                balance,
                held,
                at,
            } => ("release", released, balance, held, hold_id.clone(), at),
            WalletEvent::WalletRefunded {
                refund_id,
                amount,
                balance,
                held,
                at,
            } => ("refund", amount, balance, held, refund_id.clone(), at),
        };
        sqlx::query(&format!(
            "UPDATE {s}.wallets SET balance = $2, held = $3 WHERE id = $1"
        ))
        .bind(id)
        .bind(balance)
        .bind(held)
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {s}.wallet_transactions (wallet_id, sequence, type, amount, balance, held, reference, occurred_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
        ))
        .bind(id)
        .bind(stored.sequence)
        .bind(kind)
        .bind(amount)
        .bind(balance)
        .bind(held)
        .bind(reference)
        .bind(at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn project_settlement(
        &self,
        conn: &mut PgConnection,
        stored: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let s = &self.schema;
        let SettlementEvent::SettlementLineRecorded {
            tenant_id,
            line,
            intent_id,
        } = stored.read()?;
        sqlx::query(&format!(
            "INSERT INTO {s}.settlement_lines (id, tenant_id, provider, transaction_id, category, currency, gross,
                fee, net, intent_reference, intent_id, payout_id, occurred_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(aggregate_uuid(stored)?)
        .bind(tenant_id)
        .bind(&line.provider)
        .bind(&line.transaction_id)
        .bind(&line.category)
        .bind(line.currency.code())
        .bind(line.gross)
        .bind(line.fee)
        .bind(line.net)
        .bind(&line.intent_reference)
        .bind(intent_id)
        .bind(&line.payout_id)
        .bind(line.occurred_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// A message's subject kind, its time, and how to wrap it once its envelope metadata is known.
type IntentMessage = (
    &'static str,
    DateTime<Utc>,
    Box<dyn FnOnce(joule_bus::EventMeta) -> v1::Envelope>,
);

fn intent_message(id: &str, event: &IntentEvent) -> Option<IntentMessage> {
    fn common(c: &IntentContext) -> (String, String, String, String, String) {
        (
            c.session_id.map(|s| s.to_string()).unwrap_or_default(),
            c.order_id.clone().unwrap_or_default(),
            c.account_id.to_string(),
            c.provider.as_str().to_owned(),
            c.provider.kind().to_owned(),
        )
    }
    let id = id.to_owned();
    let ts = |t: &DateTime<Utc>| Some(joule_proto::time::to_proto(*t));
    Some(match event {
        IntentEvent::PaymentAuthorized {
            context,
            reference,
            amount,
            at,
            ..
        } => {
            let (session_id, order_id, account_id, provider, kind) = common(context);
            let c = context.currency;
            let m = v1::PaymentAuthorized {
                intent_id: id,
                session_id,
                order_id,
                account_id,
                provider,
                kind,
                purpose: context.purpose.as_str().into(),
                payment_method_id: context.method_id.to_string(),
                provider_reference: reference.clone(),
                currency: c.to_string(),
                amount: wire(*amount, c),
                amount_authorized: wire(*amount, c),
                authorized_at: ts(at),
            };
            (
                "authorized",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        IntentEvent::HoldExtended {
            context,
            mode,
            reference,
            added,
            total,
            at,
        } => {
            let (session_id, _, account_id, provider, kind) = common(context);
            let c = context.currency;
            let m = v1::PaymentHoldExtended {
                intent_id: id,
                session_id,
                account_id,
                provider,
                kind,
                mode: mode.as_str().into(),
                provider_reference: reference.clone(),
                currency: c.to_string(),
                amount: wire(*added, c),
                amount_authorized: wire(*total, c),
                extended_at: ts(at),
            };
            (
                "extended",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        IntentEvent::HoldExhausted {
            context,
            requested_total,
            total,
            reason,
            code,
            at,
        } => {
            let (session_id, _, account_id, provider, _) = common(context);
            let c = context.currency;
            let m = v1::PaymentHoldExhausted {
                intent_id: id,
                session_id,
                account_id,
                provider,
                currency: c.to_string(),
                amount_requested: wire(*requested_total, c),
                amount_authorized: wire(*total, c),
                reason: reason.clone(),
                provider_code: code.clone(),
                occurred_at: ts(at),
            };
            (
                "hold_exhausted",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        IntentEvent::PaymentCaptured {
            context,
            amount,
            released,
            uncollected,
            at,
        } => {
            let (session_id, order_id, account_id, provider, kind) = common(context);
            let c = context.currency;
            let m = v1::PaymentCaptured {
                intent_id: id,
                session_id,
                order_id,
                account_id,
                provider,
                kind,
                purpose: context.purpose.as_str().into(),
                currency: c.to_string(),
                amount: wire(*amount, c),
                amount_released: wire(*released, c),
                amount_uncollected: wire(*uncollected, c),
                captured_at: ts(at),
            };
            (
                "captured",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        IntentEvent::CaptureFailed {
            context,
            attempt,
            amount,
            code,
            message,
            next_attempt_at,
            at,
        } => {
            let (session_id, _, account_id, provider, _) = common(context);
            let c = context.currency;
            let m = v1::PaymentCaptureFailed {
                intent_id: id,
                session_id,
                account_id,
                provider,
                currency: c.to_string(),
                amount: wire(*amount, c),
                attempt: *attempt,
                provider_code: code.clone(),
                message: message.clone(),
                next_attempt_at: ts(next_attempt_at),
            };
            (
                "capture_failed",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        IntentEvent::DunningStarted {
            context,
            amount_due,
            attempts,
            code,
            at,
        } => {
            let (session_id, _, account_id, provider, _) = common(context);
            let c = context.currency;
            let m = v1::PaymentDunningStarted {
                intent_id: id,
                session_id,
                account_id,
                provider,
                currency: c.to_string(),
                amount_due: wire(*amount_due, c),
                attempts: *attempts,
                provider_code: code.clone(),
                started_at: ts(at),
            };
            (
                "dunning",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        IntentEvent::PaymentVoided {
            context,
            released,
            reason,
            at,
        } => {
            let (session_id, _, account_id, provider, kind) = common(context);
            let c = context.currency;
            let m = v1::PaymentVoided {
                intent_id: id,
                session_id,
                account_id,
                provider,
                kind,
                currency: c.to_string(),
                amount_released: wire(*released, c),
                reason: reason.as_str().into(),
                voided_at: ts(at),
            };
            (
                "voided",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        IntentEvent::PaymentFailed {
            context,
            amount,
            code,
            message,
            at,
        } => {
            let (session_id, order_id, account_id, provider, kind) = common(context);
            let c = context.currency;
            let m = v1::PaymentFailed {
                intent_id: id,
                session_id,
                order_id,
                account_id,
                provider,
                kind,
                currency: c.to_string(),
                amount: wire(*amount, c),
                provider_code: code.clone(),
                message: message.clone(),
                failed_at: ts(at),
            };
            (
                "failed",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        IntentEvent::PaymentRefunded {
            context,
            refund_id,
            amount,
            total_refunded,
            captured,
            reason,
            reference,
            at,
        } => {
            let (session_id, _, account_id, provider, kind) = common(context);
            let c = context.currency;
            let m = v1::PaymentRefunded {
                intent_id: id,
                refund_id: refund_id.to_string(),
                session_id,
                account_id,
                provider,
                kind,
                purpose: context.purpose.as_str().into(),
                currency: c.to_string(),
                amount: wire(*amount, c),
                amount_refunded: wire(*total_refunded, c),
                amount_captured: wire(*captured, c),
                reason: reason.clone(),
                provider_reference: reference.clone(),
                refunded_at: ts(at),
            };
            (
                "refunded",
                *at,
                Box::new(move |meta| joule_bus::envelope(&m, meta)),
            )
        }
        _ => return None,
    })
}

impl OutboxHandler for PaymentsOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            match event.aggregate_type.as_str() {
                PaymentIntent::TYPE => self.project_intents(conn, &[event]).await,
                AccountMethods::TYPE => self.project_methods(conn, event).await,
                Wallet::TYPE => self.project_wallet(conn, event).await,
                SettlementRecord::TYPE => self.project_settlement(conn, event).await,
                _ => Ok(()),
            }
        })
    }

    /// The batch's intent events in one statement, then the others (methods, wallets, settlement)
    /// one by one: they touch other tables, so the order between the two groups does not matter.
    fn project_batch<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let (intents, others): (Vec<&StoredEvent>, Vec<&StoredEvent>) = events
                .iter()
                .partition(|e| e.aggregate_type == PaymentIntent::TYPE);
            self.project_intents(conn, &intents).await?;
            for event in others {
                self.project(conn, event).await?;
            }
            Ok(())
        })
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        let out = |subject: String, envelope: v1::Envelope| {
            vec![Outgoing {
                subject,
                envelope,
                trace_headers: event.trace_headers(),
            }]
        };
        match event.aggregate_type.as_str() {
            PaymentIntent::TYPE => {
                let decoded: IntentEvent = event.decode().map_err(|e| e.to_string())?;
                Ok(match intent_message(&event.aggregate_id, &decoded) {
                    Some((kind, at, build)) => out(
                        format!("payment.{}.{kind}", event.aggregate_id),
                        build(event.meta(0, at)),
                    ),
                    None => vec![],
                })
            }
            Wallet::TYPE => match event.decode::<WalletEvent>().map_err(|e| e.to_string())? {
                WalletEvent::WalletToppedUp {
                    account_id,
                    currency,
                    amount,
                    funding,
                    reference,
                    intent_id,
                    balance,
                    at,
                    ..
                } => {
                    let m = v1::WalletToppedUp {
                        wallet_id: event.aggregate_id.clone(),
                        account_id: account_id.to_string(),
                        currency: currency.to_string(),
                        amount: wire(amount, currency),
                        balance: wire(balance, currency),
                        funding: funding.as_str().into(),
                        reference,
                        intent_id: intent_id.map(|i| i.to_string()).unwrap_or_default(),
                        topped_up_at: Some(joule_proto::time::to_proto(at)),
                    };
                    Ok(out(
                        format!("payment.{}.topped_up", event.aggregate_id),
                        joule_bus::envelope(&m, event.meta(0, at)),
                    ))
                }
                _ => Ok(vec![]),
            },
            SettlementRecord::TYPE => {
                let SettlementEvent::SettlementLineRecorded {
                    line, intent_id, ..
                } = event.decode().map_err(|e| e.to_string())?;
                let c = line.currency;
                let m = v1::SettlementLineRecorded {
                    line_id: event.aggregate_id.clone(),
                    provider: line.provider.clone(),
                    transaction_id: line.transaction_id.clone(),
                    category: line.category.clone(),
                    currency: c.to_string(),
                    gross: wire(line.gross, c),
                    fee: wire(line.fee, c),
                    net: wire(line.net, c),
                    intent_id: intent_id.unwrap_or_default(),
                    provider_reference: line.intent_reference.clone(),
                    payout_id: line.payout_id.clone(),
                    occurred_at: Some(joule_proto::time::to_proto(line.occurred_at)),
                };
                Ok(out(
                    format!("payment.{}.settled", event.aggregate_id),
                    joule_bus::envelope(&m, event.meta(0, line.occurred_at)),
                ))
            }
            _ => Ok(vec![]),
        }
    }
}
