//! The bulk re-rating of a tariff: every session it priced in a window, streamed from the
//! `priced_sessions` read table, priced on every core, and appended in batches (see the module
//! above and docs/adr/014-*.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use joule_domain::{ChargerId, Currency, Money, SessionId};
use joule_tariff::Discount;
use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use super::{RerateError, RerateStats, Versions};
use crate::SCHEMA;
use crate::domain::priced_session::{
    Metering, PricedSessionEvent, Pricing, RerateInput, SESSION_RERATED_VERSION, WireLine, rerate,
    wire_lines,
};
use crate::projections::assignments;

/// Sessions read, priced and written per batch.
const BATCH: usize = 10_000;

/// One session as the bulk run reads it.
struct Row_ {
    session_id: SessionId,
    account_id: String,
    charger_id: ChargerId,
    token_uid: String,
    started_at: DateTime<Utc>,
    stopped_at: DateTime<Utc>,
    energy_wh: Decimal,
    time_zone: String,
    total_excl_vat: Money,
    total_incl_vat: Money,
    lines: Vec<WireLine>,
    /// The readings and end of charging the session was priced with (default: none kept).
    metering: Metering,
}

/// Re-prices every session `tariff_id` priced that started in `[from, until)`, in bulk.
#[allow(clippy::too_many_arguments)]
pub async fn rerate_tariff(
    pool: &PgPool,
    tariff_id: &str,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    reason: &str,
    tenant_id: &str,
    rerating_id: String,
    rerated_at: DateTime<Utc>,
) -> Result<RerateStats, RerateError> {
    let versions = Arc::new(Versions::load(pool, tariff_id).await?);
    // One run at a time: two runs reading the same current prices would both adjust from them.
    let mut lock = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(format!("{SCHEMA}.rerate"))
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Err(RerateError::Busy);
    }
    let result = run(
        pool,
        &versions,
        tariff_id,
        from,
        until,
        reason,
        tenant_id,
        rerating_id,
        rerated_at,
    )
    .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(format!("{SCHEMA}.rerate"))
        .execute(&mut *lock)
        .await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn run(
    pool: &PgPool,
    versions: &Arc<Versions>,
    tariff_id: &str,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    reason: &str,
    tenant_id: &str,
    rerating_id: String,
    rerated_at: DateTime<Utc>,
) -> Result<RerateStats, RerateError> {
    // Current prices come from the read table: it must have caught up with the event store.
    let mut waited: u32 = 0;
    loop {
        let pending: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {SCHEMA}.outbox WHERE aggregate_type = 'PricedSession'"
        ))
        .fetch_one(pool)
        .await?;
        if pending == 0 {
            break;
        }
        if waited >= 100 {
            return Err(RerateError::Lagging);
        }
        waited = waited.saturating_add(1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let discounts = Arc::new(assignments::contracts_of(pool, tariff_id).await?);
    let mut stats = RerateStats {
        rerating_id: rerating_id.clone(),
        ..RerateStats::default()
    };
    let meta = serde_json::json!({
        "tenant_id": tenant_id,
        "correlation_id": rerating_id,
        "causation_id": "",
    })
    .to_string();

    // Three stages overlap: reading (a task of its own, streaming the read table in its physical
    // order, the cheapest way to read it), pricing on every core (blocking threads) and up to
    // APPENDS_IN_FLIGHT appends, each on its own connection.
    //
    // Appends are the slow part, and an append to sessions spread over the whole event store's
    // primary key touches index pages all over an index larger than the buffer cache. So the run
    // reads the table in several passes, each over one range of session ids: each pass appends to
    // one slice of the index, which stays cached (measured on this machine with 1M events: a 10k
    // append within a quarter of the key space took 0.23-0.29 s against 0.44-0.62 s spread over
    // all of it). A pass costs one more sequential read (about 0.5 s per million sessions), far
    // less than fetching sessions by id in key order (0.1-0.2 s per 10k).
    let passes = passes(pool).await?;
    let (batches, mut incoming) = tokio::sync::mpsc::channel::<Result<Vec<Row_>, RerateError>>(2);
    let reader = {
        let (pool, tariff_id) = (pool.clone(), tariff_id.to_owned());
        tokio::spawn(async move {
            for range in &passes {
                if !read_batches(&pool, &tariff_id, from, until, range, &batches).await {
                    break;
                }
            }
        })
    };
    let mut appends: tokio::task::JoinSet<Result<u64, RerateError>> = tokio::task::JoinSet::new();
    let outcome: Result<(), RerateError> = async {
        while let Some(sessions) = incoming.recv().await {
            let sessions = sessions?;
            stats.examined = stats.examined.saturating_add(sessions.len() as u64);
            let (events, failed) = price_batch(
                sessions,
                Arc::clone(versions),
                Arc::clone(&discounts),
                rerating_id.clone(),
                reason.to_owned(),
                rerated_at,
            )
            .await;
            stats.failed = stats.failed.saturating_add(failed);
            while appends.len() >= APPENDS_IN_FLIGHT {
                stats.adjusted = stats
                    .adjusted
                    .saturating_add(joined(appends.join_next().await)?);
            }
            let (pool, meta) = (pool.clone(), meta.clone());
            appends.spawn(async move { append(&pool, &events, &meta).await });
        }
        while let Some(done) = appends.join_next().await {
            stats.adjusted = stats.adjusted.saturating_add(joined(Some(done))?);
        }
        Ok(())
    }
    .await;
    // On an error the reader stops at its next send, and appends still running are aborted when the
    // JoinSet drops: each is one statement, all or nothing.
    drop(incoming);
    let _ = reader.await;
    outcome?;
    Ok(stats)
}

/// Session ids from `.0` (inclusive) to `.1` (exclusive); `None` is open.
type IdRange = (Option<String>, Option<String>);

/// Splits the session ids (UUIDs, lowercase hex) into ranges by their first two digits, one range
/// per 250,000 events in the store (1 to 16). Any text falls in exactly one range.
async fn passes(pool: &PgPool) -> Result<Vec<IdRange>, RerateError> {
    let events: f32 = sqlx::query_scalar(&format!(
        "SELECT reltuples FROM pg_class WHERE oid = '{SCHEMA}.events'::regclass"
    ))
    .fetch_one(pool)
    .await?;
    // `reltuples` is -1 before the first ANALYZE: one pass.
    let n = ((events.max(0.0) / 250_000.0).ceil() as usize).clamp(1, 16);
    Ok(id_ranges(n))
}

fn id_ranges(n: usize) -> Vec<IdRange> {
    // n is at most 16: i * 256 and i + 1 stay tiny, and n > i > 0 where it divides.
    let bound = |i: usize| {
        (i > 0 && i < n).then(|| {
            let at = i.saturating_mul(256).checked_div(n).unwrap_or(0);
            format!("{at:02x}")
        })
    };
    (0..n)
        .map(|i| (bound(i), bound(i.saturating_add(1))))
        .collect()
}

/// Streams the sessions of the run whose id is in `range` to `batches`, BATCH at a time. Stops at
/// the first error (sent on) or when the receiver is gone; returns whether the run goes on.
async fn read_batches(
    pool: &PgPool,
    tariff_id: &str,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    range: &IdRange,
    batches: &tokio::sync::mpsc::Sender<Result<Vec<Row_>, RerateError>>,
) -> bool {
    // The breakdown is read only for sessions priced before re-rating existed (no current_lines).
    let sql = format!(
        "SELECT session_id, account_id, charger_id, token_uid, currency, started_at, stopped_at, energy_wh,
                time_zone, current_total_excl_vat, current_total_incl_vat, current_lines, metering,
                CASE WHEN current_lines IS NULL THEN breakdown END AS breakdown
           FROM {SCHEMA}.priced_sessions
          WHERE status = 'priced' AND tariff_id = $1
            AND ($2::timestamptz IS NULL OR started_at >= $2) AND ($3::timestamptz IS NULL OR started_at < $3)
            AND ($4::text IS NULL OR session_id >= $4) AND ($5::text IS NULL OR session_id < $5)"
    );
    let mut rows = sqlx::query(&sql)
        .bind(tariff_id)
        .bind(from)
        .bind(until)
        .bind(range.0.as_deref())
        .bind(range.1.as_deref())
        .fetch(pool);
    let mut batch: Vec<Row_> = Vec::with_capacity(BATCH);
    loop {
        let next = match rows.try_next().await {
            Ok(next) => next,
            Err(e) => {
                let _ = batches.send(Err(e.into())).await;
                return false;
            }
        };
        match next.as_ref().map(read_row) {
            Some(Ok(row)) => batch.push(row),
            Some(Err(e)) => {
                let _ = batches.send(Err(e)).await;
                return false;
            }
            None => {}
        }
        if batch.len() == BATCH || (next.is_none() && !batch.is_empty()) {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if batches.send(Ok(full)).await.is_err() {
                return false;
            }
        }
        if next.is_none() {
            return true;
        }
    }
}

const APPENDS_IN_FLIGHT: usize = 2;

fn joined(
    done: Option<Result<Result<u64, RerateError>, tokio::task::JoinError>>,
) -> Result<u64, RerateError> {
    match done {
        None => Ok(0),
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(RerateError::Task(format!("an append task failed: {e}"))),
    }
}

fn read_row(r: &sqlx::postgres::PgRow) -> Result<Row_, RerateError> {
    let session_id: String = r.try_get("session_id")?;
    let bad = |field: &str, e: &dyn std::fmt::Display| {
        RerateError::BadSession(format!("{session_id}: {field}{e}"))
    };
    let lines = match r.try_get::<Option<Json<Vec<WireLine>>>, _>("current_lines")? {
        Some(l) => l.0,
        // Sessions priced before re-rating existed: their published lines come from the breakdown.
        None => match r.try_get::<Option<Json<joule_tariff::PricedSession>>, _>("breakdown")? {
            Some(b) => wire_lines(&b.0),
            None => vec![],
        },
    };
    // A priced session always has its currency (its breakdown's).
    let currency: Currency = r
        .try_get::<Option<String>, _>("currency")?
        .unwrap_or_default()
        .parse()
        .map_err(|e| bad("currency: ", &e))?;
    let total = |column: &str| -> Result<Money, sqlx::Error> {
        let amount = r.try_get::<Option<Decimal>, _>(column)?.unwrap_or_default();
        Ok(Money::new(amount, currency))
    };
    Ok(Row_ {
        session_id: session_id.parse().map_err(|e| bad("", &e))?,
        account_id: r.try_get("account_id")?,
        charger_id: r
            .try_get::<String, _>("charger_id")?
            .parse()
            .map_err(|e| bad("charger_id: ", &e))?,
        token_uid: r.try_get("token_uid")?,
        started_at: r
            .try_get::<Option<DateTime<Utc>>, _>("started_at")?
            .unwrap_or_default(),
        stopped_at: r
            .try_get::<Option<DateTime<Utc>>, _>("stopped_at")?
            .unwrap_or_default(),
        energy_wh: r
            .try_get::<Option<Decimal>, _>("energy_wh")?
            .unwrap_or_default(),
        time_zone: r
            .try_get::<Option<String>, _>("time_zone")?
            .unwrap_or_else(|| "UTC".into()),
        total_excl_vat: total("current_total_excl_vat")?,
        total_incl_vat: total("current_total_incl_vat")?,
        lines,
        metering: r
            .try_get::<Option<Json<Metering>>, _>("metering")?
            .map(|m| m.0)
            .unwrap_or_default(),
    })
}

/// Prices a batch on every core; the events of the sessions whose price changed, and how many
/// could not be priced. The parts run on tokio's blocking threads, which outlive the batch (fresh
/// threads per batch cost stacks and allocator arenas every time).
async fn price_batch(
    sessions: Vec<Row_>,
    versions: Arc<Versions>,
    discounts: Arc<HashMap<String, Vec<Discount>>>,
    rerating_id: String,
    reason: String,
    rerated_at: DateTime<Utc>,
) -> (Vec<(String, String)>, u64) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = sessions.len().div_ceil(threads).max(1);
    let sessions = Arc::new(sessions);
    let job = Arc::new((versions, discounts, rerating_id, reason));
    let parts: Vec<_> = (0..sessions.len())
        .step_by(chunk)
        .map(|start| {
            // start < sessions.len() (the range steps below it): no overflow either way.
            let len = start
                .saturating_add(chunk)
                .min(sessions.len())
                .saturating_sub(start);
            let (sessions, job) = (Arc::clone(&sessions), Arc::clone(&job));
            let part = tokio::task::spawn_blocking(move || {
                let (versions, discounts, rerating_id, reason) = &*job;
                price_part(
                    &sessions[start..start.saturating_add(len)],
                    versions,
                    discounts,
                    rerating_id,
                    reason,
                    rerated_at,
                )
            });
            (len, part)
        })
        .collect();
    let mut all = Vec::with_capacity(sessions.len());
    let mut failed: u64 = 0;
    for (len, part) in parts {
        match part.await {
            Ok((events, f)) => {
                all.extend(events);
                failed = failed.saturating_add(f);
            }
            // A part that panicked priced nothing: its sessions keep their price and count as failed.
            Err(_) => failed = failed.saturating_add(len as u64),
        }
    }
    (all, failed)
}

/// Prices `part` sequentially (see [`price_batch`]).
fn price_part(
    part: &[Row_],
    versions: &Versions,
    discounts: &HashMap<String, Vec<Discount>>,
    rerating_id: &str,
    reason: &str,
    rerated_at: DateTime<Utc>,
) -> (Vec<(String, String)>, u64) {
    let pricing_of =
        |version: u32, tariff: &joule_tariff::Tariff, discounts: Vec<Discount>| Pricing {
            tariff_id: versions.tariff_id,
            tariff_version: version,
            tariff_source: String::new(),
            tariff: Box::new(tariff.clone()),
            discounts,
        };
    // Most sessions have no contract: they share one `Pricing` per version instead of cloning the
    // tariff for each session.
    let mut plain: HashMap<u32, Pricing> = HashMap::new();
    let mut events = Vec::with_capacity(part.len());
    let mut failed = 0u64;
    for s in part {
        let Some((version, tariff)) = versions.version_at(s.started_at) else {
            failed = failed.saturating_add(1);
            continue;
        };
        let contract;
        let pricing = match discounts.get(&s.account_id) {
            Some(d) => {
                contract = pricing_of(version, tariff, d.clone());
                &contract
            }
            None => plain
                .entry(version)
                .or_insert_with(|| pricing_of(version, tariff, Vec::new())),
        };
        let input = RerateInput {
            session_id: s.session_id,
            account_id: &s.account_id,
            charger_id: s.charger_id,
            token_uid: &s.token_uid,
            started_at: s.started_at,
            stopped_at: s.stopped_at,
            energy_wh: s.energy_wh,
            time_zone: &s.time_zone,
            total_excl_vat: s.total_excl_vat,
            total_incl_vat: s.total_incl_vat,
            lines: &s.lines,
        };
        match rerate(
            &input,
            &s.metering,
            pricing,
            None,
            rerating_id,
            reason,
            rerated_at,
        ) {
            Ok(Some(r)) => {
                let event = PricedSessionEvent::SessionRerated(Box::new(r));
                match serde_json::to_string(&event) {
                    Ok(json) => events.push((s.session_id.to_string(), json)),
                    Err(_) => failed = failed.saturating_add(1),
                }
            }
            Ok(None) => {}
            Err(_) => failed = failed.saturating_add(1),
        }
    }
    (events, failed)
}

/// Appends `SessionRerated` events, each as the next event of its session, in one statement (all or
/// nothing); retried when a concurrent writer took a sequence first. Returns how many were appended.
///
/// A run reads each session once, so it never appends twice for a session; a run that is started
/// again after a crash reads the prices the first one already adjusted (once the relay projected
/// them) and finds nothing left to change.
async fn append(
    pool: &PgPool,
    events: &[(String, String)],
    meta: &str,
) -> Result<u64, RerateError> {
    if events.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = events.iter().map(|(id, _)| id.as_str()).collect();
    let payloads: Vec<&str> = events.iter().map(|(_, p)| p.as_str()).collect();
    let mut attempt: u64 = 0;
    loop {
        let result = sqlx::query(&format!(
            "INSERT INTO {SCHEMA}.events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT 'PricedSession', x.id,
                    (SELECT COALESCE(max(e.sequence), 0) + 1 FROM {SCHEMA}.events e
                      WHERE e.aggregate_type = 'PricedSession' AND e.aggregate_id = x.id),
                    'SessionRerated', $4, x.payload::json, $3::json
               FROM unnest($1::text[], $2::text[]) AS x(id, payload)"
        ))
        .bind(&ids)
        .bind(&payloads)
        .bind(meta)
        .bind(SESSION_RERATED_VERSION)
        .execute(pool)
        .await;
        match result {
            Ok(done) => return Ok(done.rows_affected()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < 5 => {
                // At most 5 retries.
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(Duration::from_millis(attempt.saturating_mul(20))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_cover_every_session_id_once() {
        assert_eq!(id_ranges(1), vec![(None, None)]);
        let four = id_ranges(4);
        assert_eq!(
            four,
            vec![
                (None, Some("40".into())),
                (Some("40".into()), Some("80".into())),
                (Some("80".into()), Some("c0".into())),
                (Some("c0".into()), None),
            ]
        );
        for n in 1..=16 {
            let ranges = id_ranges(n);
            assert_eq!(ranges.len(), n);
            for id in [
                "00000000-0000",
                "3fff",
                "40",
                "7a3e-",
                "c0",
                "ffff-ffff",
                "zz",
                "",
            ] {
                let holding = ranges
                    .iter()
                    .filter(|(lo, hi)| {
                        lo.as_deref().is_none_or(|lo| id >= lo)
                            && hi.as_deref().is_none_or(|hi| id < hi)
                    })
                    .count();
                assert_eq!(holding, 1, "{id} with {n} ranges: {ranges:?}");
            }
        }
    }
}
