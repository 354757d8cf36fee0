//! Reads of the read tables, as the wire's messages.

use chrono::{DateTime, Utc};
use joule_domain::Currency;
use joule_proto::v1;
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::amounts::wire;

fn ts(t: Option<DateTime<Utc>>) -> Option<joule_proto::Timestamp> {
    t.map(joule_proto::time::to_proto)
}

fn money(row: &PgRow, column: &str, currency: Option<Currency>) -> String {
    let amount: Decimal = row.get(column);
    match currency {
        Some(c) => wire(amount, c),
        None => amount.normalize().to_string(),
    }
}

const INTENT_COLUMNS: &str = "id, seq, session_id, order_id, account_id, provider, kind, purpose, payment_method_id,
    status, currency, amount_authorized, amount_captured, amount_refunded, failure_code, failure_message,
    created_at, updated_at";

fn intent_from(row: &PgRow) -> v1::PaymentIntent {
    let currency: String = row.get("currency");
    let c = currency.parse().ok();
    v1::PaymentIntent {
        id: row.get::<Uuid, _>("id").to_string(),
        session_id: row
            .get::<Option<Uuid>, _>("session_id")
            .map(|s| s.to_string())
            .unwrap_or_default(),
        order_id: row.get::<Option<String>, _>("order_id").unwrap_or_default(),
        account_id: row.get::<Uuid, _>("account_id").to_string(),
        provider: row.get("provider"),
        kind: row.get("kind"),
        purpose: row.get("purpose"),
        payment_method_id: row.get::<Uuid, _>("payment_method_id").to_string(),
        status: row.get("status"),
        amount_authorized: money(row, "amount_authorized", c),
        amount_captured: money(row, "amount_captured", c),
        amount_refunded: money(row, "amount_refunded", c),
        currency,
        failure_code: row.get("failure_code"),
        failure_message: row.get("failure_message"),
        events: vec![],
        created_at: ts(row.get("created_at")),
        updated_at: ts(row.get("updated_at")),
    }
}

async fn with_events(
    pool: &PgPool,
    schema: &str,
    mut intents: Vec<v1::PaymentIntent>,
) -> Result<Vec<v1::PaymentIntent>, sqlx::Error> {
    let ids: Vec<Uuid> = intents
        .iter()
        .filter_map(|i| Uuid::parse_str(&i.id).ok())
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT intent_id, sequence, type, amount, detail, occurred_at FROM {schema}.intent_events
         WHERE intent_id = ANY($1) ORDER BY intent_id, sequence"
    ))
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for intent in &mut intents {
        let c: Option<Currency> = intent.currency.parse().ok();
        intent.events = rows
            .iter()
            .filter(|r| r.get::<Uuid, _>("intent_id").to_string() == intent.id)
            .map(|r| v1::PaymentEventRecord {
                sequence: r.get::<i64, _>("sequence") as u64,
                r#type: r.get("type"),
                amount: r
                    .get::<Option<Decimal>, _>("amount")
                    .map(|a| match c {
                        Some(c) => wire(a, c),
                        None => a.to_string(),
                    })
                    .unwrap_or_default(),
                detail: r.get("detail"),
                occurred_at: ts(r.get("occurred_at")),
            })
            .collect();
    }
    Ok(intents)
}

pub async fn intent(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    id: Uuid,
) -> Result<Option<v1::PaymentIntent>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {INTENT_COLUMNS} FROM {schema}.intents WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_events(pool, schema, vec![intent_from(&row)])
        .await?
        .pop())
}

/// Intents of a tenant, optionally of one session and/or account, in creation order from `after`.
pub async fn intents(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    session: Option<Uuid>,
    account: Option<Uuid>,
    after: i64,
    limit: i64,
) -> Result<(Vec<v1::PaymentIntent>, Option<i64>), sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {INTENT_COLUMNS} FROM {schema}.intents
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR session_id = $2) AND ($3::uuid IS NULL OR account_id = $3)
           AND seq > $4
         ORDER BY seq LIMIT $5"
    ))
    .bind(tenant)
    .bind(session)
    .bind(account)
    .bind(after)
    // The page size is capped by the callers (500).
    .bind(limit.saturating_add(1))
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = if more {
        rows.last().map(|r| r.get::<i64, _>("seq"))
    } else {
        None
    };
    let intents = rows.iter().map(intent_from).collect();
    Ok((with_events(pool, schema, intents).await?, next))
}

pub async fn methods(
    pool: &PgPool,
    schema: &str,
    tenant: &str,
    account: Uuid,
) -> Result<Vec<v1::PaymentMethod>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT id, account_id, provider, kind, brand, last4, exp_month, exp_year, is_default, created_at
         FROM {schema}.methods WHERE tenant_id = $1 AND account_id = $2 ORDER BY created_at, id"
    ))
    .bind(tenant)
    .bind(account)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| v1::PaymentMethod {
            id: r.get::<Uuid, _>("id").to_string(),
            account_id: r.get::<Uuid, _>("account_id").to_string(),
            provider: r.get("provider"),
            kind: r.get("kind"),
            brand: r.get("brand"),
            last4: r.get("last4"),
            exp_month: r.get::<i32, _>("exp_month") as u32,
            exp_year: r.get::<i32, _>("exp_year") as u32,
            is_default: r.get("is_default"),
            created_at: ts(r.get("created_at")),
        })
        .collect())
}

pub async fn wallet_transactions(
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
