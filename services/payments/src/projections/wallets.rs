//! The `wallets` read table and each wallet's history (`wallet_transactions`).

use joule_domain::Currency;
use joule_proto::v1;
use joule_store::{ProjectionError, StoredEvent};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{Page, aggregate_uuid, amount_text, money, ts};
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

/// A page of the wallet's history, in order, and the next page's cursor.
pub async fn transactions(
    pool: &PgPool,
    schema: &str,
    wallet: Uuid,
    currency: Currency,
    page: Page,
) -> Result<(Vec<v1::WalletTransaction>, Option<i64>), sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT sequence, type, amount, balance, held, reference, occurred_at
         FROM {schema}.wallet_transactions WHERE wallet_id = $1 AND sequence > $2
         ORDER BY sequence LIMIT $3"
    ))
    .bind(wallet)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(pool)
    .await?;
    let (rows, next) = page.cut(rows, |r| r.get("sequence"));
    let transactions = rows
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
        .collect();
    Ok((transactions, next))
}

/// A page of the account's wallets, oldest first, and the next page's cursor.
pub async fn wallets(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    account: Uuid,
    page: Page,
) -> Result<(Vec<v1::Wallet>, Option<i64>), sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT seq, id, account_id, currency, balance, held, created_at
         FROM {schema}.wallets WHERE tenant_id = $1 AND account_id = $2 AND seq > $3
         ORDER BY seq LIMIT $4"
    ))
    .bind(tenant)
    .bind(account)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(pool)
    .await?;
    let (rows, next) = page.cut(rows, |r| r.get("seq"));
    let wallets = rows
        .iter()
        .map(|r| {
            let currency = r.get::<String, _>("currency").parse::<Currency>().ok();
            let (balance, held): (Decimal, Decimal) = (r.get("balance"), r.get("held"));
            v1::Wallet {
                id: r.get::<Uuid, _>("id").to_string(),
                account_id: r.get::<Uuid, _>("account_id").to_string(),
                balance: money(r, "balance", currency),
                held: money(r, "held", currency),
                // Holds are at most the balance (the aggregate's `available`).
                available: amount_text(balance.saturating_sub(held), currency),
                currency: currency.map(|c| c.to_string()).unwrap_or_default(),
                created_at: ts(r.get("created_at")),
            }
        })
        .collect();
    Ok((wallets, next))
}
