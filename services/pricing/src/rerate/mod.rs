//! Re-rating: after a tariff or meter correction, the affected sessions are priced again and each
//! change is appended as `SessionRerated` (published as `SessionPriceAdjusted`) carrying the
//! difference. Nothing already recorded is edited.
//!
//! Two paths record the very same event ([`crate::domain::priced_session::rerate`] computes it for
//! both):
//! - a few sessions (by id, or one meter correction) go through the `PricedSession` aggregate
//!   ([`rerate_sessions`]);
//! - a tariff run ([`rerate_tariff`], [`bulk`]) re-prices every session the tariff priced in a window, in bulk:
//!   it streams the `priced_sessions` read table, prices on every core while the next batch is
//!   read, and appends the events in batches with the aggregate's optimistic sequence rule (the next sequence of each session; a
//!   concurrent writer makes the batch fail and it is retried). Because it reads current prices
//!   from the read table, it first waits for the relay to have projected every priced-session event,
//!   and one run at a time holds an advisory lock. See docs/adr/014-*.md.

mod bulk;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use joule_domain::{SessionId, TariffId};
use joule_store::{CommandMeta, Decided};
use joule_tariff::Discount;
use postgres_es::PostgresCqrs;
use rust_decimal::Decimal;
use sqlx::{PgPool, Row};

use crate::SCHEMA;
use crate::domain::priced_session::{PricedSession, PricedSessionCommand, Pricing};
use crate::projections::tariffs::{self, StoredVersion};
use crate::projections::{ReadError, assignments};

pub use bulk::rerate_tariff;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RerateStats {
    pub rerating_id: String,
    pub examined: u64,
    pub adjusted: u64,
    /// Sessions that could not be priced with the correction (their price stands).
    pub failed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RerateError {
    #[error("tariff_id: tariff {0} does not exist")]
    NoTariff(String),
    #[error("tariff {tariff_id} version {version} no longer parses: {reason}")]
    Unparseable {
        tariff_id: String,
        version: u32,
        reason: String,
    },
    #[error("another re-rating run is in progress; try again when it has finished")]
    Busy,
    #[error("the relay has not projected every priced session yet; try again shortly")]
    Lagging,
    #[error("session_ids: {0}")]
    BadSession(String),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The event store did not take a command (not a refusal: the aggregate refuses nothing).
    #[error("re-rating a session: {0}")]
    Command(String),
    /// A part of the bulk run failed unexpectedly.
    #[error("re-rating run: {0}")]
    Task(String),
}

/// A tariff's versions, parsed, to pick the one in force at each session start.
pub struct Versions {
    tariff_id: TariffId,
    versions: Vec<(StoredVersion, Arc<joule_tariff::Tariff>)>,
}

impl Versions {
    pub async fn load(pool: &PgPool, tariff_id: &str) -> Result<Versions, RerateError> {
        let id: TariffId = tariff_id
            .parse()
            .map_err(|_| RerateError::NoTariff(tariff_id.to_owned()))?;
        let stored = tariffs::versions(pool, tariff_id).await?;
        if stored.is_empty() {
            return Err(RerateError::NoTariff(tariff_id.to_owned()));
        }
        let versions = stored
            .into_iter()
            .map(|v| {
                joule_tariff::Tariff::parse(&v.ocpi_json)
                    .map(|t| (v.clone(), Arc::new(t)))
                    .map_err(|e| RerateError::Unparseable {
                        tariff_id: tariff_id.to_owned(),
                        version: v.version,
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Versions {
            tariff_id: id,
            versions,
        })
    }

    pub fn pricing_at(&self, at: DateTime<Utc>, discounts: Vec<Discount>) -> Option<Pricing> {
        let (v, t) = self
            .versions
            .iter()
            .rev()
            .find(|(v, _)| v.valid_from.is_none_or(|f| f <= at))?;
        Some(Pricing {
            tariff_id: self.tariff_id,
            tariff_version: v.version,
            tariff_source: String::new(),
            tariff: Box::new((**t).clone()),
            discounts,
        })
    }

    /// Like [`Versions::pricing_at`] without cloning the tariff, for the bulk path.
    fn version_at(&self, at: DateTime<Utc>) -> Option<(u32, &joule_tariff::Tariff)> {
        self.versions
            .iter()
            .rev()
            .find(|(v, _)| v.valid_from.is_none_or(|f| f <= at))
            .map(|(v, t)| (v.version, t.as_ref()))
    }
}

/// Re-prices the given sessions through their aggregates: each with the version of its tariff in
/// force at its start (as corrected), and for a meter correction with the corrected energy.
pub async fn rerate_sessions(
    pool: &PgPool,
    cqrs: &PostgresCqrs<Decided<PricedSession>>,
    session_ids: &[SessionId],
    corrected_energy_wh: Option<Decimal>,
    reason: &str,
    meta: CommandMeta,
) -> Result<RerateStats, RerateError> {
    let rerating_id = uuid::Uuid::new_v4().to_string();
    let mut stats = RerateStats {
        rerating_id: rerating_id.clone(),
        ..RerateStats::default()
    };
    let mut cache: HashMap<String, Versions> = HashMap::new();
    for session_id in session_ids {
        let row = sqlx::query(&format!(
            "SELECT tariff_id, account_id, started_at FROM {SCHEMA}.priced_sessions
              WHERE session_id = $1 AND status = 'priced'"
        ))
        .bind(session_id.to_string())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| RerateError::BadSession(format!("{session_id} has no price to correct")))?;
        let tariff_id: String = row.try_get("tariff_id")?;
        let account_id: String = row.try_get("account_id")?;
        let started_at: DateTime<Utc> = row.try_get("started_at")?;
        if !cache.contains_key(&tariff_id) {
            cache.insert(tariff_id.clone(), Versions::load(pool, &tariff_id).await?);
        }
        let discounts = assignments::contract_discounts(pool, &tariff_id, &account_id).await?;
        // Counts of sessions: far below u64::MAX; saturating instead of a panic.
        stats.examined = stats.examined.saturating_add(1);
        let Some(pricing) = cache[&tariff_id].pricing_at(started_at, discounts) else {
            stats.failed = stats.failed.saturating_add(1);
            continue;
        };
        let before = count_reratings(pool, session_id).await?;
        joule_store::execute(
            cqrs,
            &session_id.to_string(),
            PricedSessionCommand::Rerate {
                rerating_id: rerating_id.clone(),
                pricing,
                corrected_energy_wh,
                reason: reason.to_owned(),
                rerated_at: Utc::now(),
            },
            meta.clone(),
        )
        .await
        .map_err(|e| RerateError::Command(e.to_string()))?;
        if count_reratings(pool, session_id).await? > before {
            stats.adjusted = stats.adjusted.saturating_add(1);
        }
    }
    Ok(stats)
}

async fn count_reratings(pool: &PgPool, session_id: &SessionId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {SCHEMA}.events
          WHERE aggregate_type = 'PricedSession' AND aggregate_id = $1 AND event_type = 'SessionRerated'"
    ))
    .bind(session_id.to_string())
    .fetch_one(pool)
    .await
}
