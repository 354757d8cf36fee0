//! A customer's statement of account: the entries that moved its receivable
//! (`accounts_receivable`, `accounts_receivable_dunning`), netted per entry, with running balances
//! per currency. An entry that moves the receivable between the two accounts (dunning) nets to
//! zero and is left out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, TenantId};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::balances::ReadError;
use crate::rules::{ACCOUNTS_RECEIVABLE, ACCOUNTS_RECEIVABLE_DUNNING};

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub entry_id: Uuid,
    pub posted_at: DateTime<Utc>,
    pub kind: String,
    pub source_type: String,
    pub source_id: String,
    pub description: String,
    pub currency: String,
    /// What the entry added to (positive) or took from (negative) the receivable.
    pub net: Decimal,
    pub balance: Decimal,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Statement {
    /// Per currency: opening and closing balance.
    pub balances: BTreeMap<String, (Decimal, Decimal)>,
    pub lines: Vec<Line>,
}

type Row = (
    Uuid,
    DateTime<Utc>,
    String,
    String,
    String,
    String,
    String,
    Decimal,
);

pub async fn statement(
    pool: &PgPool,
    schema: &str,
    tenant: &TenantId,
    account: AccountId,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Statement, ReadError> {
    let receivable = [ACCOUNTS_RECEIVABLE, ACCOUNTS_RECEIVABLE_DUNNING];
    let opening: Vec<(String, Decimal)> = match from {
        None => Vec::new(),
        Some(from) => {
            sqlx::query_as(&format!(
                "SELECT p.currency, sum(p.debit) - sum(p.credit)
                 FROM {schema}.postings p JOIN {schema}.account_transactions t ON t.entry_id = p.entry_id
                 WHERE p.tenant_id = $1 AND t.account_id = $2 AND p.account = ANY($3)
                   AND p.posted_at < $4
                 GROUP BY p.currency"
            ))
            .bind(tenant.as_str())
            .bind(account.as_uuid())
            .bind(&receivable[..])
            .bind(from)
            .fetch_all(pool)
            .await?
        }
    };
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT p.entry_id, min(p.posted_at), t.kind, p.source_type, p.source_id, t.description,
                p.currency, sum(p.debit) - sum(p.credit)
         FROM {schema}.postings p JOIN {schema}.account_transactions t ON t.entry_id = p.entry_id
         WHERE p.tenant_id = $1 AND t.account_id = $2 AND p.account = ANY($3)
           AND ($4::timestamptz IS NULL OR p.posted_at >= $4)
           AND ($5::timestamptz IS NULL OR p.posted_at < $5)
         GROUP BY p.entry_id, t.kind, p.source_type, p.source_id, t.description, p.currency
         ORDER BY min(p.seq)"
    ))
    .bind(tenant.as_str())
    .bind(account.as_uuid())
    .bind(&receivable[..])
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut statement = Statement::default();
    for (currency, balance) in opening {
        statement.balances.insert(currency, (balance, balance));
    }
    for (entry_id, posted_at, kind, source_type, source_id, description, currency, net) in rows {
        if net.is_zero() {
            continue;
        }
        let (_, closing) = statement.balances.entry(currency.clone()).or_default();
        *closing = closing.checked_add(net).ok_or(ReadError::Overflow)?;
        statement.lines.push(Line {
            entry_id,
            posted_at,
            kind,
            source_type,
            source_id,
            description,
            currency,
            net,
            balance: *closing,
        });
    }
    Ok(statement)
}
