//! OCPP 1.6 transaction ids. The CSMS assigns them, so they must be unique across replicas and stable
//! across a charger's retries: a start is identified by its business key (charge point, connector,
//! idTag, meterStart, timestamp), and the same key always gets the same id. New ids come from a
//! PostgreSQL sequence of `integer` (OCPP 1.6 transactionId is a 32-bit int).

use chrono::{DateTime, Utc};
use joule_domain::ChargePointId;
use rust_decimal::Decimal;
use sqlx::PgPool;

/// What identifies one StartTransaction, however often the charger sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartKey<'a> {
    pub charge_point_id: &'a ChargePointId,
    pub connector_id: u32,
    pub id_tag: &'a str,
    pub meter_start_wh: Decimal,
    pub charger_time: DateTime<Utc>,
}

/// The transaction id for `key`: the one given before, or the next from the sequence.
pub async fn transaction_id_for(
    pool: &PgPool,
    key: &StartKey<'_>,
    received_at: DateTime<Utc>,
) -> Result<i32, sqlx::Error> {
    // DO UPDATE (a no-op) rather than DO NOTHING: RETURNING then yields the existing row even when a
    // concurrent replica inserted it after this statement's snapshot was taken.
    sqlx::query_scalar(
        "INSERT INTO gateway.transactions
             (transaction_id, charge_point_id, connector_id, id_tag, meter_start_wh, charger_time, first_received_at)
         VALUES (nextval('gateway.transaction_ids')::integer, $1, $2, $3, $4, $5, $6)
         ON CONFLICT (charge_point_id, connector_id, id_tag, meter_start_wh, charger_time)
         DO UPDATE SET charge_point_id = EXCLUDED.charge_point_id
         RETURNING transaction_id",
    )
    .bind(key.charge_point_id.as_str())
    .bind(i64::from(key.connector_id))
    .bind(key.id_tag)
    .bind(key.meter_start_wh)
    .bind(key.charger_time)
    .bind(received_at)
    .fetch_one(pool)
    .await
}

/// Whether the gateway gave out `transaction_id` (a stop or meter values for any other id are
/// recorded all the same, flagged).
pub async fn was_issued(pool: &PgPool, transaction_id: i32) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM gateway.transactions WHERE transaction_id = $1)",
    )
    .bind(transaction_id)
    .fetch_one(pool)
    .await
}
