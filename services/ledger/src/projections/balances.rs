//! The `postings` and `balances` read tables: every posting once, and per tenant, account and
//! currency the sums of its debits and credits, which the trial balance answers from.

use joule_domain::{Currency, JournalEntryId, TenantId};
use joule_store::{ProjectionError, StoredEvent};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

use crate::domain::journal::PostedEntry;

/// Why the trial balance cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the balances add up beyond a decimal's range")]
    Overflow,
}

/// Records the postings of entry `id` (stored as `event`) and moves the balances by them. A balance
/// moves only when its posting row is new, so the projection never counts a posting twice even if
/// it were handed the same event again.
pub async fn record(
    conn: &mut PgConnection,
    schema: &str,
    event: &StoredEvent,
    id: JournalEntryId,
    tenant: &str,
    entry: &PostedEntry,
) -> Result<(), ProjectionError> {
    let s = schema;
    for (line, p) in entry.postings.iter().enumerate() {
        let line = i32::try_from(line).map_err(|e| ProjectionError::decode(event, e))?;
        sqlx::query(&format!(
            "WITH posting AS (
                 INSERT INTO {s}.postings (entry_id, line, tenant_id, account, currency, debit, credit, posted_at,
                                            source_type, source_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (entry_id, line) DO NOTHING
                 RETURNING tenant_id, account, currency, debit, credit
             )
             INSERT INTO {s}.balances (tenant_id, account, currency, debit, credit)
             SELECT tenant_id, account, currency, debit, credit FROM posting
             ON CONFLICT (tenant_id, account, currency) DO UPDATE
             SET debit = {s}.balances.debit + EXCLUDED.debit, credit = {s}.balances.credit + EXCLUDED.credit"
        ))
        .bind(id.as_uuid())
        .bind(line)
        .bind(tenant)
        .bind(&p.account)
        .bind(entry.currency.code())
        .bind(p.debit)
        .bind(p.credit)
        .bind(entry.posted_at)
        .bind(&entry.source.source_type)
        .bind(&entry.source.source_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One account's balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub account: String,
    /// As stored (an ISO 4217 code).
    pub currency: String,
    pub debit: Decimal,
    pub credit: Decimal,
    /// Debit minus credit.
    pub balance: Decimal,
}

/// A tenant's trial balance. The totals add every row: they are meaningful for a tenant that
/// books one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialBalance {
    pub rows: Vec<BalanceRow>,
    pub total_debit: Decimal,
    pub total_credit: Decimal,
    /// The finest minor unit of the rows' currencies, to which the totals are written.
    pub minor_units: u32,
}

/// The minor units of a stored currency code (0 for one Joule does not know).
pub fn minor_units(currency: &str) -> u32 {
    currency
        .parse::<Currency>()
        .map(|c| c.minor_units())
        .unwrap_or(0)
}

/// The trial balance of `tenant`, by account and currency.
pub async fn trial_balance(
    pool: &PgPool,
    schema: &str,
    tenant: &TenantId,
) -> Result<TrialBalance, ReadError> {
    let rows: Vec<(String, String, Decimal, Decimal)> = sqlx::query_as(&format!(
        "SELECT account, currency, debit, credit FROM {schema}.balances WHERE tenant_id = $1 ORDER BY account, currency"
    ))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await?;
    assemble(rows)
}

/// A trial balance of sums by account and currency: its rows, totals and minor units.
pub(crate) fn assemble(
    rows: Vec<(String, String, Decimal, Decimal)>,
) -> Result<TrialBalance, ReadError> {
    let minor_units = rows
        .iter()
        .map(|(_, c, _, _)| minor_units(c))
        .max()
        .unwrap_or(0);
    let (total_debit, total_credit) = rows
        .iter()
        .try_fold((Decimal::ZERO, Decimal::ZERO), |(d, c), row| {
            Some((d.checked_add(row.2)?, c.checked_add(row.3)?))
        })
        .ok_or(ReadError::Overflow)?;
    let rows = rows
        .into_iter()
        .map(|(account, currency, debit, credit)| {
            Ok(BalanceRow {
                balance: debit.checked_sub(credit).ok_or(ReadError::Overflow)?,
                account,
                currency,
                debit,
                credit,
            })
        })
        .collect::<Result<_, ReadError>>()?;
    Ok(TrialBalance {
        rows,
        total_debit,
        total_credit,
        minor_units,
    })
}
