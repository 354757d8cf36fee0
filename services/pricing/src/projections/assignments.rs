//! The `tariff_assignments` and `tariff_contracts` read tables: where each tariff applies (a site,
//! charger or connector; the latest assignment of a scope wins) and whose contract prices with it,
//! and the queries that choose a session's tariff from them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use joule_tariff::Discount;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};

use super::ReadError;
use super::chargers::ChargerTariff;
use crate::SCHEMA;
use crate::domain::tariff::{Contract, Party, Scope};

/// Records `TariffAssigned` of tariff `tariff_id`, unless a later assignment of the scope is there.
pub async fn record_assignment(
    conn: &mut PgConnection,
    tariff_id: &str,
    scope: Scope,
    assigned_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let (scope_type, scope_id, connector) = match scope {
        Scope::Site { site_id } => ("site", site_id, 0),
        Scope::Charger { charger_id } => ("charger", charger_id, 0),
        Scope::Connector {
            charger_id,
            connector_id,
        } => ("connector", charger_id, connector_id),
    };
    sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.tariff_assignments (scope_type, scope_id, connector_id, tariff_id, assigned_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (scope_type, scope_id, connector_id) DO UPDATE
         SET tariff_id = EXCLUDED.tariff_id, assigned_at = EXCLUDED.assigned_at
         WHERE {SCHEMA}.tariff_assignments.assigned_at <= EXCLUDED.assigned_at"
    ))
    .bind(scope_type)
    .bind(scope_id)
    .bind(i32::try_from(connector).unwrap_or(i32::MAX))
    .bind(tariff_id)
    .bind(assigned_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records `TariffContracted` of tariff `tariff_id`, unless a later contract of the party is there.
pub async fn record_contract(
    conn: &mut PgConnection,
    tariff_id: &str,
    contract: Contract,
) -> Result<(), sqlx::Error> {
    let (party_type, party_id, accounts) = match contract.party {
        Party::Account { account_id } => ("account", account_id.clone(), vec![account_id]),
        Party::Fleet {
            fleet_id,
            account_ids,
        } => ("fleet", fleet_id, account_ids),
    };
    sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.tariff_contracts (party_type, party_id, tariff_id, account_ids, discounts,
             valid_from, valid_until, contracted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (party_type, party_id) DO UPDATE
         SET tariff_id = EXCLUDED.tariff_id, account_ids = EXCLUDED.account_ids,
             discounts = EXCLUDED.discounts, valid_from = EXCLUDED.valid_from,
             valid_until = EXCLUDED.valid_until, contracted_at = EXCLUDED.contracted_at
         WHERE {SCHEMA}.tariff_contracts.contracted_at <= EXCLUDED.contracted_at"
    ))
    .bind(party_type)
    .bind(party_id)
    .bind(tariff_id)
    .bind(accounts)
    .bind(Json(&contract.discounts))
    .bind(contract.valid_from)
    .bind(contract.valid_until)
    .bind(contract.contracted_at)
    .execute(conn)
    .await?;
    Ok(())
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
) -> Result<Option<Resolved>, ReadError> {
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
        let discounts: Json<Vec<Discount>> = row.try_get("discounts")?;
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

/// The discounts of the contract that priced an account's sessions with `tariff_id`, if any.
pub async fn contract_discounts(
    pool: &PgPool,
    tariff_id: &str,
    account_id: &str,
) -> Result<Vec<Discount>, ReadError> {
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
        Some(r) => Ok(r.try_get::<Json<Vec<Discount>>, _>("discounts")?.0),
        None => Ok(vec![]),
    }
}

/// Account → discounts of every contract of `tariff_id` (an account's own contract before its
/// fleet's), for a bulk re-rating.
pub async fn contracts_of(
    pool: &PgPool,
    tariff_id: &str,
) -> Result<HashMap<String, Vec<Discount>>, ReadError> {
    let rows = sqlx::query(&format!(
        "SELECT account_ids, discounts FROM {SCHEMA}.tariff_contracts WHERE tariff_id = $1
          ORDER BY party_type = 'account', contracted_at"
    ))
    .bind(tariff_id)
    .fetch_all(pool)
    .await?;
    let mut map = HashMap::new();
    for r in rows {
        let accounts: Vec<String> = r.try_get("account_ids")?;
        let discounts: Json<Vec<Discount>> = r.try_get("discounts")?;
        for a in accounts {
            map.insert(a, discounts.0.clone());
        }
    }
    Ok(map)
}
