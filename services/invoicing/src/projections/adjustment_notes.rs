//! The adjustment notes' read model (`<schema>.adjustment_notes`): written by the relay from
//! `AdjustmentNoteIssued` events.

use joule_domain::InvoiceId;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::domain::adjustment::{IssuedAdjustment, note_number};

/// Records an issued note, once.
pub async fn insert(
    conn: &mut PgConnection,
    schema: &str,
    id: InvoiceId,
    note: &IssuedAdjustment,
    sequence: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {schema}.adjustment_notes (id, tenant_id, number, year, sequence, account_id, currency,
             session_id, adjustment_id, reason, lines, total_excl_vat, total_vat, total_incl_vat, issued_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(id.as_uuid())
    .bind(note.tenant_id.as_str())
    .bind(note_number(note.number))
    .bind(note.number.year)
    .bind(sequence)
    .bind(note.account_id.map(|a| a.to_string()).unwrap_or_default())
    .bind(note.currency.code())
    .bind(note.session_id.to_string())
    .bind(&note.adjustment_id)
    .bind(&note.reason)
    .bind(Json(&note.lines))
    .bind(note.total_excl_vat)
    .bind(note.total_vat)
    .bind(note.total_incl_vat)
    .bind(note.issued_at)
    .execute(conn)
    .await?;
    Ok(())
}
