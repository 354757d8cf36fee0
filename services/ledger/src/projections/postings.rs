//! Reads of the `postings` table: the general ledger, filtered and paged, and balances as they
//! stood at a time.

use chrono::{DateTime, Utc};
use joule_domain::TenantId;
use joule_store::Page;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::balances::{ReadError, TrialBalance};

/// Which postings a list holds.
#[derive(Debug, Default)]
pub struct Filter {
    pub account: Option<String>,
    pub entry: Option<Uuid>,
    pub source_type: Option<String>,
    pub source_id: Option<String>,
    pub posted_after: Option<DateTime<Utc>>,
    pub posted_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PostingRow {
    pub seq: i64,
    pub entry_id: Uuid,
    pub line: i32,
    pub account: String,
    pub currency: String,
    pub debit: Decimal,
    pub credit: Decimal,
    pub posted_at: DateTime<Utc>,
    pub source_type: String,
    pub source_id: String,
}

/// A page of `tenant`'s postings in the order they were recorded, and the next page's place.
pub async fn list(
    pool: &PgPool,
    schema: &str,
    tenant: &TenantId,
    filter: &Filter,
    page: Page,
) -> Result<(Vec<PostingRow>, Option<i64>), sqlx::Error> {
    let rows: Vec<PostingRow> = sqlx::query_as(&format!(
        "SELECT seq, entry_id, line, account, currency, debit, credit, posted_at, source_type,
                source_id
         FROM {schema}.postings
         WHERE tenant_id = $1 AND seq > $2
           AND ($3::text IS NULL OR account = $3)
           AND ($4::uuid IS NULL OR entry_id = $4)
           AND ($5::text IS NULL OR source_type = $5)
           AND ($6::text IS NULL OR source_id = $6)
           AND ($7::timestamptz IS NULL OR posted_at >= $7)
           AND ($8::timestamptz IS NULL OR posted_at < $8)
         ORDER BY seq LIMIT $9"
    ))
    .bind(tenant.as_str())
    .bind(page.after)
    .bind(filter.account.as_deref())
    .bind(filter.entry)
    .bind(filter.source_type.as_deref())
    .bind(filter.source_id.as_deref())
    .bind(filter.posted_after)
    .bind(filter.posted_before)
    .bind(page.limit.saturating_add(1))
    .fetch_all(pool)
    .await?;
    Ok(page.cut(rows, |r| r.seq))
}

/// `tenant`'s trial balance as it stood at `as_of`: the postings posted at or before it.
pub async fn trial_balance_at(
    pool: &PgPool,
    schema: &str,
    tenant: &TenantId,
    as_of: DateTime<Utc>,
) -> Result<TrialBalance, ReadError> {
    let sums: Vec<(String, String, Decimal, Decimal)> = sqlx::query_as(&format!(
        "SELECT account, currency, sum(debit), sum(credit) FROM {schema}.postings
         WHERE tenant_id = $1 AND posted_at <= $2
         GROUP BY account, currency ORDER BY account, currency"
    ))
    .bind(tenant.as_str())
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    super::balances::assemble(sums)
}
