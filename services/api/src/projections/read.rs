//! Read tables of the registry in schema `api`, written only by the outbox handler
//! ([`crate::projections::outbox`]) and read by the routes.
//!
//! GET-after-POST consistency: the relay projects asynchronously, so a POST handler waits (briefly,
//! see [`wait_for`]) until its row is in the read table before it answers 201. A client that got the
//! 201 therefore finds the record in every GET and list, and in the existence checks of later POSTs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use joule_domain::TenantId;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::SCHEMA;
use crate::extract::{Listed, Page};
use crate::problem::ApiError;

/// A record of a read table, as the API shows it.
pub trait Resource: for<'r> FromRow<'r, PgRow> + Serialize + Send + Unpin + 'static {
    /// Table in [`SCHEMA`].
    const TABLE: &'static str;
    /// Columns selected for the view; `seq` first.
    const COLUMNS: &'static str;
    /// What a 404 calls it.
    const NOUN: &'static str;
    fn seq(&self) -> i64;
    fn id(&self) -> Uuid;
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct SiteView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub name: String,
    pub country: String,
    pub time_zone: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl Resource for SiteView {
    const TABLE: &'static str = "sites";
    const COLUMNS: &'static str = "seq, id, name, country, time_zone, created_at";
    const NOUN: &'static str = "site";
    fn seq(&self) -> i64 {
        self.seq
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ChargerView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub charge_point_id: String,
    pub site_id: Uuid,
    pub tariff_id: Uuid,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl Resource for ChargerView {
    const TABLE: &'static str = "chargers";
    const COLUMNS: &'static str = "seq, id, charge_point_id, site_id, tariff_id, created_at";
    const NOUN: &'static str = "charger";
    fn seq(&self) -> i64 {
        self.seq
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct AccountView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub name: String,
    pub currency: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl Resource for AccountView {
    const TABLE: &'static str = "accounts";
    const COLUMNS: &'static str = "seq, id, name, currency, created_at";
    const NOUN: &'static str = "account";
    fn seq(&self) -> i64 {
        self.seq
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct TokenView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub uid: String,
    pub account_id: Uuid,
    /// The fleet of its driver or vehicle; all four `null` until it is assigned.
    pub fleet_id: Option<Uuid>,
    pub driver_id: Option<Uuid>,
    pub vehicle_id: Option<Uuid>,
    /// The driver's (else the vehicle's) cost centre when it was assigned.
    pub cost_centre_id: Option<Uuid>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub assigned_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl Fleeted for SiteView {
    const REACH: Reach = Reach::Tenant;
    const FILTERS: &'static [Filter] = &[Filter {
        name: "country",
        kind: FilterKind::Text,
    }];
}

impl Fleeted for ChargerView {
    const REACH: Reach = Reach::Tenant;
    const FILTERS: &'static [Filter] = &[
        Filter {
            name: "site_id",
            kind: FilterKind::Id,
        },
        Filter {
            name: "tariff_id",
            kind: FilterKind::Id,
        },
        Filter {
            name: "charge_point_id",
            kind: FilterKind::Text,
        },
    ];
}

impl Fleeted for AccountView {
    const REACH: Reach = Reach::FleetAccount;
    const FILTERS: &'static [Filter] = &[Filter {
        name: "currency",
        kind: FilterKind::Text,
    }];
}

impl Fleeted for TokenView {
    const REACH: Reach = Reach::Token;
    const FILTERS: &'static [Filter] = &[
        Filter {
            name: "account_id",
            kind: FilterKind::Id,
        },
        Filter {
            name: "fleet_id",
            kind: FilterKind::Id,
        },
        Filter {
            name: "driver_id",
            kind: FilterKind::Id,
        },
        Filter {
            name: "vehicle_id",
            kind: FilterKind::Id,
        },
        Filter {
            name: "uid",
            kind: FilterKind::Text,
        },
    ];
}

impl Resource for TokenView {
    const TABLE: &'static str = "tokens";
    const COLUMNS: &'static str = "seq, id, uid, account_id, fleet_id, driver_id, vehicle_id, cost_centre_id, assigned_at, created_at";
    const NOUN: &'static str = "token";
    fn seq(&self) -> i64 {
        self.seq
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

pub async fn get<R: Resource>(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<R>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM {SCHEMA}.{} WHERE tenant_id = $1 AND id = $2",
        R::COLUMNS,
        R::TABLE
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Like [`get`], but a miss is a 404 problem.
pub async fn find<R: Resource>(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<R, ApiError> {
    get(pool, tenant, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no {} with id {id}", R::NOUN)))
}

/// How a caller limited to fleets (a `fleet_manager` key) reaches a table's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Records the tenant's fleets share (sites, chargers): all of the tenant's.
    Tenant,
    /// The record is an account: one that holds one of her fleets.
    FleetAccount,
    /// The record is a fleet: one of hers.
    Fleet,
    /// The record has a `fleet_id`: one of hers.
    InFleet,
    /// The record has an `account_id`: an account that holds one of her fleets.
    OfFleetAccount,
    /// Tokens: assigned in her fleets, or unassigned of an account that holds one of them (the
    /// cards she may hand out).
    Token,
}

/// What a list filter compares: a column with an id, a status or a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    Id,
    Status,
    Text,
}

/// A query parameter of a list and the column it filters (same name).
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    pub name: &'static str,
    pub kind: FilterKind,
}

/// A read table that a caller limited to fleets reaches by [`Reach`], listed with filters.
pub trait Fleeted: Resource {
    const REACH: Reach;
    /// The filters its list takes besides `created_after`, `created_before`, `cursor`, `limit`.
    const FILTERS: &'static [Filter];
}

/// A filter's value, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Id(Uuid),
    Text(String),
}

/// What a list is limited to.
#[derive(Debug, Default)]
pub struct Listing {
    /// The fleets a limited caller reaches; `None` for a caller who reaches the whole tenant.
    pub fleets: Option<Vec<Uuid>>,
    /// Column and value, each from [`Fleeted::FILTERS`].
    pub filters: Vec<(&'static str, FilterValue)>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// `AND <the caller's reach>` for a limited caller.
fn push_reach(
    q: &mut QueryBuilder<'_, Postgres>,
    reach: Reach,
    tenant: &TenantId,
    fleets: &[Uuid],
) {
    let accounts = |q: &mut QueryBuilder<'_, Postgres>| {
        q.push(format!(
            "account_id IN (SELECT account_id FROM {SCHEMA}.fleets WHERE tenant_id = "
        ))
        .push_bind(tenant.as_str().to_owned())
        .push(" AND id = ANY(")
        .push_bind(fleets.to_vec())
        .push("))");
    };
    match reach {
        Reach::Tenant => {}
        Reach::FleetAccount => {
            q.push(format!(
                " AND id IN (SELECT account_id FROM {SCHEMA}.fleets WHERE tenant_id = "
            ))
            .push_bind(tenant.as_str().to_owned())
            .push(" AND id = ANY(")
            .push_bind(fleets.to_vec())
            .push("))");
        }
        Reach::Fleet => {
            q.push(" AND id = ANY(")
                .push_bind(fleets.to_vec())
                .push(")");
        }
        Reach::InFleet => {
            q.push(" AND fleet_id = ANY(")
                .push_bind(fleets.to_vec())
                .push(")");
        }
        Reach::OfFleetAccount => {
            q.push(" AND ");
            accounts(q);
        }
        Reach::Token => {
            q.push(" AND (fleet_id = ANY(")
                .push_bind(fleets.to_vec())
                .push(") OR (fleet_id IS NULL AND ");
            accounts(q);
            q.push("))");
        }
    }
}

/// One record the caller reaches, if any.
pub async fn get_within<R: Fleeted>(
    pool: &PgPool,
    tenant: &TenantId,
    fleets: Option<&[Uuid]>,
    id: Uuid,
) -> Result<Option<R>, sqlx::Error> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {} FROM {SCHEMA}.{} WHERE tenant_id = ",
        R::COLUMNS,
        R::TABLE
    ));
    q.push_bind(tenant.as_str())
        .push(" AND id = ")
        .push_bind(id);
    if let Some(fleets) = fleets {
        push_reach(&mut q, R::REACH, tenant, fleets);
    }
    q.build_query_as().fetch_optional(pool).await
}

/// Like [`get_within`], but a miss is a 404 problem: the caller cannot tell a record of another
/// tenant or fleet from none.
pub async fn find_within<R: Fleeted>(
    pool: &PgPool,
    tenant: &TenantId,
    fleets: Option<&[Uuid]>,
    id: Uuid,
) -> Result<R, ApiError> {
    get_within(pool, tenant, fleets, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no {} with id {id}", R::NOUN)))
}

/// A page of the records the caller reaches, oldest first.
pub async fn list_within<R: Fleeted>(
    pool: &PgPool,
    tenant: &TenantId,
    listing: &Listing,
    page: &Page,
) -> Result<Listed<R>, ApiError> {
    let after = page.after()?;
    let mut q = QueryBuilder::new(format!(
        "SELECT {} FROM {SCHEMA}.{} WHERE tenant_id = ",
        R::COLUMNS,
        R::TABLE
    ));
    q.push_bind(tenant.as_str())
        .push(" AND seq > ")
        .push_bind(after);
    if let Some(fleets) = &listing.fleets {
        push_reach(&mut q, R::REACH, tenant, fleets);
    }
    for (column, value) in &listing.filters {
        // Columns come from `Fleeted::FILTERS`, never from the request.
        q.push(format!(" AND {column} = "));
        match value {
            FilterValue::Id(id) => q.push_bind(*id),
            FilterValue::Text(text) => q.push_bind(text.clone()),
        };
    }
    if let Some(t) = listing.created_after {
        q.push(" AND created_at > ").push_bind(t);
    }
    if let Some(t) = listing.created_before {
        q.push(" AND created_at < ").push_bind(t);
    }
    q.push(" ORDER BY seq LIMIT ")
        .push_bind(i64::from(page.limit) + 1);
    let mut rows: Vec<R> = q
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(ApiError::internal)?;
    let next_cursor = page.cut(&mut rows, R::seq);
    Ok(Listed {
        data: rows,
        next_cursor,
    })
}

/// Waits until the relay projected a change of `id` that `done` recognises (a PATCH: the values
/// it asked for); `None` when it did not within [`PROJECTION_WAIT`].
pub async fn wait_until<R: Resource>(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    done: impl Fn(&R) -> bool,
) -> Result<Option<R>, sqlx::Error> {
    poll(|| get::<R>(pool, tenant, id), done).await
}

/// Reads with `fetch` until it finds a row `done` recognises, pausing 5 ms at first and doubling
/// up to 100 ms; `None` when it found none within [`PROJECTION_WAIT`].
pub async fn poll<R, E, F>(
    mut fetch: impl FnMut() -> F,
    done: impl Fn(&R) -> bool,
) -> Result<Option<R>, E>
where
    F: Future<Output = Result<Option<R>, E>>,
{
    let deadline = tokio::time::Instant::now() + PROJECTION_WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(row) = fetch().await?
            && done(&row)
        {
            return Ok(Some(row));
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// How long a write waits for its projection before it answers anyway.
const PROJECTION_WAIT: Duration = Duration::from_secs(5);

/// Waits until the relay projected `id`. `None` when it did not within [`PROJECTION_WAIT`] (the relay
/// is behind or NATS is down): the command is committed and will be projected and published later.
pub async fn wait_for<R: Resource>(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<R>, sqlx::Error> {
    wait_until(pool, tenant, id, |_: &R| true).await
}

/// The time zone of a tenant's site, if the site exists.
pub async fn site_time_zone(
    pool: &PgPool,
    tenant: &TenantId,
    site: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT time_zone FROM {SCHEMA}.sites WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_str())
    .bind(site)
    .fetch_optional(pool)
    .await
}
