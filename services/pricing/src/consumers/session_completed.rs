//! `pricing-sessions`: every completed session (`SessionCompleted`, `session.*.completed`) is
//! priced once with its tariff ([`crate::choice`]), or recorded as unpriceable with the reason.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_domain::{ChargerId, SessionId, bounds};
use joule_proto::time::from_proto;
use joule_proto::v1::SessionCompleted;
use joule_store::{CommandMeta, Decided};
use postgres_es::PostgresCqrs;
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::{Attempts, MAX_ATTEMPTS, read_error, transient};
use crate::choice::{self, Choice, Chosen};
use crate::domain::priced_session::{
    Metering, PricedSession, PricedSessionCommand, Sample, SessionFacts,
};
use crate::projections::priced_sessions;

pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Session,
        durable: "pricing-sessions".into(),
        filter: Some("session.*.completed".into()),
        // Money: a session's price is never skipped.
        on_park: OnPark::HoldAggregate,
    }
}

pub struct SessionIntake {
    pool: PgPool,
    cqrs: Arc<PostgresCqrs<Decided<PricedSession>>>,
    attempts: Attempts,
}

impl SessionIntake {
    pub fn new(pool: PgPool, cqrs: Arc<PostgresCqrs<Decided<PricedSession>>>) -> Self {
        Self {
            pool,
            cqrs,
            attempts: Attempts::default(),
        }
    }

    async fn command(
        &self,
        m: &SessionCompleted,
        session_id: SessionId,
        received: &Received,
    ) -> Result<PricedSessionCommand, HandlerError> {
        let now = Utc::now();
        let fail = |reason: String| PricedSessionCommand::FailPricing {
            session_id,
            charger_id: m.charger_id.clone(),
            reason,
            failed_at: now,
        };
        let (session, charger_id) = match session_facts(m, session_id, now) {
            Ok(facts) => facts,
            Err(reason) => return Ok(fail(reason)),
        };
        let missing = match choice::choose(
            &self.pool,
            &charger_id.to_string(),
            m.connector_id,
            &m.account_id,
            session.started_at,
        )
        .await
        .map_err(transient)?
        {
            Choice::Chosen(chosen) => {
                let Chosen {
                    pricing, time_zone, ..
                } = *chosen;
                return Ok(PricedSessionCommand::PriceSession {
                    session,
                    charger_id,
                    connector_id: m.connector_id,
                    pricing,
                    time_zone,
                    priced_at: now,
                });
            }
            Choice::Unpriceable(reason) => return Ok(fail(reason)),
            Choice::Missing(missing) => missing,
        };
        let attempts = self.attempts.count(received);
        if attempts > MAX_ATTEMPTS {
            tracing::warn!(%session_id, %missing, attempts, "giving up waiting for the registry");
            Ok(fail(format!(
                "{missing} (gave up after {attempts} attempts)"
            )))
        } else {
            Err(HandlerError::Transient(missing))
        }
    }
}

/// What pricing prices a completed session on, and its charger (which chooses the tariff); or why
/// the session cannot be priced (recorded as `PricingFailed`). Sessions publishes values inside
/// their domains (`joule_domain::bounds`); an older session outside them is recorded as
/// unpriceable rather than priced over centuries. `now`: when it is priced; no time may be more
/// than a day after it.
pub fn session_facts(
    m: &SessionCompleted,
    session_id: SessionId,
    now: DateTime<Utc>,
) -> Result<(SessionFacts, ChargerId), String> {
    let (Some(started_at), Some(stopped_at)) = (
        from_proto(m.started_at.as_ref()),
        from_proto(m.stopped_at.as_ref()),
    ) else {
        return Err("the session has no start or stop time".into());
    };
    let Ok(energy_wh) = Decimal::from_str(m.energy_wh.trim()) else {
        return Err(format!("energy_wh {:?} is not a decimal", m.energy_wh));
    };
    bounds::energy_register_wh("energy_wh", energy_wh)
        .and(bounds::charger_time("started_at", started_at, now))
        .and(bounds::charger_time("stopped_at", stopped_at, now))
        .map_err(|e| e.to_string())?;
    let charger_id: ChargerId = m
        .charger_id
        .parse()
        .map_err(|e| format!("charger_id: {e}"))?;
    let metering = metering(m, started_at, now)?;
    let facts = SessionFacts {
        session_id,
        charger_id,
        account_id: m.account_id.clone(),
        token_uid: m.token_uid.clone(),
        started_at,
        stopped_at,
        energy_wh,
        metering,
    };
    Ok((facts, charger_id))
}

/// The session's readings (the start register first) and end of charging, as the engine takes them.
/// A reading that is not a decimal breaks the contract: the session is not priced on a guess.
fn metering(
    m: &SessionCompleted,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Metering, String> {
    let mut samples = Vec::with_capacity(m.samples.len().saturating_add(1));
    if let Ok(register_wh) = Decimal::from_str(m.meter_start_wh.trim()) {
        bounds::energy_register_wh("meter_start_wh", register_wh).map_err(|e| e.to_string())?;
        samples.push(Sample {
            at: started_at,
            register_wh,
        });
    }
    for (i, r) in m.samples.iter().enumerate() {
        let at = from_proto(r.at.as_ref())
            .ok_or_else(|| format!("samples[{i}].at: missing or not a valid time"))?;
        let register_wh = Decimal::from_str(r.register_wh.trim()).map_err(|_| {
            format!(
                "samples[{i}].register_wh: {:?} is not a decimal",
                r.register_wh
            )
        })?;
        bounds::energy_register_wh("samples.register_wh", register_wh)
            .and(bounds::charger_time("samples.at", at, now))
            .map_err(|e| format!("samples[{i}]: {e}"))?;
        samples.push(Sample { at, register_wh });
    }
    samples.sort_by_key(|s| s.at);
    Ok(Metering {
        charge_point_id: m.charge_point_id.clone(),
        transaction_id: m.transaction_id.clone(),
        samples,
        charging_ended_at: from_proto(m.charging_ended_at.as_ref()),
    })
}

impl Handler for SessionIntake {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let m: SessionCompleted = received.payload()?;
            let session_id: SessionId = m
                .session_id
                .parse()
                .map_err(|e| HandlerError::Rejected(format!("SessionCompleted.session_id: {e}")))?;
            let settled = priced_sessions::session_settled(&self.pool, &session_id.to_string())
                .await
                .map_err(read_error)?;
            if settled {
                self.attempts.forget(received);
                tracing::debug!(%session_id, "session already priced; nothing to do");
                return Ok(());
            }
            let command = self.command(&m, session_id, received).await?;
            joule_store::execute(
                &self.cqrs,
                &session_id.to_string(),
                command,
                CommandMeta::caused_by(&received.envelope),
            )
            .await
            .map_err(transient)?;
            self.attempts.forget(received);
            tracing::info!(%session_id, "session priced");
            Ok(())
        })
    }
}
