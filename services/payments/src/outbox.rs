//! What the payments service does with its committed events: the read tables (intents with their
//! event history, payment methods, wallets with their history, settlement lines), updated in the
//! relay's transaction, and the PAYMENT stream's messages.

use chrono::{DateTime, Utc};
use joule_bus::Outgoing;
use joule_proto::v1;
use joule_store::{BoxFuture, OutboxHandler, StoredEvent};
use rust_decimal::Decimal;
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

fn decode_error(e: impl ToString) -> sqlx::Error {
    sqlx::Error::Decode(e.to_string().into())
}

fn uuid(raw: &str) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(raw).map_err(decode_error)
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

/// A value of an intent projection's statement, bound in order after the fixed parameters.
enum Arg {
    Text(String),
    OptText(Option<String>),
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Dec(Decimal),
    Time(DateTime<Utc>),
    Flag(bool),
}

impl PaymentsOutbox {
    /// Projects one intent event in ONE statement: the `intents` row change (a data-modifying CTE)
    /// and the history line together. The relay runs this for every event of every intent, so each
    /// round trip saved here is saved on every event (it was two statements per event).
    ///
    /// Parameters: `$1` intent id, `$2` event time, `$3`..`$6` the history line (sequence, type,
    /// amount, detail), `$7` onwards the change's own values ([`Arg`]s, in order).
    async fn project_intent(
        &self,
        conn: &mut PgConnection,
        stored: &StoredEvent,
    ) -> Result<(), sqlx::Error> {
        let s = &self.schema;
        let id = uuid(&stored.aggregate_id)?;
        let event: IntentEvent = stored.decode().map_err(decode_error)?;
        let at = event_time(&event).unwrap_or(stored.relayed_at);
        let update = |set: &str| {
            format!(
                "WITH changed AS (UPDATE {s}.intents SET {set}, updated_at = $2 WHERE id = $1) "
            )
        };
        let (change, args): (String, Vec<Arg>) = match &event {
            IntentEvent::IntentOpened { context, .. } => (
                format!(
                    "WITH opened AS (INSERT INTO {s}.intents (id, tenant_id, session_id, order_id, account_id, provider,
                        kind, purpose, payment_method_id, status, currency, pending_op, created_at, updated_at)
                     VALUES ($1, $7, $8, $9, $10, $11, $12, $13, $14, 'pending', $15, 'authorize', $2, $2)
                     ON CONFLICT (id) DO NOTHING) "
                ),
                vec![
                    Arg::Text(context.tenant_id.clone()),
                    Arg::OptUuid(context.session_id.map(|s| s.as_uuid())),
                    Arg::OptText(context.order_id.clone()),
                    Arg::Uuid(context.account_id.as_uuid()),
                    Arg::Text(context.provider.as_str().into()),
                    Arg::Text(context.provider.kind().into()),
                    Arg::Text(context.purpose.as_str().into()),
                    Arg::Uuid(context.method_id.as_uuid()),
                    Arg::Text(context.currency.code().into()),
                ],
            ),
            IntentEvent::AuthorizationRequested { .. } => {
                (update("pending_op = 'authorize'"), vec![])
            }
            IntentEvent::PaymentAuthorized { amount, .. } => (
                update(
                    "status = 'authorized', amount_authorized = amount_authorized + $7, pending_op = NULL,
                     failure_code = '', failure_message = ''",
                ),
                vec![Arg::Dec(*amount)],
            ),
            IntentEvent::PaymentFailed { code, message, .. } => (
                update("status = 'failed', pending_op = NULL, failure_code = $7, failure_message = $8"),
                vec![Arg::Text(code.clone()), Arg::Text(message.clone())],
            ),
            IntentEvent::ExtensionRequested { .. } => (update("pending_op = 'extend'"), vec![]),
            IntentEvent::HoldExtended { total, .. } => (
                update("amount_authorized = $7, pending_op = NULL"),
                vec![Arg::Dec(*total)],
            ),
            IntentEvent::HoldExhausted { reason, code, .. } => (
                update("pending_op = NULL, failure_code = $7, failure_message = $8"),
                vec![Arg::Text(code.clone()), Arg::Text(reason.clone())],
            ),
            IntentEvent::CaptureRequested { .. } => (
                update("pending_op = 'capture', next_capture_at = NULL"),
                vec![],
            ),
            IntentEvent::PaymentCaptured { amount, .. } => (
                update(
                    "status = 'captured', amount_captured = $7, pending_op = NULL, next_capture_at = NULL,
                     failure_code = '', failure_message = ''",
                ),
                vec![Arg::Dec(*amount)],
            ),
            IntentEvent::CaptureFailed {
                code,
                message,
                next_attempt_at,
                ..
            } => (
                update(
                    "pending_op = NULL, next_capture_at = $7, failure_code = $8, failure_message = $9",
                ),
                vec![
                    Arg::Time(*next_attempt_at),
                    Arg::Text(code.clone()),
                    Arg::Text(message.clone()),
                ],
            ),
            IntentEvent::DunningStarted { code, .. } => (
                update(
                    "status = 'dunning', pending_op = NULL, next_capture_at = NULL, failure_code = $7,
                     failure_message = 'capture failed; collected by dunning'",
                ),
                vec![Arg::Text(code.clone())],
            ),
            IntentEvent::VoidRequested { .. } => (update("pending_op = 'void'"), vec![]),
            IntentEvent::PaymentVoided { reason, .. } => (
                update("status = CASE WHEN $7 THEN status ELSE 'voided' END, pending_op = NULL"),
                vec![Arg::Flag(*reason == crate::intent::VoidReason::Dunning)],
            ),
            IntentEvent::RefundRequested { .. } => (update("pending_op = 'refund'"), vec![]),
            IntentEvent::PaymentRefunded { total_refunded, .. } => (
                update(
                    "amount_refunded = $7, pending_op = NULL,
                     status = CASE WHEN $7 >= amount_captured THEN 'refunded' ELSE 'partially_refunded' END",
                ),
                vec![Arg::Dec(*total_refunded)],
            ),
            IntentEvent::RefundFailed { .. } => (update("pending_op = NULL"), vec![]),
            // Only in the history: the status and amounts do not change.
            IntentEvent::ChargeStopRequested { .. } => (String::new(), vec![]),
        };
        let (amount, detail) = history(&event);
        let sql = format!(
            "{change}INSERT INTO {s}.intent_events (intent_id, sequence, type, amount, detail, occurred_at)
             VALUES ($1, $3, $4, $5, $6, $2) ON CONFLICT DO NOTHING"
        );
        let mut query = sqlx::query(&sql)
            .bind(id)
            .bind(at)
            .bind(stored.sequence)
            .bind(&stored.event_type)
            .bind(amount)
            .bind(detail);
        for arg in args {
            query = match arg {
                Arg::Text(v) => query.bind(v),
                Arg::OptText(v) => query.bind(v),
                Arg::Uuid(v) => query.bind(v),
                Arg::OptUuid(v) => query.bind(v),
                Arg::Dec(v) => query.bind(v),
                Arg::Time(v) => query.bind(v),
                Arg::Flag(v) => query.bind(v),
            };
        }
        query.execute(&mut *conn).await?;
        Ok(())
    }

    async fn project_methods(
        &self,
        conn: &mut PgConnection,
        stored: &StoredEvent,
    ) -> Result<(), sqlx::Error> {
        let s = &self.schema;
        match stored.decode::<MethodsEvent>().map_err(decode_error)? {
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
    ) -> Result<(), sqlx::Error> {
        let s = &self.schema;
        let id = uuid(&stored.aggregate_id)?;
        let event: WalletEvent = stored.decode().map_err(decode_error)?;
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
    ) -> Result<(), sqlx::Error> {
        let s = &self.schema;
        let SettlementEvent::SettlementLineRecorded {
            tenant_id,
            line,
            intent_id,
        } = stored.decode().map_err(decode_error)?;
        sqlx::query(&format!(
            "INSERT INTO {s}.settlement_lines (id, tenant_id, provider, transaction_id, category, currency, gross,
                fee, net, intent_reference, intent_id, payout_id, occurred_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(uuid(&stored.aggregate_id)?)
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
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            match event.aggregate_type.as_str() {
                PaymentIntent::TYPE => self.project_intent(conn, event).await,
                AccountMethods::TYPE => self.project_methods(conn, event).await,
                Wallet::TYPE => self.project_wallet(conn, event).await,
                SettlementRecord::TYPE => self.project_settlement(conn, event).await,
                _ => Ok(()),
            }
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
