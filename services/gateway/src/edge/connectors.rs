//! Connector states: kept in the charger's connection task and written to `gateway.connector_status`
//! only when they change, by one writer task off the answer path (BENCHMARKS.md: two queries per
//! StatusNotification were the p99 of status traffic).
//!
//! A charger has one connection at a time (presence makes a new one replace the old), so the copy in
//! its connection is the latest state. It is loaded from PostgreSQL at the first status of a
//! connection, so that a fault raised before a reconnect (on any replica) is still known and its
//! clearing raises the recovery alarm. The stored row records the last change, not the last report.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::batch::with_retries;
use crate::projections::registry::ChargePointKey;

/// Changes buffered before connections wait for the writer.
const BUFFER: usize = 8192;
/// Rows per statement.
const BATCH: usize = 512;

/// One connector's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorState {
    pub status: String,
    pub error_code: String,
    pub faulted: bool,
}

/// (evse id, connector id).
pub type ConnectorKey = (u32, u32);

/// One charger's connector states, owned by its connection.
#[derive(Default)]
pub struct ChargerConnectors {
    /// `None` until loaded from the database.
    states: Mutex<Option<HashMap<ConnectorKey, ConnectorState>>>,
}

impl ChargerConnectors {
    /// Records `state`; returns the previous one (`Err` when unknown yet: call [`Self::load`]),
    /// and whether it changed.
    fn swap(
        &self,
        key: ConnectorKey,
        state: &ConnectorState,
    ) -> Result<(Option<ConnectorState>, bool), ()> {
        let mut states = self.states.lock().expect("connector states lock");
        let states = states.as_mut().ok_or(())?;
        let previous = states.insert(key, state.clone());
        let changed = previous.as_ref() != Some(state);
        Ok((previous, changed))
    }

    async fn load(&self, pool: &PgPool, charge_point: &ChargePointKey) -> Result<(), sqlx::Error> {
        let rows: Vec<(i64, i64, String, String, bool)> = sqlx::query_as(
            "SELECT evse_id, connector_id, status, error_code, faulted
             FROM gateway.connector_status WHERE tenant_id = $1 AND charge_point_id = $2",
        )
        .bind(charge_point.tenant.as_str())
        .bind(charge_point.charge_point_id.as_str())
        .fetch_all(pool)
        .await?;
        let loaded = rows
            .into_iter()
            .filter_map(|(evse, connector, status, error_code, faulted)| {
                let key = (u32::try_from(evse).ok()?, u32::try_from(connector).ok()?);
                Some((
                    key,
                    ConnectorState {
                        status,
                        error_code,
                        faulted,
                    },
                ))
            })
            .collect();
        let mut states = self.states.lock().expect("connector states lock");
        // One connection handles one message at a time, so nothing was recorded meanwhile.
        if states.is_none() {
            *states = Some(loaded);
        }
        Ok(())
    }

    /// Records the reported state: the previous one, and whether it changed (then it must be
    /// written).
    pub async fn report(
        &self,
        pool: &PgPool,
        charge_point: &ChargePointKey,
        key: ConnectorKey,
        state: &ConnectorState,
    ) -> Result<(Option<ConnectorState>, bool), sqlx::Error> {
        if let Ok(outcome) = self.swap(key, state) {
            return Ok(outcome);
        }
        self.load(pool, charge_point).await?;
        Ok(self.swap(key, state).expect("loaded just now"))
    }
}

/// A changed state to store.
#[derive(Debug)]
pub struct ConnectorChange {
    pub charge_point: ChargePointKey,
    pub key: ConnectorKey,
    pub state: ConnectorState,
    pub at: DateTime<Utc>,
}

/// Where connections hand changed states.
#[derive(Clone)]
pub struct ConnectorLog {
    tx: mpsc::Sender<ConnectorChange>,
}

impl ConnectorLog {
    pub fn new(pool: PgPool) -> (Self, ConnectorWriter) {
        let (tx, rx) = mpsc::channel(BUFFER);
        (Self { tx }, ConnectorWriter { pool, rx })
    }

    pub async fn record(&self, change: ConnectorChange) {
        let cp = change.charge_point.clone();
        if self.tx.send(change).await.is_err() {
            tracing::warn!(charge_point = %cp, "connector status writer stopped; change not stored");
        }
    }
}

pub struct ConnectorWriter {
    pool: PgPool,
    rx: mpsc::Receiver<ConnectorChange>,
}

impl ConnectorWriter {
    /// Writes until every [`ConnectorLog`] is dropped and the buffer is empty.
    pub async fn run(mut self) -> Result<(), sqlx::Error> {
        let mut batch = Vec::with_capacity(BATCH);
        while self.rx.recv_many(&mut batch, BATCH).await > 0 {
            let written = with_retries("cannot store connector states; retrying", || {
                upsert(&self.pool, &batch)
            })
            .await;
            if let Err(e) = written {
                // The events are durable on NATS; the table is the gateway's own memory of faults
                // across reconnects, refreshed by the next change.
                tracing::error!(error = %e, changes = batch.len(), "connector states not stored");
            }
            batch.clear();
        }
        Ok(())
    }
}

/// One statement per batch; the last change per connector wins (a row may be touched once).
async fn upsert(pool: &PgPool, batch: &[ConnectorChange]) -> Result<(), sqlx::Error> {
    let mut latest: HashMap<(&ChargePointKey, ConnectorKey), &ConnectorChange> = HashMap::new();
    for change in batch {
        latest.insert((&change.charge_point, change.key), change);
    }
    let changes: Vec<&ConnectorChange> = latest.into_values().collect();
    let tenants: Vec<&str> = changes
        .iter()
        .map(|c| c.charge_point.tenant.as_str())
        .collect();
    let cps: Vec<&str> = changes
        .iter()
        .map(|c| c.charge_point.charge_point_id.as_str())
        .collect();
    let evses: Vec<i64> = changes.iter().map(|c| i64::from(c.key.0)).collect();
    let connectors: Vec<i64> = changes.iter().map(|c| i64::from(c.key.1)).collect();
    let statuses: Vec<&str> = changes.iter().map(|c| c.state.status.as_str()).collect();
    let errors: Vec<&str> = changes
        .iter()
        .map(|c| c.state.error_code.as_str())
        .collect();
    let faulted: Vec<bool> = changes.iter().map(|c| c.state.faulted).collect();
    let ats: Vec<DateTime<Utc>> = changes.iter().map(|c| c.at).collect();
    sqlx::query(
        "INSERT INTO gateway.connector_status
             (tenant_id, charge_point_id, evse_id, connector_id, status, error_code, faulted, updated_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[],
                              $6::text[], $7::boolean[], $8::timestamptz[])
         ON CONFLICT (tenant_id, charge_point_id, evse_id, connector_id) DO UPDATE
         SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
             faulted = EXCLUDED.faulted, updated_at = EXCLUDED.updated_at",
    )
    .bind(tenants)
    .bind(cps)
    .bind(evses)
    .bind(connectors)
    .bind(statuses)
    .bind(errors)
    .bind(faulted)
    .bind(ats)
    .execute(pool)
    .await?;
    Ok(())
}
