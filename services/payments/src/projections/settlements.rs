//! The `settlement_lines` read table: the provider's balance transactions, for reconciliation.

use joule_store::{ProjectionError, StoredEvent};
use sqlx::PgConnection;

use super::aggregate_uuid;
use crate::domain::settlement::SettlementEvent;

pub(super) async fn project(
    conn: &mut PgConnection,
    schema: &str,
    stored: &StoredEvent,
) -> Result<(), ProjectionError> {
    let s = schema;
    let SettlementEvent::SettlementLineRecorded {
        tenant_id,
        line,
        intent_id,
    } = stored.read()?;
    sqlx::query(&format!(
        "INSERT INTO {s}.settlement_lines (id, tenant_id, provider, transaction_id, category, currency, gross,
            fee, net, intent_reference, intent_id, payout_id, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING"
    ))
    .bind(aggregate_uuid(stored)?)
    .bind(tenant_id.as_str())
    .bind(&line.provider)
    .bind(&line.transaction_id)
    .bind(&line.category)
    .bind(line.currency().code())
    .bind(line.gross.amount)
    .bind(line.fee.amount)
    .bind(line.net.amount)
    .bind(&line.intent_reference)
    .bind(intent_id.map(|i| i.to_string()))
    .bind(&line.payout_id)
    .bind(line.occurred_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
