//! `pricing-running-cost`: `SessionStarted`, `SessionMetered` and `SessionCompleted` from stream
//! SESSION (one durable consumer over all its subjects, so that a session's events are handled in
//! the order sessions published them; NATS 2.9 allows one filter subject per consumer).
//!
//! - `SessionStarted` chooses the session's tariff (retried while the registry lags, like final
//!   pricing) and records the running state with the estimate at the start.
//! - `SessionMetered` adds its readings, estimates the cost as if the session stopped at the latest
//!   reading, publishes `SessionCostUpdated` on `pricing.<session_id>.cost_updated` and waits for
//!   JetStream's ack, and only then stores the new sequence. Its `Nats-Msg-Id` is derived from the
//!   session and the sequence and the estimate from the stored state and the message alone, so a
//!   redelivery after a crash between publish and store publishes the very same message, which
//!   JetStream drops as a duplicate; a redelivery after the store is skipped by its sequence (ADR in
//!   the H1 notes). A metered event older than the stored sequence is ignored.
//! - `SessionCompleted` marks the state completed.

use std::collections::HashMap;
use std::str::FromStr;

use joule_bus::{
    BoxFuture, Bus, ConsumerSpec, Domain, EventMeta, Handler, HandlerError, OnPark, Outgoing,
    Received, envelope,
};
use joule_domain::{EventId, SessionId};
use joule_proto::EventName;
use joule_proto::time::from_proto;
use joule_proto::v1::{SessionCompleted, SessionMetered, SessionStarted};
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::{Attempts, MAX_ATTEMPTS, transient};
use crate::choice::{self, Choice};
use crate::domain::priced_session::Sample;
use crate::running::{self, EstimateInput, RunningState, RunningTariff, SessionStart};
use crate::wire;

pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Session,
        // All of SESSION, not one subject: a session's start, readings and completion in their
        // order.
        durable: "pricing-running-cost".into(),
        filter: None,
        // An estimate for display and holds: the next reading recomputes it; the bill comes from
        // the completed session (pricing-sessions).
        on_park: OnPark::Skip,
    }
}

pub struct RunningCostIntake {
    pool: PgPool,
    bus: Bus,
    /// Attempts per stream sequence while the tariff is not resolvable (as for final pricing).
    attempts: Attempts,
}

/// An energy in Wh from a SESSION message, inside its domain (`joule_domain::bounds`: sessions
/// publishes nothing else; an older message that does is not priced on).
fn decimal(field: &str, raw: &str) -> Result<Option<Decimal>, HandlerError> {
    match raw.trim() {
        "" => Ok(None),
        v => Decimal::from_str(v)
            .map_err(|_| HandlerError::Rejected(format!("{field}: {raw:?} is not a decimal")))
            .and_then(|wh| {
                joule_domain::bounds::energy_register_wh(field, wh)
                    .map(|_| Some(wh))
                    .map_err(|e| HandlerError::Rejected(e.to_string()))
            }),
    }
}

/// The subject relative to the namespace on which a session's running cost is published.
pub fn subject(session_id: &str) -> String {
    format!("pricing.{session_id}.cost_updated")
}

/// The `Nats-Msg-Id` of the estimate answering `sequence`: the same on every redelivery.
pub fn event_id(session_id: &str, sequence: u64) -> String {
    EventId::derived(&format!("pricing/cost_updated/{session_id}/{sequence}")).to_string()
}

impl RunningCostIntake {
    pub fn new(pool: PgPool, bus: Bus) -> Self {
        Self {
            pool,
            bus,
            attempts: Attempts::default(),
        }
    }

    /// The session's running state, recorded first when this is the first event of it pricing sees.
    async fn state(
        &self,
        start: SessionStart,
        received: &Received,
    ) -> Result<RunningState, HandlerError> {
        if let Some(state) = running::load(&self.pool, &start.session_id)
            .await
            .map_err(transient)?
        {
            return Ok(state);
        }
        let choice = choice::choose(
            &self.pool,
            &start.charger_id,
            start.connector_id,
            &start.account_id,
            start.started_at,
        )
        .await
        .map_err(transient)?;
        let (tariff, unpriced_reason) = match choice {
            Choice::Chosen(c) => (
                Some(RunningTariff {
                    tariff_id: c.pricing.tariff_id.to_string(),
                    tariff_version: c.pricing.tariff_version,
                    tariff_source: c.pricing.tariff_source.clone(),
                    currency: c.pricing.tariff.currency.code().to_owned(),
                    ocpi_json: c.ocpi_json,
                    discounts: c.pricing.discounts,
                    time_zone: c.time_zone,
                }),
                None,
            ),
            Choice::Unpriceable(reason) => (None, Some(reason)),
            Choice::Missing(missing) => {
                let attempts = self.attempts.count(received);
                if attempts <= MAX_ATTEMPTS {
                    return Err(HandlerError::Transient(missing));
                }
                (
                    None,
                    Some(format!("{missing} (gave up after {attempts} attempts)")),
                )
            }
        };
        let mut state = RunningState {
            start,
            tariff,
            unpriced_reason,
            readings: vec![],
            latest: None,
            completed: false,
        };
        if state.tariff.is_some() {
            // The cost of stopping at once (a flat fee, a minimum price): what GetRunningCost answers
            // before the first reading.
            let at_start = EstimateInput {
                readings: &[],
                energy_wh: Decimal::ZERO,
                final_wh: None,
                as_of: state.start.started_at,
            };
            match running::estimate(&state, &at_start) {
                Ok(b) => {
                    state.latest = Some(running::latest(
                        0,
                        Decimal::ZERO,
                        state.start.started_at,
                        &b,
                    ))
                }
                Err(e) => {
                    state.tariff = None;
                    state.unpriced_reason = Some(e.to_string());
                }
            }
        }
        if let Some(reason) = &state.unpriced_reason {
            tracing::warn!(session_id = %state.start.session_id, %reason, "no running cost for this session");
        }
        running::insert(&self.pool, &state)
            .await
            .map_err(transient)?;
        // Another replica may have recorded it first: the stored row decides.
        running::load(&self.pool, &state.start.session_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| HandlerError::Transient("running state vanished".into()))
    }

    async fn started(&self, received: &Received) -> Result<(), HandlerError> {
        let m: SessionStarted = received.payload()?;
        let start = SessionStart {
            session_id: session_id(&m.session_id)?,
            tenant_id: received.envelope.tenant_id.clone(),
            charger_id: m.charger_id,
            charge_point_id: m.charge_point_id,
            connector_id: m.connector_id,
            transaction_id: m.transaction_id,
            token_uid: m.token_uid,
            account_id: m.account_id,
            started_at: from_proto(m.started_at.as_ref()).ok_or_else(|| {
                HandlerError::Rejected("SessionStarted.started_at: missing".into())
            })?,
            meter_start_wh: decimal("SessionStarted.meter_start_wh", &m.meter_start_wh)?,
        };
        self.state(start, received).await?;
        Ok(())
    }

    async fn metered(&self, received: &Received) -> Result<(), HandlerError> {
        let m: SessionMetered = received.payload()?;
        let reject = |field: &str| {
            HandlerError::Rejected(format!("SessionMetered.{field}: missing or invalid"))
        };
        let mut readings = Vec::with_capacity(m.samples.len());
        for (i, r) in m.samples.iter().enumerate() {
            readings.push(Sample {
                at: from_proto(r.at.as_ref()).ok_or_else(|| reject(&format!("samples[{i}].at")))?,
                register_wh: decimal(
                    &format!("SessionMetered.samples[{i}].register_wh"),
                    &r.register_wh,
                )?
                .ok_or_else(|| reject(&format!("samples[{i}].register_wh")))?,
            });
        }
        let energy_wh = decimal("SessionMetered.energy_wh", &m.energy_wh)?
            .ok_or_else(|| reject("energy_wh"))?;
        let as_of = from_proto(m.as_of.as_ref()).ok_or_else(|| reject("as_of"))?;
        let meter_start_wh = decimal("SessionMetered.meter_start_wh", &m.meter_start_wh)?;
        let start = SessionStart {
            session_id: session_id(&m.session_id)?,
            tenant_id: received.envelope.tenant_id.clone(),
            charger_id: m.charger_id,
            charge_point_id: m.charge_point_id,
            connector_id: m.connector_id,
            transaction_id: m.transaction_id,
            token_uid: m.token_uid,
            account_id: m.account_id,
            started_at: from_proto(m.started_at.as_ref()).ok_or_else(|| reject("started_at"))?,
            meter_start_wh,
        };
        let mut state = self.state(start, received).await?;
        let stored = state.latest.as_ref().map_or(0, |l| l.sequence);
        if state.tariff.is_none() || state.completed || m.sequence <= stored {
            tracing::debug!(session_id = %state.start.session_id, sequence = m.sequence, stored, "reading skipped");
            return Ok(());
        }
        if state.start.meter_start_wh.is_none() {
            state.start.meter_start_wh = meter_start_wh;
        }
        let readings = running::merge(&state.readings, &readings);
        let input = EstimateInput {
            readings: &readings,
            energy_wh,
            final_wh: None,
            as_of,
        };
        let breakdown = match running::estimate(&state, &input) {
            Ok(b) => b,
            Err(e) => {
                // The engine refuses this input (it would refuse the final price too): nothing to
                // publish; the next reading tries again.
                tracing::warn!(session_id = %state.start.session_id, error = %e, "no estimate for this reading");
                return Ok(());
            }
        };
        let latest = running::latest(m.sequence, energy_wh, as_of, &breakdown);
        let message = wire::session_cost_updated(&state, &latest);
        let meta = EventMeta {
            event_id: event_id(&state.start.session_id, m.sequence),
            tenant_id: state.start.tenant_id.clone(),
            aggregate_type: "RunningCost".into(),
            aggregate_id: state.start.session_id.clone(),
            sequence: m.sequence,
            occurred_at: as_of,
            correlation_id: if received.envelope.correlation_id.is_empty() {
                received.envelope.event_id.clone()
            } else {
                received.envelope.correlation_id.clone()
            },
            causation_id: received.envelope.event_id.clone(),
        };
        let published = self
            .bus
            .publish(Outgoing {
                subject: subject(&state.start.session_id),
                envelope: envelope(&message, meta),
                trace_headers: HashMap::new(),
            })
            .await
            .map_err(transient)?;
        running::advance(
            &self.pool,
            &state.start.session_id,
            state.start.meter_start_wh,
            &readings,
            &latest,
        )
        .await
        .map_err(transient)?;
        tracing::debug!(session_id = %state.start.session_id, sequence = m.sequence, duplicate = published.duplicate, total = %latest.total_incl_vat, "running cost updated");
        Ok(())
    }

    async fn completed(&self, received: &Received) -> Result<(), HandlerError> {
        let m: SessionCompleted = received.payload()?;
        running::complete(&self.pool, &session_id(&m.session_id)?)
            .await
            .map_err(transient)
    }
}

fn session_id(raw: &str) -> Result<String, HandlerError> {
    raw.parse::<SessionId>()
        .map(|s| s.to_string())
        .map_err(|e| HandlerError::Rejected(format!("session_id: {e}")))
}

impl Handler for RunningCostIntake {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let outcome = match received.event_type() {
                SessionStarted::NAME => self.started(received).await,
                SessionMetered::NAME => self.metered(received).await,
                SessionCompleted::NAME => self.completed(received).await,
                _ => Ok(()),
            };
            if outcome.is_ok() {
                self.attempts.forget(received);
            }
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_id_depends_on_the_session_and_the_sequence_only() {
        assert_eq!(event_id("s1", 3), event_id("s1", 3));
        assert_ne!(event_id("s1", 3), event_id("s1", 4));
        assert_ne!(event_id("s1", 3), event_id("s2", 3));
    }
}
