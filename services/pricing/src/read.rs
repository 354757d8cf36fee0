//! Reads of pricing's own tables: tariffs and the charger → tariff projection.

use chrono::{DateTime, Utc};
use joule_tariff::Discount;
use sqlx::{PgPool, Row};

use crate::SCHEMA;
use crate::tariff::{Identity, TariffEvent};

/// A tariff as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTariff {
    pub id: String,
    pub tenant_id: String,
    pub currency: String,
    /// The OCPI JSON, serialised once when the tariff was created.
    pub ocpi_json: String,
}

/// The tariff with Joule id `id`: from the read table, or, while the relay has not projected it yet,
/// from its creation event, so that a tariff is readable as soon as `CreateTariff` returned.
pub async fn tariff(pool: &PgPool, id: &str) -> Result<Option<StoredTariff>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT tenant_id, currency, ocpi_json FROM {SCHEMA}.tariffs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = row {
        return Ok(Some(StoredTariff {
            id: id.to_owned(),
            tenant_id: row.try_get("tenant_id")?,
            currency: row.try_get("currency")?,
            ocpi_json: row.try_get("ocpi_json")?,
        }));
    }
    let row = sqlx::query(&format!(
        "SELECT payload, metadata->>'tenant_id' AS tenant_id FROM {SCHEMA}.events
         WHERE aggregate_type = 'Tariff' AND aggregate_id = $1 ORDER BY sequence LIMIT 1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let payload: serde_json::Value = row.try_get("payload")?;
    let TariffEvent::TariffCreated {
        tariff, currency, ..
    } = serde_json::from_value(payload).map_err(|e| sqlx::Error::Decode(e.into()))?
    else {
        return Err(sqlx::Error::Decode(
            format!("the first event of tariff {id} is not TariffCreated").into(),
        ));
    };
    Ok(Some(StoredTariff {
        id: id.to_owned(),
        tenant_id: row
            .try_get::<Option<String>, _>("tenant_id")?
            .unwrap_or_default(),
        currency,
        ocpi_json: tariff.to_string(),
    }))
}

/// What pricing knows of a charger from the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargerTariff {
    /// Empty when the charger was registered without a tariff.
    pub tariff_id: String,
    pub time_zone: String,
    pub site_id: String,
}

pub async fn charger(
    pool: &PgPool,
    charger_id: &str,
) -> Result<Option<ChargerTariff>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT tariff_id, time_zone, site_id FROM {SCHEMA}.chargers WHERE charger_id = $1"
    ))
    .bind(charger_id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(ChargerTariff {
            tariff_id: r.try_get("tariff_id")?,
            time_zone: r.try_get("time_zone")?,
            site_id: r.try_get("site_id")?,
        })
    })
    .transpose()
}

/// Whether the session already has a pricing outcome (priced or failed).
pub async fn session_settled(pool: &PgPool, session_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {SCHEMA}.events WHERE aggregate_type = 'PricedSession' AND aggregate_id = $1)"
    ))
    .bind(session_id)
    .fetch_one(pool)
    .await
}

/// Which tariff prices a session, and why: a contract of the session's account (directly or through
/// a fleet), else the latest assignment of its connector, charger or site, else the registry's tariff
/// of the charger. Retired tariffs' contracts and assignments no longer apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub tariff_id: String,
    pub source: &'static str,
    pub discounts: Vec<Discount>,
}

pub async fn resolve(
    pool: &PgPool,
    charger_id: &str,
    connector_id: u32,
    charger: &ChargerTariff,
    account_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<Resolved>, sqlx::Error> {
    if !account_id.is_empty()
        && let Some(row) = sqlx::query(&format!(
            "SELECT c.party_type, c.tariff_id, c.discounts FROM {SCHEMA}.tariff_contracts c
               JOIN {SCHEMA}.tariffs t ON t.id = c.tariff_id AND t.retired_at IS NULL
              WHERE ((c.party_type = 'account' AND c.party_id = $1) OR (c.party_type = 'fleet' AND $1 = ANY (c.account_ids)))
                AND (c.valid_from IS NULL OR c.valid_from <= $2) AND (c.valid_until IS NULL OR $2 < c.valid_until)
              ORDER BY c.party_type = 'account' DESC, c.contracted_at DESC LIMIT 1"
        ))
        .bind(account_id)
        .bind(at)
        .fetch_optional(pool)
        .await?
    {
        let party: String = row.try_get("party_type")?;
        let discounts: sqlx::types::Json<Vec<Discount>> = row.try_get("discounts")?;
        return Ok(Some(Resolved {
            tariff_id: row.try_get("tariff_id")?,
            source: if party == "account" {
                "account_contract"
            } else {
                "fleet_contract"
            },
            discounts: discounts.0,
        }));
    }
    let row = sqlx::query(&format!(
        "SELECT a.scope_type, a.tariff_id FROM {SCHEMA}.tariff_assignments a
           JOIN {SCHEMA}.tariffs t ON t.id = a.tariff_id AND t.retired_at IS NULL
          WHERE (a.scope_type = 'connector' AND a.scope_id = $1 AND a.connector_id = $2)
             OR (a.scope_type = 'charger' AND a.scope_id = $1)
             OR (a.scope_type = 'site' AND a.scope_id = $3 AND $3 <> '')
          ORDER BY CASE a.scope_type WHEN 'connector' THEN 0 WHEN 'charger' THEN 1 ELSE 2 END LIMIT 1"
    ))
    .bind(charger_id)
    .bind(i32::try_from(connector_id).unwrap_or(i32::MAX))
    .bind(&charger.site_id)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = row {
        let scope: String = row.try_get("scope_type")?;
        return Ok(Some(Resolved {
            tariff_id: row.try_get("tariff_id")?,
            source: match scope.as_str() {
                "connector" => "connector",
                "charger" => "charger",
                _ => "site",
            },
            discounts: vec![],
        }));
    }
    Ok((!charger.tariff_id.is_empty()).then(|| Resolved {
        tariff_id: charger.tariff_id.clone(),
        source: "registry",
        discounts: vec![],
    }))
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
pub async fn versions(pool: &PgPool, tariff_id: &str) -> Result<Vec<StoredVersion>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT version, valid_from, ocpi_json, published_at, corrected_at, correction_reason
           FROM {SCHEMA}.tariff_versions WHERE tariff_id = $1 ORDER BY version"
    ))
    .bind(tariff_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(version_row)
    .collect()
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
) -> Result<InForce, sqlx::Error> {
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

/// When the tariff was retired, if it was. Read from its events, so that a tariff reads as retired
/// as soon as `RetireTariff` returned, before the relay projected it.
pub async fn retired_at(
    pool: &PgPool,
    tariff_id: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let payload: Option<serde_json::Value> = sqlx::query_scalar(&format!(
        "SELECT payload FROM {SCHEMA}.events
         WHERE aggregate_type = 'Tariff' AND aggregate_id = $1 AND event_type = 'TariffRetired'
         ORDER BY sequence LIMIT 1"
    ))
    .bind(tariff_id)
    .fetch_optional(pool)
    .await?;
    let Some(payload) = payload else {
        return Ok(None);
    };
    match serde_json::from_value(payload).map_err(|e| sqlx::Error::Decode(e.into()))? {
        TariffEvent::TariffRetired { retired_at } => Ok(Some(retired_at)),
        _ => Err(sqlx::Error::Decode(
            format!("a TariffRetired event of tariff {tariff_id} is not one").into(),
        )),
    }
}

/// The Joule id of the tenant's tariff with this OCPI identity in the read table, the oldest if
/// several were created before identities were unique.
pub async fn tariff_by_identity(
    pool: &PgPool,
    identity: &Identity,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT id FROM {SCHEMA}.tariffs
         WHERE tenant_id = $1 AND country_code = $2 AND party_id = $3 AND upper(ocpi_id) = $4
         ORDER BY created_at, id LIMIT 1"
    ))
    .bind(&identity.tenant_id)
    .bind(&identity.country_code)
    .bind(&identity.party_id)
    .bind(&identity.ocpi_id)
    .fetch_optional(pool)
    .await
}

/// The discounts of the contract that priced an account's sessions with `tariff_id`, if any.
pub async fn contract_discounts(
    pool: &PgPool,
    tariff_id: &str,
    account_id: &str,
) -> Result<Vec<Discount>, sqlx::Error> {
    if account_id.is_empty() {
        return Ok(vec![]);
    }
    let row = sqlx::query(&format!(
        "SELECT discounts FROM {SCHEMA}.tariff_contracts
          WHERE tariff_id = $1 AND ((party_type = 'account' AND party_id = $2) OR (party_type = 'fleet' AND $2 = ANY (account_ids)))
          ORDER BY party_type = 'account' DESC, contracted_at DESC LIMIT 1"
    ))
    .bind(tariff_id)
    .bind(account_id)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => Ok(r
            .try_get::<sqlx::types::Json<Vec<Discount>>, _>("discounts")?
            .0),
        None => Ok(vec![]),
    }
}

/// A priced session with its first price and every adjustment since, for the api.
pub async fn priced_session_view(
    pool: &PgPool,
    tenant_id: &str,
    session_id: &str,
) -> Result<Option<joule_proto::v1::PricedSessionView>, sqlx::Error> {
    use joule_proto::v1;
    let Some(row) = sqlx::query(&format!(
        "SELECT status, tenant_id, tariff_id, tariff_version, tariff_source, currency, breakdown, reason,
                current_total_excl_vat, current_total_incl_vat, total_excl_vat, total_incl_vat
           FROM {SCHEMA}.priced_sessions WHERE session_id = $1"
    ))
    .bind(session_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    if row.try_get::<String, _>("tenant_id")? != tenant_id {
        return Ok(None);
    }
    let s =
        |d: Option<rust_decimal::Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
    let breakdown: Option<sqlx::types::Json<joule_tariff::PricedSession>> =
        row.try_get("breakdown")?;
    let tariff_id: String = row
        .try_get::<Option<String>, _>("tariff_id")?
        .unwrap_or_default();
    let version = row
        .try_get::<Option<i32>, _>("tariff_version")?
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let priced = match &breakdown {
        Some(b) => Some(v1::PriceBreakdown {
            tariff_id: tariff_id.clone(),
            tariff_version: version,
            breakdown_json: serde_json::to_string(&b.0)
                .map_err(|e| sqlx::Error::Decode(e.into()))?,
            totals_json: serde_json::to_string(&joule_tariff::OcpiTotals::of(&b.0))
                .map_err(|e| sqlx::Error::Decode(e.into()))?,
        }),
        None => None,
    };
    let adjustments = sqlx::query(&format!(
        "SELECT adjustment_id, rerating_id, reason, tariff_version, delta_excl_vat, delta_incl_vat,
                total_excl_vat, total_incl_vat, adjusted_at
           FROM {SCHEMA}.price_adjustments WHERE session_id = $1 ORDER BY adjusted_at, adjustment_id"
    ))
    .bind(session_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|a| {
        Ok(v1::PriceAdjustment {
            adjustment_id: a.try_get("adjustment_id")?,
            rerating_id: a.try_get("rerating_id")?,
            reason: a.try_get("reason")?,
            tariff_version: u32::try_from(a.try_get::<i32, _>("tariff_version")?).unwrap_or(0),
            delta_excl_vat: s(a.try_get("delta_excl_vat")?),
            delta_incl_vat: s(a.try_get("delta_incl_vat")?),
            total_excl_vat: s(a.try_get("total_excl_vat")?),
            total_incl_vat: s(a.try_get("total_incl_vat")?),
            adjusted_at: Some(joule_proto::time::to_proto(a.try_get("adjusted_at")?)),
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let current_excl: Option<rust_decimal::Decimal> = row.try_get("current_total_excl_vat")?;
    let current_incl: Option<rust_decimal::Decimal> = row.try_get("current_total_incl_vat")?;
    Ok(Some(v1::PricedSessionView {
        session_id: session_id.to_owned(),
        status: row.try_get("status")?,
        tariff_id,
        tariff_version: version,
        tariff_source: row
            .try_get::<Option<String>, _>("tariff_source")?
            .unwrap_or_default(),
        currency: row
            .try_get::<Option<String>, _>("currency")?
            .unwrap_or_default(),
        priced,
        adjustments,
        total_excl_vat: s(current_excl.or(row.try_get("total_excl_vat")?)),
        total_incl_vat: s(current_incl.or(row.try_get("total_incl_vat")?)),
        reason: row
            .try_get::<Option<String>, _>("reason")?
            .unwrap_or_default(),
    }))
}
