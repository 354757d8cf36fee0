//! The consumer of `SessionCompleted`: every completed session is priced with its charger's tariff.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{ChargerId, SessionId, TariffId};
use joule_proto::time::from_proto;
use joule_proto::v1::SessionCompleted;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::priced_session::{PricedSession, PricedSessionCommand, Pricing, SessionFacts};
use crate::read;

/// How often a session whose charger or tariff is unknown is retried before it is recorded as
/// unpriceable, so that registry lag is waited out but a missing registration does not block the
/// stream for ever.
pub const MAX_ATTEMPTS: i64 = 20;

pub struct SessionIntake {
    pool: PgPool,
    cqrs: Arc<PostgresCqrs<PricedSession>>,
    /// Attempts per stream sequence. The bus retries a transient failure in place, which JetStream
    /// does not count as a redelivery, so `Received::delivered` alone would never reach the limit.
    attempts: Mutex<HashMap<u64, i64>>,
}

impl SessionIntake {
    pub fn new(pool: PgPool, cqrs: Arc<PostgresCqrs<PricedSession>>) -> Self {
        Self {
            pool,
            cqrs,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn count_attempt(&self, received: &Received) -> i64 {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let n = attempts.entry(received.stream_sequence).or_insert(0);
        *n += 1;
        (*n).max(received.delivered)
    }

    fn forget(&self, received: &Received) {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&received.stream_sequence);
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
        let (Some(started_at), Some(stopped_at)) = (
            from_proto(m.started_at.as_ref()),
            from_proto(m.stopped_at.as_ref()),
        ) else {
            return Ok(fail("the session has no start or stop time".into()));
        };
        let Ok(energy_wh) = Decimal::from_str(m.energy_wh.trim()) else {
            return Ok(fail(format!(
                "energy_wh {:?} is not a decimal",
                m.energy_wh
            )));
        };
        let charger_id: ChargerId = match m.charger_id.parse() {
            Ok(c) => c,
            Err(e) => return Ok(fail(format!("charger_id: {e}"))),
        };
        let transient = |e: sqlx::Error| HandlerError::Transient(e.to_string());
        let missing = match read::charger(&self.pool, &charger_id.to_string())
            .await
            .map_err(transient)?
        {
            None => format!("charger {charger_id} is not registered"),
            Some(c) => match read::resolve(
                &self.pool,
                &charger_id.to_string(),
                m.connector_id,
                &c,
                &m.account_id,
                started_at,
            )
            .await
            .map_err(transient)?
            {
                None => format!("charger {charger_id} has no tariff"),
                Some(resolved) => {
                    let tariff_id: TariffId = match resolved.tariff_id.parse() {
                        Ok(t) => t,
                        Err(e) => {
                            return Ok(fail(format!(
                                "charger {charger_id} names tariff {}: {e}",
                                resolved.tariff_id
                            )));
                        }
                    };
                    let versions = read::versions(&self.pool, &resolved.tariff_id)
                        .await
                        .map_err(transient)?;
                    // The versions table may lag a tariff created a moment ago: its creation
                    // event is version 1.
                    let chosen = match read::in_force(&versions, started_at) {
                        Some(v) => Some((v.version, v.ocpi_json.clone())),
                        None if versions.is_empty() => {
                            read::tariff(&self.pool, &resolved.tariff_id)
                                .await
                                .map_err(transient)?
                                .map(|t| (1, t.ocpi_json))
                        }
                        None => {
                            return Ok(fail(format!(
                                "tariff {tariff_id} has no version in force at {started_at}"
                            )));
                        }
                    };
                    match chosen {
                        None => format!(
                            "tariff {} of charger {charger_id} does not exist",
                            resolved.tariff_id
                        ),
                        Some((version, ocpi_json)) => {
                            let tariff = match joule_tariff::Tariff::parse(&ocpi_json) {
                                Ok(t) => t,
                                Err(e) => {
                                    return Ok(fail(format!(
                                        "stored tariff {tariff_id} version {version} no longer parses: {e}"
                                    )));
                                }
                            };
                            return Ok(PricedSessionCommand::PriceSession {
                                session: SessionFacts {
                                    session_id,
                                    charger_id: m.charger_id.clone(),
                                    account_id: m.account_id.clone(),
                                    token_uid: m.token_uid.clone(),
                                    started_at,
                                    stopped_at,
                                    energy_wh,
                                },
                                charger_id,
                                connector_id: m.connector_id,
                                pricing: Pricing {
                                    tariff_id,
                                    tariff_version: version,
                                    tariff_source: resolved.source.to_owned(),
                                    tariff: Box::new(tariff),
                                    discounts: resolved.discounts,
                                },
                                time_zone: c.time_zone,
                                priced_at: now,
                            });
                        }
                    }
                }
            },
        };
        let attempts = self.count_attempt(received);
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

impl Handler for SessionIntake {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let m: SessionCompleted = received
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            let session_id: SessionId = m
                .session_id
                .parse()
                .map_err(|e| HandlerError::Rejected(format!("SessionCompleted.session_id: {e}")))?;
            let settled = read::session_settled(&self.pool, &session_id.to_string())
                .await
                .map_err(|e| HandlerError::Transient(e.to_string()))?;
            if settled {
                self.forget(received);
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
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
            self.forget(received);
            tracing::info!(%session_id, "session priced");
            Ok(())
        })
    }
}
