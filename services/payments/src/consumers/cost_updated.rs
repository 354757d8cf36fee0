//! `payments-cost` (PRICING, `pricing.*.cost_updated`): the hold follows the live cost of a session.
//!
//! Pricing publishes `SessionCostUpdated` (`pricing.<session_id>.cost_updated`) for every meter
//! update of a running session. When the running cost reaches the [`HoldRule`]'s share of what is
//! held, the session's intent is extended (incremental authorisation, or a second hold where the
//! provider has none; the provider key is derived from the intent and the extension attempt, and an
//! extension to the same target is asked once). When the hold cannot be raised (`HoldExhausted`), the
//! gateway is asked to stop the charge (`joule.v1.ChargerCommands/Execute`, RemoteStop) and the intent
//! records why and what the gateway answered (`ChargeStopRequested`).
//!
//! The consumer never blocks the PRICING stream: a provider outage leaves the extension pending (the
//! sweeper or the next update resumes it), an unreachable gateway is asked a few times and then
//! recorded, and the next cost update asks again. Only a store failure retries the message in place.
//! `cost_updates` keeps the highest sequence acted on per session, so a redelivered or older estimate
//! changes nothing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{Currency, Money, SessionId, TenantId};
use joule_proto::v1::charger_command_request::Command;
use joule_proto::v1::charger_commands_client::ChargerCommandsClient;
use joule_proto::v1::{ChargerCommandRequest, RemoteStop, SessionCostUpdated};
use joule_runtime::GrpcChannel;
use joule_store::CommandMeta;
use rust_decimal::Decimal;
use sqlx::PgPool;
use tonic::Code;

use super::{engine_error, meta, parse};
use crate::amounts::HoldRule;
use crate::domain::intent::{IntentError, PaymentIntent, PendingOp, Status, StopRequest};
use crate::engine::{Engine, EngineError, ExtendOutcome};
use crate::ids::IntentId;

/// Calls to the gateway per stop before the attempt is recorded as undelivered.
const STOP_TRIES: u32 = 3;
/// Wait before the second call; it doubles for each further one.
const STOP_FIRST_DELAY: Duration = Duration::from_millis(200);

/// Asks the gateway to stop a charge.
pub struct GatewayStopper {
    client: ChargerCommandsClient<GrpcChannel>,
}

impl GatewayStopper {
    pub fn new(channel: GrpcChannel) -> Self {
        Self {
            client: ChargerCommandsClient::new(channel),
        }
    }

    /// Sends RemoteStop, asking again while the gateway is unreachable or busy; never fails, the
    /// answer says what happened.
    pub async fn stop(
        &self,
        tenant_id: &str,
        charge_point_id: &str,
        transaction_id: &str,
    ) -> (bool, String, u32) {
        let request = ChargerCommandRequest {
            tenant_id: tenant_id.to_owned(),
            charge_point_id: charge_point_id.to_owned(),
            command: Some(Command::RemoteStop(RemoteStop {
                transaction_id: transaction_id.to_owned(),
            })),
        };
        let mut delay = STOP_FIRST_DELAY;
        let mut tries: u32 = 0;
        loop {
            // At most STOP_TRIES calls.
            tries = tries.saturating_add(1);
            match self.client.clone().execute(request.clone()).await {
                Ok(answer) => {
                    let answer = answer.into_inner();
                    let accepted = answer.status == "Accepted";
                    return (
                        accepted,
                        format!("{}: {}", answer.action, answer.status),
                        tries,
                    );
                }
                Err(status) => {
                    let again = matches!(
                        status.code(),
                        Code::Unavailable
                            | Code::DeadlineExceeded
                            | Code::Unknown
                            | Code::ResourceExhausted
                    );
                    let answer = format!("gateway: {:?}: {}", status.code(), status.message());
                    if !again || tries >= STOP_TRIES {
                        return (false, answer, tries);
                    }
                    tracing::warn!(charge_point_id, answer, retry_in = ?delay, "stop request did not reach the gateway; asking again");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
            }
        }
    }
}

/// Extends a session's hold as its running cost grows; stops the charge when it cannot.
pub struct CostUpdatedHandler {
    pub engine: Arc<Engine>,
    pub pool: PgPool,
    pub schema: String,
    pub rule: HoldRule,
    pub stopper: GatewayStopper,
    pub default_tenant: TenantId,
}

/// What a cost update did (logged, and returned to tests of the handler's logic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    /// Older than (or the same as) an update already acted on.
    Stale,
    /// The session has no hold (billed by invoice, or its hold is not placed yet).
    NoHold,
    /// The hold is settled, failed or busy with another operation.
    NotHeld,
    /// The hold is still enough.
    Enough,
    Extended(Decimal),
    /// The hold could not be raised; the gateway was asked to stop (or was already).
    Stopped {
        delivered: bool,
    },
    /// The provider did not answer; the extension stays pending and is resumed later.
    Pending,
}

impl CostUpdatedHandler {
    async fn last_sequence(&self, session: SessionId) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(&format!(
            "SELECT sequence FROM {}.cost_updates WHERE session_id = $1",
            self.schema
        ))
        .bind(session.as_uuid())
        .fetch_optional(&self.pool)
        .await
    }

    async fn acted_on(&self, session: SessionId, sequence: i64) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO {s}.cost_updates (session_id, sequence) VALUES ($1, $2)
             ON CONFLICT (session_id) DO UPDATE
             SET sequence = GREATEST({s}.cost_updates.sequence, EXCLUDED.sequence), updated_at = now()",
            s = self.schema
        ))
        .bind(session.as_uuid())
        .bind(sequence)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Acts on one cost update: extends the hold or stops the charge when the rule says so.
    pub async fn act(
        &self,
        update: &SessionCostUpdated,
        meta: &CommandMeta,
    ) -> Result<Acted, HandlerError> {
        let session: SessionId = parse("session_id", &update.session_id)?;
        let currency: Currency = parse("currency", &update.currency)?;
        let cost = Decimal::from_str(update.total_incl_vat.trim()).map_err(|_| {
            HandlerError::Rejected(format!(
                "total_incl_vat: {:?} is not a decimal",
                update.total_incl_vat
            ))
        })?;
        let sequence = i64::try_from(update.sequence)
            .map_err(|_| HandlerError::Rejected("sequence: out of range".into()))?;
        if self
            .last_sequence(session)
            .await
            .map_err(transient)?
            .is_some_and(|last| last >= sequence)
        {
            return Ok(Acted::Stale);
        }
        let id = IntentId::for_session(session);
        let mut intent = self.engine.load(id).await.map_err(engine_error)?;
        let Some(context) = intent.context.clone() else {
            // Nothing to follow (yet): not recorded, so a later update acts once the hold exists.
            return Ok(Acted::NoHold);
        };
        if context.currency != currency {
            tracing::error!(%session, held = %context.currency, cost = %currency,
                "running cost in another currency than the hold; not following it");
            self.acted_on(session, sequence).await.map_err(transient)?;
            return Ok(Acted::NotHeld);
        }
        if let Some(PendingOp::Extend { .. }) = intent.pending {
            intent = match self.engine.drive(id, intent, meta).await {
                Ok(intent) => intent,
                Err(EngineError::ProviderUnavailable(_)) => return Ok(Acted::Pending),
                Err(e) => return Err(engine_error(e)),
            };
        }
        if intent.status() != Some(Status::Authorized) || intent.pending.is_some() {
            if intent.pending.is_none() {
                self.acted_on(session, sequence).await.map_err(transient)?;
            }
            return Ok(Acted::NotHeld);
        }
        let acted = if intent.exhausted {
            self.stop(id, &intent, update, Money::new(cost, currency), meta)
                .await?
        } else {
            match self
                .rule
                .target(cost, intent.authorized(), intent.opened_amount)
            {
                None => Acted::Enough,
                Some(target) => match self.engine.extend(id, target, meta).await {
                    Ok((_, ExtendOutcome::Extended(mode))) => {
                        tracing::info!(%session, %cost, %target, mode = mode.as_str(), "hold raised with the running cost");
                        Acted::Extended(target)
                    }
                    Ok((intent, ExtendOutcome::Exhausted { reason, code })) => {
                        tracing::warn!(%session, %cost, %target, reason, code, "hold exhausted; asking the gateway to stop the charge");
                        self.stop(id, &intent, update, Money::new(cost, currency), meta)
                            .await?
                    }
                    Err(EngineError::ProviderUnavailable(e)) => {
                        tracing::warn!(%session, error = %e, "extension outcome unknown; it stays pending");
                        return Ok(Acted::Pending);
                    }
                    // Captured or voided meanwhile, or another operation started: nothing to follow.
                    Err(EngineError::Intent(
                        e @ (IntentError::InvalidState { .. } | IntentError::InProgress(_)),
                    )) => {
                        tracing::info!(%session, error = %e, "hold not extended");
                        return Ok(Acted::NotHeld);
                    }
                    Err(e) => return Err(engine_error(e)),
                },
            }
        };
        self.acted_on(session, sequence).await.map_err(transient)?;
        Ok(acted)
    }

    async fn stop(
        &self,
        id: IntentId,
        intent: &PaymentIntent,
        update: &SessionCostUpdated,
        cost: Money,
        meta: &CommandMeta,
    ) -> Result<Acted, HandlerError> {
        if intent.stop_delivered {
            return Ok(Acted::Stopped { delivered: true });
        }
        let (delivered, answer, attempts) =
            if update.charge_point_id.is_empty() || update.transaction_id.is_empty() {
                (
                    false,
                    "the cost update names no charge point or transaction".to_owned(),
                    0,
                )
            } else {
                self.stopper
                    .stop(
                        &meta.tenant_id,
                        &update.charge_point_id,
                        &update.transaction_id,
                    )
                    .await
            };
        let stop = StopRequest {
            charge_point_id: update.charge_point_id.clone(),
            transaction_id: update.transaction_id.clone(),
            running_cost: cost,
            delivered,
            answer,
            attempts,
        };
        tracing::info!(intent = %id, charge_point_id = %stop.charge_point_id, delivered, answer = %stop.answer, "stop of an exhausted hold's charge recorded");
        self.engine
            .record_stop(id, stop, meta)
            .await
            .map_err(engine_error)?;
        Ok(Acted::Stopped { delivered })
    }
}

fn transient(e: sqlx::Error) -> HandlerError {
    joule_store::consumer_error(e)
}

impl Handler for CostUpdatedHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if received.event_type() != "joule.v1.SessionCostUpdated" {
                return Ok(());
            }
            let update: SessionCostUpdated = received.payload()?;
            let meta = meta(received, &self.default_tenant);
            let acted = self.act(&update, &meta).await?;
            tracing::debug!(session = %update.session_id, sequence = update.sequence, ?acted, "cost update");
            Ok(())
        })
    }
}
