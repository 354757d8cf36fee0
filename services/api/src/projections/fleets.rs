//! The read tables of fleets, cost centres, drivers and vehicles (issue 13), kept by the relay like
//! the registry's ([`super::outbox`]) and read by [`crate::routes::fleets`]. A change updates the
//! row in place: `seq` (the list order and cursor) stays, `updated_at` moves.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::read::{Filter, FilterKind, Fleeted, Reach, Resource};
use crate::SCHEMA;
use crate::domain::cost_centre::CostCentreEvent;
use crate::domain::driver::DriverEvent;
use crate::domain::fleet::FleetEvent;
use crate::domain::vehicle::VehicleEvent;
use crate::domain::{Name, Status};

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

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct FleetView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
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

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct CostCentreView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub account_id: Uuid,
    pub code: String,
    pub name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
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

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct DriverView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub fleet_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub cost_centre_id: Option<Uuid>,
    pub status: String,
    pub created_at: DateTime<Utc>,
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

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
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
    pub created_at: DateTime<Utc>,
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

pub async fn fleet(conn: &mut PgConnection, tenant: String, event: FleetEvent) -> sqlx::Result<()> {
    match event {
        FleetEvent::FleetCreated {
            fleet_id,
            account_id,
            name,
            created_at,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.fleets
                     (id, tenant_id, account_id, name, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'active', $5, $5) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(fleet_id.as_uuid())
            .bind(tenant)
            .bind(account_id.as_uuid())
            .bind(name.to_string())
            .bind(created_at)
            .execute(conn)
            .await?;
        }
        FleetEvent::FleetChanged {
            fleet_id,
            name,
            status,
            changed_at,
        } => {
            let id = fleet_id.as_uuid();
            renamed(conn, "fleets", id, &name, status, changed_at).await?;
        }
    }
    Ok(())
}

pub async fn cost_centre(
    conn: &mut PgConnection,
    tenant: String,
    event: CostCentreEvent,
) -> sqlx::Result<()> {
    match event {
        CostCentreEvent::CostCentreCreated {
            cost_centre_id,
            account_id,
            code,
            name,
            created_at,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.cost_centres
                     (id, tenant_id, account_id, code, name, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $6) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(cost_centre_id.as_uuid())
            .bind(tenant)
            .bind(account_id.as_uuid())
            .bind(code.to_string())
            .bind(name.to_string())
            .bind(created_at)
            .execute(conn)
            .await?;
        }
        CostCentreEvent::CostCentreChanged {
            cost_centre_id,
            name,
            status,
            changed_at,
        } => {
            let id = cost_centre_id.as_uuid();
            renamed(conn, "cost_centres", id, &name, status, changed_at).await?;
        }
    }
    Ok(())
}

/// A fleet's or a cost centre's change: its name and status are all that change.
async fn renamed(
    conn: &mut PgConnection,
    table: &str,
    id: Uuid,
    name: &Name,
    status: Status,
    changed_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "UPDATE {SCHEMA}.{table} SET name = $2, status = $3, updated_at = $4 WHERE id = $1"
    ))
    .bind(id)
    .bind(name.to_string())
    .bind(status.as_str())
    .bind(changed_at)
    .execute(conn)
    .await?;
    Ok(())
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
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.drivers (id, tenant_id, fleet_id, name, email, cost_centre_id,
                     status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(driver_id.as_uuid())
            .bind(tenant)
            .bind(fleet_id.as_uuid())
            .bind(name.to_string())
            .bind(email.map(String::from))
            .bind(cost_centre_id.map(|c| c.as_uuid()))
            .bind(registered_at)
            .execute(conn)
            .await?;
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
            sqlx::query(&format!(
                "UPDATE {SCHEMA}.drivers SET name = $2, email = $3, cost_centre_id = $4,
                     status = $5, updated_at = $6
                 WHERE id = $1"
            ))
            .bind(driver_id.as_uuid())
            .bind(name.to_string())
            .bind(email.map(String::from))
            .bind(cost_centre_id.map(|c| c.as_uuid()))
            .bind(status.as_str())
            .bind(changed_at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
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
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.vehicles (id, tenant_id, fleet_id, vin, make, model,
                     battery_capacity_kwh, cost_centre_id, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(vehicle_id.as_uuid())
            .bind(tenant)
            .bind(fleet_id.as_uuid())
            .bind(vin.to_string())
            .bind(make.to_string())
            .bind(model.to_string())
            .bind(battery_capacity_kwh)
            .bind(cost_centre_id.map(|c| c.as_uuid()))
            .bind(registered_at)
            .execute(conn)
            .await?;
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
            sqlx::query(&format!(
                "UPDATE {SCHEMA}.vehicles SET make = $2, model = $3, battery_capacity_kwh = $4,
                     cost_centre_id = $5, status = $6, updated_at = $7
                 WHERE id = $1"
            ))
            .bind(vehicle_id.as_uuid())
            .bind(make.to_string())
            .bind(model.to_string())
            .bind(battery_capacity_kwh)
            .bind(cost_centre_id.map(|c| c.as_uuid()))
            .bind(status.as_str())
            .bind(changed_at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}
