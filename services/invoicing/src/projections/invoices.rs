//! The receipts' read model (`<schema>.invoices`): written by the relay from `InvoiceIssued`
//! events, read by the gRPC API.

use chrono::{DateTime, Utc};
use joule_domain::{AccountId, Currency, InvoiceId, SessionId, TenantId};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::domain::invoice::{InvoiceFlag, IssuedInvoice};
use crate::domain::receipt::InvoiceLine;
use crate::wire::STATUS_ISSUED;

/// A stored invoice that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored invoice {id} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
}

/// Records an issued invoice, once.
pub async fn insert(
    conn: &mut PgConnection,
    schema: &str,
    id: InvoiceId,
    invoice: &IssuedInvoice,
    sequence: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {schema}.invoices (id, tenant_id, number, year, sequence, status, account_id, currency, lines,
             total_excl_vat, total_vat, total_incl_vat, session_ids, flags, issued_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(id.as_uuid())
    .bind(invoice.tenant_id.as_str())
    .bind(invoice.number.to_string())
    .bind(invoice.number.year)
    .bind(sequence)
    .bind(STATUS_ISSUED)
    .bind(invoice.account_id.map(|a| a.to_string()).unwrap_or_default())
    .bind(invoice.currency.code())
    .bind(Json(&invoice.lines))
    .bind(invoice.total_excl_vat)
    .bind(invoice.total_vat)
    .bind(invoice.total_incl_vat)
    .bind(invoice.session_ids.iter().map(ToString::to_string).collect::<Vec<_>>())
    .bind(invoice.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>())
    .bind(invoice.issued_at)
    .execute(conn)
    .await?;
    Ok(())
}

const COLUMNS: &str =
    "id, tenant_id, number, account_id, currency, lines, total_excl_vat, total_vat,
     total_incl_vat, session_ids, flags, issued_at";

/// Which invoices a page lists: the tenant's, narrowed by each filter given.
#[derive(Debug, Clone)]
pub struct InvoiceFilter {
    pub tenant: TenantId,
    pub account: Option<AccountId>,
    pub issued_after: Option<DateTime<Utc>>,
    pub issued_before: Option<DateTime<Utc>>,
    pub session: Option<SessionId>,
    /// Invoices of sessions this fleet / driver held at their start (ADR 037).
    pub fleet: Option<Uuid>,
    pub driver: Option<Uuid>,
    pub reach: Reach,
}

/// Whose invoices a caller reads (ADR 038): the whole tenant's, or only invoices every session of
/// which was held by one of `fleets` (a fleet manager's) or by `driver` (a driver's receipts).
#[derive(Debug, Clone, Default)]
pub struct Reach {
    pub fleets: Option<Vec<Uuid>>,
    pub driver: Option<Uuid>,
}

/// The SQL condition on invoice `i` that [`Reach`] bound as `$fleets` and `$driver` states.
fn reach_condition(schema: &str, fleets: u8, driver: u8) -> String {
    format!(
        "((${fleets}::uuid[] IS NULL AND ${driver}::uuid IS NULL)
          OR (cardinality(i.session_ids) > 0 AND NOT EXISTS (
                SELECT 1 FROM unnest(i.session_ids::uuid[]) AS s(id)
                WHERE NOT EXISTS (
                    SELECT 1 FROM {schema}.session_holders h
                    WHERE h.tenant_id = i.tenant_id AND h.session_id = s.id
                      AND (h.fleet_id = ANY(${fleets}) OR h.driver_id = ${driver})))))"
    )
}

/// The SQL condition on invoice `i`: a session of it was held by `$param`'s `column`.
fn held_by(schema: &str, column: &str, param: u8) -> String {
    format!(
        "(${param}::uuid IS NULL OR EXISTS (
            SELECT 1 FROM {schema}.session_holders h
            WHERE h.tenant_id = i.tenant_id AND h.session_id = ANY(i.session_ids::uuid[])
              AND h.{column} = ${param}))"
    )
}

/// A page of the invoices `filter` selects numbered after `after` (year and sequence), in number
/// order, and whether more follow.
pub async fn page(
    pool: &PgPool,
    schema: &str,
    filter: &InvoiceFilter,
    after: Option<(i32, i64)>,
    page_size: u32,
) -> Result<(Vec<(InvoiceId, IssuedInvoice)>, bool), ReadModelError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {schema}.invoices i
         WHERE tenant_id = $1 AND ($2::text IS NULL OR account_id = $2)
           AND ($3::int IS NULL OR (year, sequence) > ($3, $4))
           AND ($6::timestamptz IS NULL OR issued_at > $6)
           AND ($7::timestamptz IS NULL OR issued_at < $7)
           AND ($8::text IS NULL OR session_ids @> ARRAY[$8])
           AND {fleet} AND {driver} AND {reach}
         ORDER BY year, sequence LIMIT $5",
        fleet = held_by(schema, "fleet_id", 9),
        driver = held_by(schema, "driver_id", 10),
        reach = reach_condition(schema, 11, 12),
    ))
    .bind(filter.tenant.as_str())
    .bind(filter.account.map(|a| a.to_string()))
    .bind(after.map(|(year, _)| year))
    .bind(after.map(|(_, sequence)| sequence))
    // One row more than the page tells whether there is a next page.
    .bind(i64::from(page_size).saturating_add(1))
    .bind(filter.issued_after)
    .bind(filter.issued_before)
    .bind(filter.session.map(|s| s.to_string()))
    .bind(filter.fleet)
    .bind(filter.driver)
    .bind(filter.reach.fleets.as_deref())
    .bind(filter.reach.driver)
    .fetch_all(pool)
    .await?;
    let more = rows.len() > page_size as usize;
    let invoices = rows
        .iter()
        .take(page_size as usize)
        .map(invoice_from_row)
        .collect::<Result<_, _>>()?;
    Ok((invoices, more))
}

/// The invoice `id` of `tenant` if it is within `reach`.
pub async fn get(
    pool: &PgPool,
    schema: &str,
    tenant: &TenantId,
    id: InvoiceId,
    reach: &Reach,
) -> Result<Option<(InvoiceId, IssuedInvoice)>, ReadModelError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {schema}.invoices i WHERE tenant_id = $1 AND id = $2 AND {reach}",
        reach = reach_condition(schema, 3, 4),
    ))
    .bind(tenant.as_str())
    .bind(id.as_uuid())
    .bind(reach.fleets.as_deref())
    .bind(reach.driver)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(invoice_from_row).transpose()
}

fn invoice_from_row(row: &PgRow) -> Result<(InvoiceId, IssuedInvoice), ReadModelError> {
    let id: InvoiceId = row.try_get::<uuid::Uuid, _>("id")?.into();
    let corrupt = |reason: String| ReadModelError::Corrupt {
        id: id.to_string(),
        reason,
    };
    let account: String = row.try_get("account_id")?;
    let session_ids: Vec<String> = row.try_get("session_ids")?;
    let flags: Vec<String> = row.try_get("flags")?;
    let Json(lines): Json<Vec<InvoiceLine>> = row.try_get("lines")?;
    let invoice = IssuedInvoice {
        number: row
            .try_get::<String, _>("number")?
            .parse()
            .map_err(|e| corrupt(format!("number: {e}")))?,
        tenant_id: row
            .try_get::<String, _>("tenant_id")?
            .parse()
            .map_err(|e| corrupt(format!("tenant: {e}")))?,
        account_id: match account.as_str() {
            "" => None,
            a => Some(a.parse().map_err(|e| corrupt(format!("account_id: {e}")))?),
        },
        session_ids: session_ids
            .iter()
            .map(|s| s.parse::<SessionId>())
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt(format!("session_ids: {e}")))?,
        currency: row
            .try_get::<String, _>("currency")?
            .parse::<Currency>()
            .map_err(|e| corrupt(format!("currency: {e}")))?,
        lines,
        total_excl_vat: row.try_get("total_excl_vat")?,
        total_vat: row.try_get("total_vat")?,
        total_incl_vat: row.try_get("total_incl_vat")?,
        issued_at: row.try_get("issued_at")?,
        flags: flags.iter().filter_map(|f| InvoiceFlag::parse(f)).collect(),
    };
    Ok((id, invoice))
}
