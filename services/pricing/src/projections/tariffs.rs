//! The `tariffs` and `tariff_versions` read tables: every tariff with its identity and retirement,
//! and each version as it prices today (its correction, if any). A tariff is readable as soon as
//! its command returned: what the relay has not projected yet is read from its events. Lists read
//! the table only ([`list`], paged by `seq`): creation and retirement answer once the relay
//! projected them ([`listed`]).

use chrono::{DateTime, Utc};
use joule_store::{Page, ProjectionError, StoredEvent};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::{ReadError, assignments};
use crate::SCHEMA;
use crate::domain::tariff::{Identity, TariffEvent};

/// Projects a committed `Tariff` event (`tenant_id`: the tenant it was recorded for).
pub async fn project(
    conn: &mut PgConnection,
    event: &StoredEvent,
    tenant_id: &str,
) -> Result<(), ProjectionError> {
    let id = &event.aggregate_id;
    match event.read::<TariffEvent>()? {
        TariffEvent::TariffCreated {
            tariff,
            ocpi_id,
            currency,
            created_at,
        } => {
            let part = |key: &str| {
                tariff
                    .get(key)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_uppercase()
            };
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.tariffs
                     (id, tenant_id, ocpi_id, currency, ocpi_json, created_at, country_code, party_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(tenant_id)
            .bind(ocpi_id)
            .bind(currency.code())
            .bind(tariff.to_string())
            .bind(created_at)
            .bind(part("country_code"))
            .bind(part("party_id"))
            .execute(&mut *conn)
            .await?;
            insert_version(conn, id, 1, None, &tariff, created_at).await?;
        }
        TariffEvent::TariffVersionPublished {
            version,
            tariff,
            valid_from,
            published_at,
        } => insert_version(conn, id, version, Some(valid_from), &tariff, published_at).await?,
        TariffEvent::TariffVersionCorrected {
            version,
            tariff,
            reason,
            corrected_at,
        } => {
            sqlx::query(&format!(
                "UPDATE {SCHEMA}.tariff_versions SET ocpi_json = $3, corrected_at = $4, correction_reason = $5
                  WHERE tariff_id = $1 AND version = $2"
            ))
            .bind(id)
            .bind(i32::try_from(version).unwrap_or(i32::MAX))
            .bind(tariff.to_string())
            .bind(corrected_at)
            .bind(reason)
            .execute(&mut *conn)
            .await?;
        }
        TariffEvent::TariffAssigned { scope, assigned_at } => {
            assignments::record_assignment(conn, id, scope, assigned_at).await?
        }
        TariffEvent::TariffContracted(contract) => {
            assignments::record_contract(conn, id, contract).await?
        }
        TariffEvent::TariffRetired { retired_at } => {
            sqlx::query(&format!(
                "UPDATE {SCHEMA}.tariffs SET retired_at = $2 WHERE id = $1 AND retired_at IS NULL"
            ))
            .bind(id)
            .bind(retired_at)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

async fn insert_version(
    conn: &mut PgConnection,
    tariff_id: &str,
    version: u32,
    valid_from: Option<DateTime<Utc>>,
    tariff: &serde_json::Value,
    published_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.tariff_versions (tariff_id, version, valid_from, ocpi_json, published_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
    ))
    .bind(tariff_id)
    .bind(i32::try_from(version).unwrap_or(i32::MAX))
    .bind(valid_from)
    .bind(tariff.to_string())
    .bind(published_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A tariff as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTariff {
    pub id: String,
    pub tenant_id: String,
    pub currency: String,
    /// The OCPI JSON, serialised once when the tariff was created.
    pub ocpi_json: String,
    pub created_at: DateTime<Utc>,
}

fn stored_tariff(row: &PgRow) -> Result<StoredTariff, sqlx::Error> {
    Ok(StoredTariff {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        currency: row.try_get("currency")?,
        ocpi_json: row.try_get("ocpi_json")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The first event of type `event_type` of tariff `id` as stored, with the tenant it was recorded
/// for, read as a [`TariffEvent`].
async fn first_event(
    pool: &PgPool,
    id: &str,
    event_type: Option<&str>,
) -> Result<Option<(TariffEvent, Option<String>)>, ReadError> {
    let row = sqlx::query(&format!(
        "SELECT payload, metadata->>'tenant_id' AS tenant_id FROM {SCHEMA}.events
         WHERE aggregate_type = 'Tariff' AND aggregate_id = $1 AND ($2::text IS NULL OR event_type = $2)
         ORDER BY sequence LIMIT 1"
    ))
    .bind(id)
    .bind(event_type)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let payload: serde_json::Value = row.try_get("payload")?;
    let event = serde_json::from_value(payload)
        .map_err(|e| ReadError::decode(format!("event of tariff {id}"), e))?;
    Ok(Some((event, row.try_get("tenant_id")?)))
}

/// The tariff with Joule id `id`: from the read table, or, while the relay has not projected it yet,
/// from its creation event, so that a tariff is readable as soon as `CreateTariff` returned.
pub async fn tariff(pool: &PgPool, id: &str) -> Result<Option<StoredTariff>, ReadError> {
    let row = sqlx::query(&format!(
        "SELECT id, tenant_id, currency, ocpi_json, created_at FROM {SCHEMA}.tariffs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = row {
        return Ok(Some(stored_tariff(&row)?));
    }
    match first_event(pool, id, None).await? {
        None => Ok(None),
        Some((
            TariffEvent::TariffCreated {
                tariff,
                currency,
                created_at,
                ..
            },
            tenant_id,
        )) => Ok(Some(StoredTariff {
            id: id.to_owned(),
            tenant_id: tenant_id.unwrap_or_default(),
            currency: currency.code().to_owned(),
            ocpi_json: tariff.to_string(),
            created_at,
        })),
        Some(_) => Err(ReadError::decode(
            format!("tariff {id}"),
            "its first event is not TariffCreated",
        )),
    }
}

/// When the tariff was retired, if it was. Read from its events, so that a tariff reads as retired
/// as soon as `RetireTariff` returned, before the relay projected it.
pub async fn retired_at(
    pool: &PgPool,
    tariff_id: &str,
) -> Result<Option<DateTime<Utc>>, ReadError> {
    match first_event(pool, tariff_id, Some("TariffRetired")).await? {
        None => Ok(None),
        Some((TariffEvent::TariffRetired { retired_at }, _)) => Ok(Some(retired_at)),
        Some(_) => Err(ReadError::decode(
            format!("tariff {tariff_id}"),
            "a TariffRetired event is not one",
        )),
    }
}

/// A tariff of a list, with its retirement.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedTariff {
    pub tariff: StoredTariff,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Which of a tenant's tariffs a list holds: created strictly after / before these times, if set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Created {
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
}

/// A page of the tenant's tariffs from the read table, oldest first, and the next page's cursor.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    created: Created,
    page: Page,
) -> Result<(Vec<ListedTariff>, Option<i64>), ReadError> {
    let rows = sqlx::query(&format!(
        "SELECT seq, id, tenant_id, currency, ocpi_json, created_at, retired_at FROM {SCHEMA}.tariffs
          WHERE tenant_id = $1 AND seq > $2
            AND ($3::timestamptz IS NULL OR created_at > $3)
            AND ($4::timestamptz IS NULL OR created_at < $4)
          ORDER BY seq LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(page.after)
    .bind(created.after)
    .bind(created.before)
    .bind(page.fetch())
    .fetch_all(pool)
    .await?;
    let (rows, next) = page.cut(rows, |r| r.get("seq"));
    let tariffs = rows
        .iter()
        .map(|r| {
            Ok(ListedTariff {
                tariff: stored_tariff(r)?,
                retired_at: r.try_get("retired_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((tariffs, next))
}

/// Whether the relay has projected tariff `id` into the read table (with `retired`: its
/// retirement too), so that lists show it.
pub async fn listed(pool: &PgPool, id: &str, retired: bool) -> Result<bool, ReadError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {SCHEMA}.tariffs
                         WHERE id = $1 AND (NOT $2 OR retired_at IS NOT NULL))"
    ))
    .bind(id)
    .bind(retired)
    .fetch_one(pool)
    .await?)
}

/// The Joule id of the tenant's tariff with this OCPI identity in the read table, the oldest if
/// several were created before identities were unique.
pub async fn tariff_by_identity(
    pool: &PgPool,
    identity: &Identity,
) -> Result<Option<String>, ReadError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT id FROM {SCHEMA}.tariffs
         WHERE tenant_id = $1 AND country_code = $2 AND party_id = $3 AND upper(ocpi_id) = $4
         ORDER BY created_at, id LIMIT 1"
    ))
    .bind(&identity.tenant_id)
    .bind(&identity.country_code)
    .bind(&identity.party_id)
    .bind(&identity.ocpi_id)
    .fetch_optional(pool)
    .await?)
}

/// A version of a tariff as it prices today (its correction, if any).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion {
    pub version: u32,
    pub valid_from: Option<DateTime<Utc>>,
    pub ocpi_json: String,
    pub published_at: DateTime<Utc>,
    pub corrected_at: Option<DateTime<Utc>>,
    pub correction_reason: Option<String>,
}

fn version_row(r: &sqlx::postgres::PgRow) -> Result<StoredVersion, sqlx::Error> {
    Ok(StoredVersion {
        version: u32::try_from(r.try_get::<i32, _>("version")?).unwrap_or(0),
        valid_from: r.try_get("valid_from")?,
        ocpi_json: r.try_get("ocpi_json")?,
        published_at: r.try_get("published_at")?,
        corrected_at: r.try_get("corrected_at")?,
        correction_reason: r.try_get("correction_reason")?,
    })
}

/// Every version of `tariff_id`, oldest first.
pub async fn versions(pool: &PgPool, tariff_id: &str) -> Result<Vec<StoredVersion>, ReadError> {
    Ok(sqlx::query(&format!(
        "SELECT version, valid_from, ocpi_json, published_at, corrected_at, correction_reason
           FROM {SCHEMA}.tariff_versions WHERE tariff_id = $1 ORDER BY version"
    ))
    .bind(tariff_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(version_row)
    .collect::<Result<_, _>>()?)
}

/// The version of `versions` in force at `at`: the latest whose `valid_from` is not after it.
pub fn in_force(versions: &[StoredVersion], at: DateTime<Utc>) -> Option<&StoredVersion> {
    versions
        .iter()
        .rev()
        .find(|v| v.valid_from.is_none_or(|f| f <= at))
}

/// Which version of a tariff prices something that happened at a given time.
#[derive(Debug, Clone, PartialEq)]
pub enum InForce {
    /// The version number and its OCPI JSON.
    Version(u32, String),
    /// The tariff exists, but none of its versions is valid yet at that time.
    NoneYet,
    /// No such tariff.
    NoTariff,
}

/// The version of `tariff_id` in force at `at`. The versions table may lag a tariff created a
/// moment ago (the relay projects it): its creation is version 1, read from the tariffs table.
pub async fn version_in_force(
    pool: &PgPool,
    tariff_id: &str,
    at: DateTime<Utc>,
) -> Result<InForce, ReadError> {
    let versions = versions(pool, tariff_id).await?;
    Ok(match in_force(&versions, at) {
        Some(v) => InForce::Version(v.version, v.ocpi_json.clone()),
        None if versions.is_empty() => match tariff(pool, tariff_id).await? {
            Some(t) => InForce::Version(1, t.ocpi_json),
            None => InForce::NoTariff,
        },
        None => InForce::NoneYet,
    })
}
