//! OCPP 1.6 transaction ids. The CSMS assigns them, so they must be unique across replicas and stable
//! across a charger's retries: a start is identified by its business key (tenant, charge point,
//! connector, idTag, meterStart, timestamp), and the same key always gets the same id. New ids come from a
//! PostgreSQL sequence of `integer` (OCPP 1.6 transactionId is a 32-bit int).
//!
//! Starts are allocated in batches by one task per replica ([`IdAllocator`]): the starts waiting
//! while one batch is in PostgreSQL form the next, so a burst of starts costs one statement per batch
//! rather than one pooled connection per start (BENCHMARKS.md: p50 3.3 s of pool wait at
//! saturation). Nothing waits on purpose: a lone start is allocated at once. Ids given out are kept
//! in memory, so a stop usually learns without a query that its id was issued.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use joule_domain::{ChargePointId, TenantId};
use rust_decimal::Decimal;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Starts allocated by one statement at most.
const BATCH: usize = 256;
/// Starts waiting for the allocator before connections wait to hand theirs over.
const QUEUE: usize = 4096;
/// Issued ids kept in memory at most.
const REMEMBERED: usize = 1 << 20;

/// What identifies one StartTransaction, however often the charger sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartKey<'a> {
    pub tenant: &'a TenantId,
    pub charge_point_id: &'a ChargePointId,
    pub connector_id: u32,
    pub id_tag: &'a str,
    pub meter_start_wh: Decimal,
    pub charger_time: DateTime<Utc>,
}

/// One start waiting for its id.
struct Pending {
    tenant: String,
    charge_point_id: String,
    connector_id: i64,
    id_tag: String,
    meter_start_wh: Decimal,
    charger_time: DateTime<Utc>,
    received_at: DateTime<Utc>,
    reply: oneshot::Sender<Result<i32, String>>,
}

/// Where connections ask for transaction ids.
#[derive(Clone)]
pub struct TransactionIds {
    tx: mpsc::Sender<Pending>,
    /// Ids this replica gave out (or found in PostgreSQL), so that most stops need no query to
    /// know their id was issued. Bounded: emptied when full, PostgreSQL answers what it forgot.
    issued: Arc<Mutex<HashSet<i32>>>,
    pool: PgPool,
}

impl TransactionIds {
    /// The handle and the task that allocates.
    pub fn new(pool: PgPool) -> (Self, IdAllocator) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let ids = Self {
            tx,
            issued: Arc::default(),
            pool: pool.clone(),
        };
        (ids, IdAllocator { pool, rx })
    }

    fn remember(&self, id: i32) {
        let mut issued = self.issued.lock().expect("issued ids lock");
        if issued.len() >= REMEMBERED {
            issued.clear();
        }
        issued.insert(id);
    }

    /// Whether the gateway gave out `transaction_id` (a stop or meter values for any other id are
    /// recorded all the same, flagged).
    pub async fn was_issued(&self, transaction_id: i32) -> Result<bool, sqlx::Error> {
        if self
            .issued
            .lock()
            .expect("issued ids lock")
            .contains(&transaction_id)
        {
            return Ok(true);
        }
        let issued = was_issued(&self.pool, transaction_id).await?;
        if issued {
            self.remember(transaction_id);
        }
        Ok(issued)
    }

    /// The transaction id for `key`: the one given before, or the next from the sequence.
    pub async fn id_for(
        &self,
        key: &StartKey<'_>,
        received_at: DateTime<Utc>,
    ) -> Result<i32, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            tenant: key.tenant.to_string(),
            charge_point_id: key.charge_point_id.to_string(),
            connector_id: i64::from(key.connector_id),
            id_tag: key.id_tag.to_owned(),
            meter_start_wh: key.meter_start_wh,
            charger_time: key.charger_time,
            received_at,
            reply,
        };
        let stopped = || sqlx::Error::Protocol("transaction id allocator stopped".into());
        self.tx.send(pending).await.map_err(|_| stopped())?;
        let id = answer
            .await
            .map_err(|_| stopped())?
            .map_err(sqlx::Error::Protocol)?;
        self.remember(id);
        Ok(id)
    }
}

/// The task that allocates the ids of all starts of this replica.
pub struct IdAllocator {
    pool: PgPool,
    rx: mpsc::Receiver<Pending>,
}

impl IdAllocator {
    /// Allocates until shutdown (what is queued by then is still answered).
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), sqlx::Error> {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => {
                    self.rx.close();
                    self.rx.recv_many(&mut batch, QUEUE).await
                }
                n = self.rx.recv_many(&mut batch, BATCH) => n,
            };
            if received == 0 {
                return Ok(());
            }
            allocate(&self.pool, std::mem::take(&mut batch)).await;
            if shutdown.is_cancelled() && self.rx.is_closed() && self.rx.is_empty() {
                return Ok(());
            }
        }
    }
}

/// Allocates one batch and answers each start; a failure fails every start of the batch (the
/// chargers retry).
async fn allocate(pool: &PgPool, batch: Vec<Pending>) {
    let mut rest = batch;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(BATCH));
        let chunk = std::mem::replace(&mut rest, tail);
        let ids = insert(pool, &chunk).await;
        if let Err(e) = &ids {
            tracing::warn!(error = %e, starts = chunk.len(), "cannot allocate transaction ids");
        }
        for (i, pending) in chunk.into_iter().enumerate() {
            let answer = match &ids {
                Ok(ids) => ids
                    .get(i)
                    .copied()
                    .flatten()
                    .ok_or_else(|| "no transaction id returned for a start".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            // The connection may have gone meanwhile; its start is recorded all the same.
            let _ = pending.reply.send(answer);
        }
    }
}

/// One statement for the batch; the ids in the batch's order. Equal keys in one batch share the
/// row (ON CONFLICT DO UPDATE may not touch a row twice in one statement, hence DISTINCT ON).
async fn insert(pool: &PgPool, batch: &[Pending]) -> Result<Vec<Option<i32>>, sqlx::Error> {
    let tenants: Vec<&str> = batch.iter().map(|p| p.tenant.as_str()).collect();
    let cps: Vec<&str> = batch.iter().map(|p| p.charge_point_id.as_str()).collect();
    let connectors: Vec<i64> = batch.iter().map(|p| p.connector_id).collect();
    let tags: Vec<&str> = batch.iter().map(|p| p.id_tag.as_str()).collect();
    let meters: Vec<Decimal> = batch.iter().map(|p| p.meter_start_wh).collect();
    let times: Vec<DateTime<Utc>> = batch.iter().map(|p| p.charger_time).collect();
    let received: Vec<DateTime<Utc>> = batch.iter().map(|p| p.received_at).collect();
    // DO UPDATE (a no-op) rather than DO NOTHING: RETURNING then yields the existing row even when a
    // concurrent replica inserted it after this statement's snapshot was taken.
    let rows: Vec<(i64, i32)> = sqlx::query_as(
        "WITH input AS (
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::numeric[],
                                  $6::timestamptz[], $7::timestamptz[])
                 WITH ORDINALITY AS t(tenant, cp, connector, tag, meter, at, received, ord)
         ),
         stored AS (
             INSERT INTO gateway.transactions
                 (transaction_id, tenant_id, charge_point_id, connector_id, id_tag, meter_start_wh,
                  charger_time, first_received_at)
             SELECT nextval('gateway.transaction_ids')::integer, tenant, cp, connector, tag, meter, at, received
             FROM (SELECT DISTINCT ON (tenant, cp, connector, tag, meter, at) * FROM input
                   ORDER BY tenant, cp, connector, tag, meter, at, ord) first
             ORDER BY ord
             ON CONFLICT (tenant_id, charge_point_id, connector_id, id_tag, meter_start_wh, charger_time)
             DO UPDATE SET charge_point_id = EXCLUDED.charge_point_id
             RETURNING transaction_id, tenant_id, charge_point_id, connector_id, id_tag, meter_start_wh,
                       charger_time
         )
         SELECT input.ord, stored.transaction_id FROM input JOIN stored
             ON stored.tenant_id = input.tenant AND stored.charge_point_id = input.cp
            AND stored.connector_id = input.connector
            AND stored.id_tag = input.tag AND stored.meter_start_wh = input.meter
            AND stored.charger_time = input.at",
    )
    .bind(tenants)
    .bind(cps)
    .bind(connectors)
    .bind(tags)
    .bind(meters)
    .bind(times)
    .bind(received)
    .fetch_all(pool)
    .await?;
    let mut ids = vec![None; batch.len()];
    for (ord, id) in rows {
        // ORDINALITY counts from 1.
        if let Some(slot) = usize::try_from(ord - 1).ok().and_then(|i| ids.get_mut(i)) {
            *slot = Some(id);
        }
    }
    Ok(ids)
}

/// Whether `transaction_id` is in PostgreSQL (given out by any replica).
pub async fn was_issued(pool: &PgPool, transaction_id: i32) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM gateway.transactions WHERE transaction_id = $1)",
    )
    .bind(transaction_id)
    .fetch_one(pool)
    .await
}
