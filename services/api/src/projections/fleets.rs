//! The read tables of fleets, cost centres, drivers and vehicles (issue 13), kept by the relay like
//! the registry's ([`super::outbox`]) and read by [`crate::routes::fleets`]. A change updates the
//! row in place: `seq` (the list order and cursor) stays, `updated_at` moves.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::{FromRow, PgConnection, Postgres};
use uuid::Uuid;

use super::read::{Filter, FilterKind, Fleeted, Reach, Resource};
use crate::SCHEMA;
use crate::domain::cost_centre::CostCentreEvent;
use crate::domain::driver::DriverEvent;
use crate::domain::fleet::FleetEvent;
use crate::domain::vehicle::VehicleEvent;

macro_rules! resource {
    ($view:ident, $table:literal, $noun:literal, $columns:literal) => {
        impl Resource for $view {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static str = $columns;
            const NOUN: &'static str = $noun;
            fn seq(&self) -> i64 {
                self.seq
            }
            fn id(&self) -> Uuid {
                self.id
            }
        }
    };
}

const fn id(name: &'static str) -> Filter {
    Filter {
        name,
        kind: FilterKind::Id,
    }
}

const STATUS: Filter = Filter {
    name: "status",
    kind: FilterKind::Status,
};

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct FleetView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub status: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

resource!(
    FleetView,
    "fleets",
    "fleet",
    "seq, id, account_id, name, status, created_at, updated_at"
);

impl Fleeted for FleetView {
    const REACH: Reach = Reach::Fleet;
    const FILTERS: &'static [Filter] = &[id("account_id"), STATUS];
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct CostCentreView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub account_id: Uuid,
    pub code: String,
    pub name: String,
    pub status: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

resource!(
    CostCentreView,
    "cost_centres",
    "cost centre",
    "seq, id, account_id, code, name, status, created_at, updated_at"
);

impl Fleeted for CostCentreView {
    const REACH: Reach = Reach::OfFleetAccount;
    const FILTERS: &'static [Filter] = &[
        id("account_id"),
        STATUS,
        Filter {
            name: "code",
            kind: FilterKind::Text,
        },
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct DriverView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub fleet_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub cost_centre_id: Option<Uuid>,
    pub status: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

resource!(
    DriverView,
    "drivers",
    "driver",
    "seq, id, fleet_id, name, email, cost_centre_id, status, created_at, updated_at"
);

impl Fleeted for DriverView {
    const REACH: Reach = Reach::InFleet;
    const FILTERS: &'static [Filter] = &[id("fleet_id"), id("cost_centre_id"), STATUS];
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct VehicleView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub fleet_id: Uuid,
    pub vin: String,
    pub make: String,
    pub model: String,
    pub battery_capacity_kwh: Decimal,
    pub cost_centre_id: Option<Uuid>,
    pub status: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

resource!(
    VehicleView,
    "vehicles",
    "vehicle",
    "seq, id, fleet_id, vin, make, model, battery_capacity_kwh, cost_centre_id, status, created_at,
     updated_at"
);

impl Fleeted for VehicleView {
    const REACH: Reach = Reach::InFleet;
    const FILTERS: &'static [Filter] = &[
        id("fleet_id"),
        id("cost_centre_id"),
        STATUS,
        Filter {
            name: "vin",
            kind: FilterKind::Text,
        },
    ];
}

// ON CONFLICT / WHERE: the relay applies each event once, but a row must never block the outbox.

type Row<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// A record's values, bound in the order of its columns onto the statement [`insert_new`] or
/// [`update`] writes. (A function, so that a closure kept in a variable binds for any statement.)
fn values(
    bind: impl for<'q> FnOnce(Row<'q>) -> Row<'q>,
) -> impl for<'q> FnOnce(Row<'q>) -> Row<'q> {
    bind
}

/// Writes a new record's row: `id`, `tenant_id`, `columns` (the values `bind` adds, in that order),
/// status `active`, and `created_at` as both times. A row already there is kept.
async fn insert_new(
    conn: &mut PgConnection,
    table: &str,
    (id, tenant): (Uuid, String),
    columns: &[&str],
    bind: impl for<'q> FnOnce(Row<'q>) -> Row<'q>,
    created_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let placeholders: String = (3..)
        .take(columns.len())
        .map(|i| format!("${i}, "))
        .collect();
    let at = 3 + columns.len();
    let sql = format!(
        "INSERT INTO {SCHEMA}.{table} (id, tenant_id, {}, status, created_at, updated_at)
         VALUES ($1, $2, {placeholders}'active', ${at}, ${at}) ON CONFLICT (id) DO NOTHING",
        columns.join(", ")
    );
    let row = bind(sqlx::query(&sql).bind(id).bind(tenant));
    row.bind(created_at).execute(conn).await?;
    Ok(())
}

/// Writes a change of record `id`: `columns` (the values `bind` adds, in that order) and
/// `updated_at`; `seq` and `created_at` stay.
async fn update(
    conn: &mut PgConnection,
    table: &str,
    id: Uuid,
    columns: &[&str],
    bind: impl for<'q> FnOnce(Row<'q>) -> Row<'q>,
    changed_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let sets: String = columns
        .iter()
        .zip(2..)
        .map(|(column, i)| format!("{column} = ${i}, "))
        .collect();
    let at = 2 + columns.len();
    let sql = format!("UPDATE {SCHEMA}.{table} SET {sets}updated_at = ${at} WHERE id = $1");
    let row = bind(sqlx::query(&sql).bind(id));
    row.bind(changed_at).execute(conn).await?;
    Ok(())
}

pub async fn fleet(conn: &mut PgConnection, tenant: String, event: FleetEvent) -> sqlx::Result<()> {
    match event {
        FleetEvent::FleetCreated {
            fleet_id,
            account_id,
            name,
            created_at,
        } => {
            let columns = ["account_id", "name"];
            let bind = values(|row| row.bind(account_id.as_uuid()).bind(name.to_string()));
            let key = (fleet_id.as_uuid(), tenant);
            insert_new(conn, "fleets", key, &columns, bind, created_at).await
        }
        FleetEvent::FleetChanged {
            fleet_id,
            name,
            status,
            changed_at,
        } => {
            let columns = ["name", "status"];
            let bind = values(|row| row.bind(name.to_string()).bind(status.as_str()));
            update(
                conn,
                "fleets",
                fleet_id.as_uuid(),
                &columns,
                bind,
                changed_at,
            )
            .await
        }
    }
}

pub async fn cost_centre(
    conn: &mut PgConnection,
    tenant: String,
    event: CostCentreEvent,
) -> sqlx::Result<()> {
    const TABLE: &str = "cost_centres";
    match event {
        CostCentreEvent::CostCentreCreated {
            cost_centre_id,
            account_id,
            code,
            name,
            created_at,
        } => {
            let columns = ["account_id", "code", "name"];
            let bind = values(|row| {
                row.bind(account_id.as_uuid())
                    .bind(code.to_string())
                    .bind(name.to_string())
            });
            let key = (cost_centre_id.as_uuid(), tenant);
            insert_new(conn, TABLE, key, &columns, bind, created_at).await
        }
        CostCentreEvent::CostCentreChanged {
            cost_centre_id,
            name,
            status,
            changed_at,
        } => {
            let columns = ["name", "status"];
            let bind = values(|row| row.bind(name.to_string()).bind(status.as_str()));
            let id = cost_centre_id.as_uuid();
            update(conn, TABLE, id, &columns, bind, changed_at).await
        }
    }
}

pub async fn driver(
    conn: &mut PgConnection,
    tenant: String,
    event: DriverEvent,
) -> sqlx::Result<()> {
    match event {
        DriverEvent::DriverRegistered {
            driver_id,
            fleet_id,
            name,
            email,
            cost_centre_id,
            registered_at,
        } => {
            let columns = ["fleet_id", "name", "email", "cost_centre_id"];
            let bind = values(|row| {
                row.bind(fleet_id.as_uuid())
                    .bind(name.to_string())
                    .bind(email.map(String::from))
                    .bind(cost_centre_id.map(|c| c.as_uuid()))
            });
            let key = (driver_id.as_uuid(), tenant);
            insert_new(conn, "drivers", key, &columns, bind, registered_at).await
        }
        DriverEvent::DriverChanged {
            driver_id,
            fleet_id: _,
            name,
            email,
            cost_centre_id,
            status,
            changed_at,
        } => {
            let columns = ["name", "email", "cost_centre_id", "status"];
            let bind = values(|row| {
                row.bind(name.to_string())
                    .bind(email.map(String::from))
                    .bind(cost_centre_id.map(|c| c.as_uuid()))
                    .bind(status.as_str())
            });
            let id = driver_id.as_uuid();
            update(conn, "drivers", id, &columns, bind, changed_at).await
        }
    }
}

pub async fn vehicle(
    conn: &mut PgConnection,
    tenant: String,
    event: VehicleEvent,
) -> sqlx::Result<()> {
    match event {
        VehicleEvent::VehicleRegistered {
            vehicle_id,
            fleet_id,
            vin,
            make,
            model,
            battery_capacity_kwh,
            cost_centre_id,
            registered_at,
        } => {
            let columns = [
                "fleet_id",
                "vin",
                "make",
                "model",
                "battery_capacity_kwh",
                "cost_centre_id",
            ];
            let bind = values(|row| {
                row.bind(fleet_id.as_uuid())
                    .bind(vin.to_string())
                    .bind(make.to_string())
                    .bind(model.to_string())
                    .bind(battery_capacity_kwh)
                    .bind(cost_centre_id.map(|c| c.as_uuid()))
            });
            let key = (vehicle_id.as_uuid(), tenant);
            insert_new(conn, "vehicles", key, &columns, bind, registered_at).await
        }
        VehicleEvent::VehicleChanged {
            vehicle_id,
            fleet_id: _,
            make,
            model,
            battery_capacity_kwh,
            cost_centre_id,
            status,
            changed_at,
        } => {
            let columns = [
                "make",
                "model",
                "battery_capacity_kwh",
                "cost_centre_id",
                "status",
            ];
            let bind = values(|row| {
                row.bind(make.to_string())
                    .bind(model.to_string())
                    .bind(battery_capacity_kwh)
                    .bind(cost_centre_id.map(|c| c.as_uuid()))
                    .bind(status.as_str())
            });
            let id = vehicle_id.as_uuid();
            update(conn, "vehicles", id, &columns, bind, changed_at).await
        }
    }
}
