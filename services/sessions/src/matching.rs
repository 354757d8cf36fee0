//! Which session a 1.6 StopTransaction belongs to when its `transactionId` identifies none (-1, or
//! an id the gateway never gave): the charger's open transaction (ADR 027).
//!
//! A 1.6 stop names no connector, so the candidates are the sessions the charger started (at most
//! the latest per connector: a newer start on a connector supersedes an older one) that can still
//! take a stop: open ones first, else ones closed for inactivity that are waiting for their late
//! stop. Exactly one open session is the one; among several, the stop's idTag must equal the
//! session's and the session's last register must not exceed meterStop (meter continuity), the
//! most recent start winning. No match leaves the stop a session of its own, as before.
//!
//! The decision is recorded (`sessions.matched_stops`, keyed by the stop's own session id) before
//! the stop is applied, so a redelivered stop goes where the first delivery sent it, whatever
//! happened to the candidates since.

use chrono::{DateTime, Utc};
use cqrs_es::EventStore;
use cqrs_es::persist::{EventUpcaster, PersistedEventStore, SerializedEvent};
use joule_bus::HandlerError;
use joule_domain::Energy;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;

use joule_store::Upcaster;

use crate::domain::session::{ChargingSession, StopCandidate, UPCASTERS};

/// What of the stop the choice looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct StopFacts<'a> {
    /// Empty when the stop carried no idTag.
    pub id_tag: &'a str,
    pub meter_stop: Option<Energy>,
}

/// The candidate `stop` belongs to, if one can be told apart (see the module documentation).
pub fn choose<'a, K>(
    stop: &StopFacts<'_>,
    candidates: &'a [(K, StopCandidate)],
) -> Option<&'a (K, StopCandidate)> {
    let (idle, open): (Vec<_>, Vec<_>) = candidates
        .iter()
        .partition(|(_, c)| c.closed_for_inactivity);
    if let [only] = open[..] {
        return Some(only);
    }
    if !open.is_empty() {
        return fitting(stop, &open);
    }
    // A session closed for inactivity takes only a stop that fits it, even when alone: the stop
    // may be of a transaction whose start never arrived.
    fitting(stop, &idle)
}

/// The most recent candidate with the stop's idTag and a register continuous with its meterStop.
fn fitting<'a, K>(
    stop: &StopFacts<'_>,
    candidates: &[&'a (K, StopCandidate)],
) -> Option<&'a (K, StopCandidate)> {
    if stop.id_tag.is_empty() {
        return None;
    }
    candidates
        .iter()
        .copied()
        .filter(|(_, c)| c.id_tag == stop.id_tag)
        .filter(|(_, c)| match (c.last_register, stop.meter_stop) {
            (Some(last), Some(meter_stop)) => last.wh() <= meter_stop.wh(),
            _ => true,
        })
        .max_by_key(|(_, c)| c.started_at)
}

/// Where a matched stop goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    pub session_id: String,
    /// The session's transaction id, which the stop then carries.
    pub transaction_id: String,
    /// For the `stop_matched_to_open_transaction` flag.
    pub detail: String,
}

/// The sessions each charger started (1.6), kept by the charger intake so that it is current when
/// the next charger event is handled (the read model follows the relay, a little later).
pub struct ChargerSessions {
    pool: PgPool,
    store: PersistedEventStore<PostgresEventRepository, ChargingSession>,
}

/// A session upcaster as the event store takes it: the sessions this store loads read their
/// events in the current shape, as the aggregate's own store does (`cqrs_with_upcasters`).
struct Upcast(Upcaster);

impl EventUpcaster for Upcast {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        self.0.applies(event_type, event_version)
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        event.payload = (self.0.upcast)(event.payload);
        event.event_version = self.0.version.to_owned();
        event
    }
}

fn transient(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Transient(e.to_string())
}

impl ChargerSessions {
    pub fn new(pool: PgPool, schema: &str) -> Self {
        let repo = PostgresEventRepository::new(pool.clone())
            .with_tables(&format!("{schema}.events"), &format!("{schema}.snapshots"));
        let upcasters = UPCASTERS
            .iter()
            .map(|u| Box::new(Upcast(*u)) as Box<dyn EventUpcaster>)
            .collect();
        Self {
            pool,
            store: PersistedEventStore::new_event_store(repo).with_upcasters(upcasters),
        }
    }

    async fn load(&self, session_id: &str) -> Result<ChargingSession, HandlerError> {
        let context = self
            .store
            .load_aggregate(session_id)
            .await
            .map_err(transient)?;
        Ok(context.aggregate)
    }

    /// A 1.6 session started on `connector_id`; it replaces the charger's earlier ones there.
    pub async fn started(
        &self,
        tenant: &str,
        charge_point_id: &str,
        connector_id: u32,
        session_id: &str,
        started_at: DateTime<Utc>,
    ) -> Result<(), HandlerError> {
        let mut tx = self.pool.begin().await.map_err(transient)?;
        sqlx::query(
            "DELETE FROM sessions.charger_sessions
             WHERE tenant_id = $1 AND charge_point_id = $2 AND connector_id = $3 AND session_id <> $4",
        )
        .bind(tenant)
        .bind(charge_point_id)
        .bind(i64::from(connector_id))
        .bind(session_id)
        .execute(&mut *tx)
        .await
        .map_err(transient)?;
        sqlx::query(
            "INSERT INTO sessions.charger_sessions
               (session_id, tenant_id, charge_point_id, connector_id, started_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(tenant)
        .bind(charge_point_id)
        .bind(i64::from(connector_id))
        .bind(started_at)
        .execute(&mut *tx)
        .await
        .map_err(transient)?;
        tx.commit().await.map_err(transient)
    }

    /// The session got its stop: no later stop is matched to it.
    pub async fn stopped(&self, session_id: &str) -> Result<(), HandlerError> {
        sqlx::query("DELETE FROM sessions.charger_sessions WHERE session_id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await
            .map_err(transient)?;
        Ok(())
    }

    /// The session an unusable stop belongs to; `None` leaves it under its own id (`own`).
    pub async fn target(
        &self,
        tenant: &str,
        charge_point_id: &str,
        own: &str,
        stop: &StopFacts<'_>,
        transaction_id: &str,
    ) -> Result<Option<Matched>, HandlerError> {
        let decided: Option<(String, String, String)> = sqlx::query_as(
            "SELECT session_id, transaction_id, detail FROM sessions.matched_stops
             WHERE stop_session_id = $1",
        )
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(transient)?;
        if let Some((session_id, transaction_id, detail)) = decided {
            return Ok(Some(Matched {
                session_id,
                transaction_id,
                detail,
            }));
        }
        // An unknown id the charger also used for meter values (or a stop already applied here)
        // stays where it is: those readings belong with it.
        if !self.load(own).await?.is_blank() {
            return Ok(None);
        }
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT session_id FROM sessions.charger_sessions
             WHERE tenant_id = $1 AND charge_point_id = $2 ORDER BY session_id",
        )
        .bind(tenant)
        .bind(charge_point_id)
        .fetch_all(&self.pool)
        .await
        .map_err(transient)?;
        let mut candidates = Vec::with_capacity(ids.len());
        for id in ids {
            match self.load(&id).await?.stop_candidate() {
                Some(candidate) => candidates.push((id, candidate)),
                // Stopped by other means (a 2.0.1 end, a start after its stop): never a candidate.
                None => self.stopped(&id).await?,
            }
        }
        let Some((session_id, candidate)) = choose(stop, &candidates) else {
            return Ok(None);
        };
        let detail = format!(
            "transactionId {transaction_id:?} matched to {} transaction {} on connector {} \
             (idTag {:?}, last register {} Wh) among {} candidate(s)",
            if candidate.closed_for_inactivity {
                "the inactivity-closed"
            } else {
                "the open"
            },
            candidate.transaction_id,
            candidate.connector_id,
            candidate.id_tag,
            candidate
                .last_register
                .map_or_else(|| "unknown".to_owned(), |r| r.wh().to_string()),
            candidates.len()
        );
        // A concurrent delivery of the same stop may have decided first: its decision stands.
        let (session_id, transaction_id, detail): (String, String, String) = sqlx::query_as(
            "WITH inserted AS (
                 INSERT INTO sessions.matched_stops (stop_session_id, session_id, transaction_id, detail)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (stop_session_id) DO NOTHING
                 RETURNING session_id, transaction_id, detail
             )
             SELECT session_id, transaction_id, detail FROM inserted
             UNION ALL
             SELECT session_id, transaction_id, detail FROM sessions.matched_stops
             WHERE stop_session_id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)",
        )
        .bind(own)
        .bind(session_id)
        .bind(&candidate.transaction_id)
        .bind(&detail)
        .fetch_one(&self.pool)
        .await
        .map_err(transient)?;
        Ok(Some(Matched {
            session_id,
            transaction_id,
            detail,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(tx: &str, tag: &str, started: &str, last_wh: Option<i64>) -> StopCandidate {
        StopCandidate {
            transaction_id: tx.into(),
            connector_id: tx.parse().unwrap(),
            id_tag: tag.into(),
            started_at: started.parse().unwrap(),
            last_register: last_wh.map(|wh| Energy::from_wh(wh.into())),
            closed_for_inactivity: false,
        }
    }

    fn stop(tag: &str, meter_stop: i64) -> StopFacts<'_> {
        StopFacts {
            id_tag: tag,
            meter_stop: Some(Energy::from_wh(meter_stop.into())),
        }
    }

    fn chosen(stop: &StopFacts<'_>, candidates: &[(u8, StopCandidate)]) -> Option<u8> {
        choose(stop, candidates).map(|(k, _)| *k)
    }

    #[test]
    fn a_single_open_transaction_takes_the_stop_whatever_it_says() {
        // Given one open transaction,
        let open = [(1, candidate("1", "A", "2026-11-21T10:00:00Z", Some(5000)))];
        // when a stop with another idTag and a lower meter comes, or one without an idTag,
        // then it is that transaction's.
        assert_eq!(chosen(&stop("B", 10), &open), Some(1));
        assert_eq!(chosen(&stop("", 9000), &open), Some(1));
    }

    #[test]
    fn among_several_the_idtag_and_meter_continuity_decide_the_latest_winning() {
        // Given three open transactions, two of them for token A,
        let open = [
            (1, candidate("1", "A", "2026-11-21T08:00:00Z", Some(7000))),
            (2, candidate("2", "B", "2026-11-21T09:00:00Z", Some(1000))),
            (3, candidate("3", "A", "2026-11-21T10:00:00Z", Some(20000))),
        ];
        // then a stop for A above both registers goes to the later start,
        assert_eq!(chosen(&stop("A", 25000), &open), Some(3));
        // one below the later start's register goes to the earlier one,
        assert_eq!(chosen(&stop("A", 9000), &open), Some(1));
        // one for B to B, one below every register of A to none, and one without idTag to none.
        assert_eq!(chosen(&stop("B", 1500), &open), Some(2));
        assert_eq!(chosen(&stop("A", 500), &open), None);
        assert_eq!(chosen(&stop("", 25000), &open), None);
        assert_eq!(chosen(&stop("C", 25000), &open), None);
        // A missing meterStop, or a session without any register, does not break continuity.
        let no_meter = StopFacts {
            id_tag: "B",
            meter_stop: None,
        };
        assert_eq!(chosen(&no_meter, &open), Some(2));
    }

    #[test]
    fn an_inactivity_closed_session_takes_only_a_fitting_stop_and_open_ones_come_first() {
        let mut idle = candidate("1", "A", "2026-11-20T10:00:00Z", Some(5000));
        idle.closed_for_inactivity = true;
        // Given only a session closed for inactivity,
        let only_idle = [(1, idle.clone())];
        // then a stop with its idTag and a higher register is its late stop; others are not.
        assert_eq!(chosen(&stop("A", 6000), &only_idle), Some(1));
        assert_eq!(chosen(&stop("B", 6000), &only_idle), None);
        assert_eq!(chosen(&stop("A", 4000), &only_idle), None);
        // Given also an open transaction, the open one is the stop's.
        let both = [
            (1, idle),
            (2, candidate("2", "A", "2026-11-21T10:00:00Z", Some(100))),
        ];
        assert_eq!(chosen(&stop("A", 6000), &both), Some(2));
    }
}
