//! The sessions' signed meter values (`sessions.signed_meter_values`), byte-exact as the chargers
//! sent them, once each: written by the relay, read by the evidence API.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::session::SignedValue;

pub async fn recorded(
    conn: &mut PgConnection,
    session_id: &str,
    values: &[SignedValue],
) -> Result<(), sqlx::Error> {
    for v in values {
        sqlx::query(
            "INSERT INTO sessions.signed_meter_values
               (session_id, context, measurand, charger_time, format, signed_meter_data,
                signing_method, encoding_method, public_key)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
             ON CONFLICT (session_id, context, data_hash) DO NOTHING",
        )
        .bind(session_id)
        .bind(&v.context)
        .bind(&v.measurand)
        .bind(v.charger_time)
        .bind(&v.format)
        .bind(&v.signed_meter_data)
        .bind(&v.signing_method)
        .bind(&v.encoding_method)
        .bind(&v.public_key)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A stored signed value as the API reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct SignedValueRow {
    pub context: String,
    pub measurand: String,
    pub charger_time: Option<DateTime<Utc>>,
    pub format: String,
    pub signed_meter_data: String,
    pub signing_method: String,
    pub encoding_method: String,
    pub public_key: String,
}

/// A session's signed values, by the charger's time.
pub async fn of_session(
    pool: &PgPool,
    session_id: &str,
) -> Result<Vec<SignedValueRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT context, measurand, charger_time, format, signed_meter_data, signing_method,
                encoding_method, public_key
         FROM sessions.signed_meter_values WHERE session_id = $1 ORDER BY charger_time, id",
    )
    .bind(session_id)
    .fetch_all(pool)
    .await
}
