//! The `wallets` read table and each wallet's history (`wallet_transactions`).

use joule_domain::Currency;
use joule_proto::v1;
use joule_store::{ProjectionError, StoredEvent};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{aggregate_uuid, money, ts};
use crate::domain::wallet::WalletEvent;

pub(super) async fn project(
    conn: &mut PgConnection,
    schema: &str,
    stored: &StoredEvent,
) -> Result<(), ProjectionError> {
    let s = schema;
    let id = aggregate_uuid(stored)?;
    let event: WalletEvent = stored.read()?;
    // The history line: the movement's type, the amount it moved and its reference.
    let (kind, amount, reference) = match &event {
        WalletEvent::WalletOpened {
            tenant_id,
            account_id,
            currency,
            at,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {s}.wallets (id, tenant_id, account_id, currency, balance, held, created_at)
                 VALUES ($1, $2, $3, $4, 0, 0, $5) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(tenant_id.as_str())
            .bind(account_id.as_uuid())
            .bind(currency.code())
            .bind(at)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        WalletEvent::WalletToppedUp {
            amount, reference, ..
        } => ("top_up", amount.amount, reference),
        WalletEvent::WalletHoldPlaced {
            hold_id, amount, ..
        } => ("hold", *amount, hold_id),
        WalletEvent::WalletHoldRaised { hold_id, added, .. } => ("hold_extended", *added, hold_id),
        WalletEvent::WalletHoldCaptured {
            hold_id, amount, ..
        } => ("capture", *amount, hold_id),
        WalletEvent::WalletHoldReleased {
            hold_id, released, ..
        } => ("release", *released, hold_id),
        WalletEvent::WalletRefunded {
            refund_id, amount, ..
        } => ("refund", *amount, refund_id),
    };
    let Some((balance, held, at)) = event.after() else {
        return Ok(());
    };
    sqlx::query(&format!(
        "UPDATE {s}.wallets SET balance = $2, held = $3 WHERE id = $1"
    ))
    .bind(id)
    .bind(balance)
    .bind(held)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO {s}.wallet_transactions (wallet_id, sequence, type, amount, balance, held, reference, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
    ))
    .bind(id)
    .bind(stored.sequence)
    .bind(kind)
    .bind(amount)
    .bind(balance)
    .bind(held)
    .bind(reference)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn transactions(
    pool: &PgPool,
    schema: &str,
    wallet: Uuid,
    currency: Currency,
) -> Result<Vec<v1::WalletTransaction>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT sequence, type, amount, balance, held, reference, occurred_at
         FROM {schema}.wallet_transactions WHERE wallet_id = $1 ORDER BY sequence"
    ))
    .bind(wallet)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| v1::WalletTransaction {
            sequence: r.get::<i64, _>("sequence") as u64,
            r#type: r.get("type"),
            amount: money(r, "amount", Some(currency)),
            balance: money(r, "balance", Some(currency)),
            held: money(r, "held", Some(currency)),
            reference: r.get("reference"),
            occurred_at: ts(r.get("occurred_at")),
        })
        .collect())
}
