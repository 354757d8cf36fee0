//! The `account_transactions` read table: every entry that concerns a customer account, once, and
//! the filtered, paged list of them that `ListTransactions` answers.

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, JournalEntryId, TenantId};
use joule_store::ProjectionError;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::journal::{PostedEntry, TransactionKind};

/// Records entry `id` as a transaction of its party's account (nothing for an entry without one;
/// nothing again for an entry already recorded).
pub async fn record(
    conn: &mut PgConnection,
    schema: &str,
    id: JournalEntryId,
    tenant: &str,
    entry: &PostedEntry,
) -> Result<(), ProjectionError> {
    let Some(party) = &entry.party else {
        return Ok(());
    };
    sqlx::query(&format!(
        "INSERT INTO {schema}.account_transactions (entry_id, tenant_id, account_id, kind, amount, currency,
                                                    source_type, source_id, session_id, description, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (entry_id) DO NOTHING"
    ))
    .bind(id.as_uuid())
    .bind(tenant)
    .bind(party.account_id.as_uuid())
    .bind(party.kind.as_str())
    .bind(party.amount)
    .bind(entry.currency.code())
    .bind(&entry.source.source_type)
    .bind(&entry.source.source_id)
    .bind(party.session_id.map(|s| s.as_uuid()))
    .bind(&entry.description)
    .bind(entry.posted_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Which transactions a list shows; every filter is optional but the tenant.
#[derive(Debug, Clone)]
pub struct Filter {
    pub tenant: TenantId,
    pub account: Option<AccountId>,
    pub kinds: Vec<TransactionKind>,
    pub occurred_after: Option<DateTime<Utc>>,
    pub occurred_before: Option<DateTime<Utc>>,
    /// Transactions of sessions this fleet / cost centre held (ADR 037).
    pub fleet: Option<Uuid>,
    pub cost_centre: Option<Uuid>,
    /// Only transactions of sessions of these fleets (`None`: no limit).
    pub within_fleets: Option<Vec<Uuid>>,
    /// The `seq` of the last row of the previous page.
    pub after: i64,
    pub limit: i64,
}

/// One transaction as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TransactionRow {
    pub seq: i64,
    pub entry_id: Uuid,
    pub account_id: Uuid,
    pub kind: String,
    pub amount: Decimal,
    pub currency: String,
    pub source_type: String,
    pub source_id: String,
    pub session_id: Option<Uuid>,
    pub description: String,
    pub occurred_at: DateTime<Utc>,
}

/// A page of transactions, oldest first, and the cursor of the next page if there is one.
pub async fn list(
    pool: &PgPool,
    schema: &str,
    filter: &Filter,
) -> Result<(Vec<TransactionRow>, Option<i64>), sqlx::Error> {
    let kinds: Vec<&str> = filter.kinds.iter().map(|k| k.as_str()).collect();
    let mut rows: Vec<TransactionRow> = sqlx::query_as(&format!(
        "SELECT seq, entry_id, account_id, kind, amount, currency, source_type, source_id, session_id,
                description, occurred_at
         FROM {schema}.account_transactions
         WHERE tenant_id = $1 AND seq > $2
           AND ($3::uuid IS NULL OR account_id = $3)
           AND (cardinality($4::text[]) = 0 OR kind = ANY($4))
           AND ($5::timestamptz IS NULL OR occurred_at > $5)
           AND ($6::timestamptz IS NULL OR occurred_at < $6)
           AND ($8::uuid IS NULL AND $9::uuid IS NULL AND $10::uuid[] IS NULL
                OR session_id IN (
                    SELECT h.session_id FROM {schema}.session_holders h
                    WHERE h.tenant_id = $1
                      AND ($8::uuid IS NULL OR h.fleet_id = $8)
                      AND ($9::uuid IS NULL OR h.cost_centre_id = $9)
                      AND ($10::uuid[] IS NULL OR h.fleet_id = ANY($10))))
         ORDER BY seq LIMIT $7"
    ))
    .bind(filter.tenant.as_str())
    .bind(filter.after)
    .bind(filter.account.map(|a| a.as_uuid()))
    .bind(&kinds)
    .bind(filter.occurred_after)
    .bind(filter.occurred_before)
    .bind(filter.limit.saturating_add(1))
    .bind(filter.fleet)
    .bind(filter.cost_centre)
    .bind(filter.within_fleets.as_deref())
    .fetch_all(pool)
    .await?;
    let more = usize::try_from(filter.limit).is_ok_and(|limit| rows.len() > limit);
    if more {
        rows.pop();
    }
    let next = if more {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    Ok((rows, next))
}
