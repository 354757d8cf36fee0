//! The reservations read table (`api.reservations`), kept by the relay like the registry's tables,
//! and the queries the routes, the expiry sweep and the session consumer answer from. Reservation
//! events stay inside the api: they are published on no stream (no other service reads them yet; a
//! message is a contract, and it comes with its first consumer).

use chrono::{DateTime, Utc};
use joule_domain::TenantId;
use joule_store::{Decider, ProjectionError, StoredEvent};
use serde::Serialize;
use sqlx::{Encode, FromRow, PgConnection, PgPool, Postgres, Type};
use uuid::Uuid;

use crate::SCHEMA;
use crate::domain::reservation::{Reservation, ReservationEvent};
use crate::extract::{Listed, Page};
use crate::problem::ApiError;

/// Whether events of `aggregate_type` are projected here.
pub fn owns(aggregate_type: &str) -> bool {
    aggregate_type == Reservation::TYPE
}

/// Each update names the status it leaves, so an event applied twice changes nothing.
pub async fn project(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    let decoded: ReservationEvent = event.read()?;
    let tenant = event.metadata.get("tenant_id").cloned().unwrap_or_default();
    use ReservationEvent as E;
    let table = format!("{SCHEMA}.reservations");
    match decoded {
        E::ReservationRequested {
            reservation: r,
            requested_at,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {table}
                     (id, tenant_id, ocpp_reservation_id, charger_id, charge_point_id, connector_id,
                      token_id, token_uid, tariff_id, time_zone, status, expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'requested', $11, $12)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(r.reservation_id.as_uuid())
            .bind(tenant)
            .bind(r.ocpp_reservation_id)
            .bind(r.charger_id.as_uuid())
            .bind(r.charge_point_id.to_string())
            .bind(i64::from(r.connector_id))
            .bind(r.token_id.as_uuid())
            .bind(r.token_uid.to_string())
            .bind(r.tariff_id.as_uuid())
            .bind(r.time_zone)
            .bind(r.expires_at)
            .bind(requested_at)
            .execute(conn)
            .await?;
        }
        E::ReservationAccepted {
            reservation_id,
            accepted_at,
        } => {
            let step = Step::from_requested("accepted", "accepted_at");
            step.run(conn, reservation_id.as_uuid(), accepted_at)
                .await?;
        }
        E::ReservationRefused {
            reservation_id,
            charger_status,
            refused_at,
        } => {
            let step = Step::from_requested("refused", "ended_at");
            let id = reservation_id.as_uuid();
            step.run_with(conn, id, refused_at, "charger_status", charger_status)
                .await?;
        }
        E::ReservationFailed {
            reservation_id,
            reason,
            failed_at,
        } => {
            let step = Step::from_requested("failed", "ended_at");
            let id = reservation_id.as_uuid();
            step.run_with(conn, id, failed_at, "failure", reason)
                .await?;
        }
        E::ReservationCancelled {
            reservation_id,
            cancelled_at,
        } => {
            let step = Step::ending("cancelled");
            step.run(conn, reservation_id.as_uuid(), cancelled_at)
                .await?;
        }
        E::ReservationExpired {
            reservation_id,
            expired_at,
        } => {
            let step = Step::ending("expired");
            step.run(conn, reservation_id.as_uuid(), expired_at).await?;
        }
        E::ReservationUsed {
            reservation_id,
            session_id,
            used_at,
        } => {
            let step = Step::ending("used");
            let id = reservation_id.as_uuid();
            step.run_with(conn, id, used_at, "session_id", session_id.as_uuid())
                .await?;
        }
        E::ReservationFeeRecorded {
            reservation_id,
            fee,
            priced_at,
        } => {
            sqlx::query(&format!(
                "UPDATE {table} SET fee_excl_vat = $2, fee_incl_vat = $3, fee_currency = $4,
                     fee_tariff_version = $5, priced_at = $6
                 WHERE id = $1 AND priced_at IS NULL"
            ))
            .bind(reservation_id.as_uuid())
            .bind(fee.excl_vat.amount.to_string())
            .bind(fee.incl_vat.amount.to_string())
            .bind(fee.excl_vat.currency.to_string())
            .bind(i64::from(fee.tariff_version))
            .bind(priced_at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// A move of a reservation from one status to the next: the time it happened goes into `stamp`.
struct Step {
    from: &'static str,
    to: &'static str,
    stamp: &'static str,
}

impl Step {
    /// The charger's answer (or none) to a requested reservation.
    fn from_requested(to: &'static str, stamp: &'static str) -> Step {
        Step {
            from: "requested",
            to,
            stamp,
        }
    }

    /// The end of an accepted reservation.
    fn ending(to: &'static str) -> Step {
        Step {
            from: "accepted",
            to,
            stamp: "ended_at",
        }
    }

    /// Moves reservation `id`, stamping `at`; a reservation no longer in `from` is left as it is.
    async fn run(&self, conn: &mut PgConnection, id: Uuid, at: DateTime<Utc>) -> sqlx::Result<()> {
        self.write(conn, id, at, None::<(&str, &str)>).await
    }

    /// [`Step::run`], setting `column` to `value` too.
    async fn run_with<T>(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        at: DateTime<Utc>,
        column: &str,
        value: T,
    ) -> sqlx::Result<()>
    where
        T: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send,
    {
        self.write(conn, id, at, Some((column, value))).await
    }

    async fn write<T>(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        at: DateTime<Utc>,
        detail: Option<(&str, T)>,
    ) -> sqlx::Result<()>
    where
        T: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send,
    {
        let Step { from, to, stamp } = self;
        let set_detail = detail
            .as_ref()
            .map_or(String::new(), |(c, _)| format!(", {c} = $4"));
        let sql = format!(
            "UPDATE {SCHEMA}.reservations SET status = $2, {stamp} = $3{set_detail}
             WHERE id = $1 AND status = '{from}'"
        );
        let mut query = sqlx::query(&sql).bind(id).bind(*to).bind(at);
        if let Some((_, value)) = detail {
            query = query.bind(value);
        }
        query.execute(conn).await?;
        Ok(())
    }
}

/// A reservation as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ReservationView {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub status: String,
    pub charger_id: Uuid,
    pub charge_point_id: String,
    /// 0: any connector.
    pub connector_id: i64,
    pub token_id: Uuid,
    pub token_uid: String,
    /// OCPP `reservationId` as the charger knows it.
    pub ocpp_reservation_id: i32,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub accepted_at: Option<DateTime<Utc>>,
    /// When it was refused, failed, cancelled, expired or used.
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    /// The charger's answer when it refused.
    pub charger_status: Option<String>,
    /// Why ReserveNow got no answer.
    pub failure: Option<String>,
    pub session_id: Option<Uuid>,
    pub tariff_id: Uuid,
    /// Once the ended reservation is priced.
    pub fee: Option<FeeView>,
}

/// A reservation's fee: OCPI `total_reservation_cost`, amounts as decimal strings.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FeeView {
    pub excl_vat: String,
    pub incl_vat: String,
    pub currency: String,
    pub tariff_version: i64,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub priced_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct Row {
    seq: i64,
    id: Uuid,
    status: String,
    charger_id: Uuid,
    charge_point_id: String,
    connector_id: i64,
    token_id: Uuid,
    token_uid: String,
    ocpp_reservation_id: i32,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    charger_status: Option<String>,
    failure: Option<String>,
    session_id: Option<Uuid>,
    tariff_id: Uuid,
    fee_excl_vat: Option<String>,
    fee_incl_vat: Option<String>,
    fee_currency: Option<String>,
    fee_tariff_version: Option<i64>,
    priced_at: Option<DateTime<Utc>>,
}

impl From<Row> for ReservationView {
    fn from(r: Row) -> Self {
        let fee = match (
            r.fee_excl_vat,
            r.fee_incl_vat,
            r.fee_currency,
            r.fee_tariff_version,
            r.priced_at,
        ) {
            (Some(excl_vat), Some(incl_vat), Some(currency), Some(tariff_version), Some(at)) => {
                Some(FeeView {
                    excl_vat,
                    incl_vat,
                    currency,
                    tariff_version,
                    priced_at: at,
                })
            }
            _ => None,
        };
        ReservationView {
            seq: r.seq,
            id: r.id,
            status: r.status,
            charger_id: r.charger_id,
            charge_point_id: r.charge_point_id,
            connector_id: r.connector_id,
            token_id: r.token_id,
            token_uid: r.token_uid,
            ocpp_reservation_id: r.ocpp_reservation_id,
            expires_at: r.expires_at,
            created_at: r.created_at,
            accepted_at: r.accepted_at,
            ended_at: r.ended_at,
            charger_status: r.charger_status,
            failure: r.failure,
            session_id: r.session_id,
            tariff_id: r.tariff_id,
            fee,
        }
    }
}

const COLUMNS: &str = "seq, id, status, charger_id, charge_point_id, connector_id, token_id, \
     token_uid, ocpp_reservation_id, expires_at, created_at, accepted_at, ended_at, \
     charger_status, failure, session_id, tariff_id, fee_excl_vat, fee_incl_vat, fee_currency, \
     fee_tariff_version, priced_at";

pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<ReservationView>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {SCHEMA}.reservations WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(ReservationView::from))
}

pub async fn find(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<ReservationView, ApiError> {
    get(pool, tenant, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no reservation with id {id}")))
}

/// The filters of `GET /v1/reservations`, checked.
#[derive(Debug, Default)]
pub struct Filter {
    pub charger_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub status: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// A fleet manager's fleets: only reservations of tokens she reaches (assigned in those fleets,
    /// or unassigned of an account that holds one); `None`: no limit.
    pub fleets: Option<Vec<Uuid>>,
}

pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    filter: &Filter,
    page: &Page,
) -> Result<Listed<ReservationView>, ApiError> {
    let after = page.after()?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {SCHEMA}.reservations
         WHERE tenant_id = $1 AND seq > $2
           AND ($4::uuid IS NULL OR charger_id = $4)
           AND ($5::uuid IS NULL OR token_id = $5)
           AND ($6::text IS NULL OR status = $6)
           AND ($7::timestamptz IS NULL OR created_at > $7)
           AND ($8::timestamptz IS NULL OR created_at < $8)
           AND ($9::uuid[] IS NULL OR token_id IN (
                SELECT t.id FROM {SCHEMA}.tokens t WHERE t.tenant_id = $1
                  AND (t.fleet_id = ANY($9) OR (t.fleet_id IS NULL AND t.account_id IN (
                       SELECT f.account_id FROM {SCHEMA}.fleets f
                       WHERE f.tenant_id = $1 AND f.id = ANY($9))))))
         ORDER BY seq LIMIT $3"
    ))
    .bind(tenant.as_str())
    .bind(after)
    .bind(i64::from(page.limit) + 1)
    .bind(filter.charger_id)
    .bind(filter.token_id)
    .bind(filter.status.as_deref())
    .bind(filter.created_after)
    .bind(filter.created_before)
    .bind(filter.fleets.as_deref())
    .fetch_all(pool)
    .await?;
    let mut rows: Vec<ReservationView> = rows.into_iter().map(ReservationView::from).collect();
    let next_cursor = page.cut(&mut rows, |r| r.seq);
    Ok(Listed {
        data: rows,
        next_cursor,
    })
}

/// The reservation once the relay projected `done` of it; `None` if it did not within
/// [`super::read::poll`]'s wait (the command stands; the table catches up).
pub async fn wait_until(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    done: impl Fn(&ReservationView) -> bool,
) -> Result<Option<ReservationView>, sqlx::Error> {
    super::read::poll(|| get(pool, tenant, id), done).await
}

/// A reservation named by tenant and id, for the sweep and the consumer.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: Uuid,
    pub tenant_id: String,
}

/// Accepted reservations whose time is up at `now`, oldest first.
pub async fn due_to_expire(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id, tenant_id FROM {SCHEMA}.reservations
         WHERE status = 'accepted' AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Reservations still awaiting the charger's answer that were requested before `before`: the
/// request that asked the charger did not record its answer (it failed, or its replica stopped).
pub async fn unanswered(
    pool: &PgPool,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id, tenant_id FROM {SCHEMA}.reservations
         WHERE status = 'requested' AND created_at < $1 ORDER BY created_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Ended reservations without a fee yet, oldest end first.
pub async fn unpriced(pool: &PgPool, limit: i64) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id, tenant_id FROM {SCHEMA}.reservations
         WHERE status IN ('cancelled', 'expired', 'used') AND priced_at IS NULL
         ORDER BY ended_at LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The accepted reservation a session of `token_uid` starting on `charge_point_id` at `started_at`
/// uses: the earliest accepted one still holding then.
pub async fn held_for(
    pool: &PgPool,
    tenant: &str,
    charge_point_id: &str,
    token_uid: &str,
    started_at: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT id FROM {SCHEMA}.reservations
         WHERE tenant_id = $1 AND charge_point_id = $2 AND token_uid = $3
           AND status = 'accepted' AND expires_at > $4
         ORDER BY accepted_at LIMIT 1"
    ))
    .bind(tenant)
    .bind(charge_point_id)
    .bind(token_uid)
    .bind(started_at)
    .fetch_optional(pool)
    .await
}

/// A charger's tariff and time zone, if the tenant has the charger.
pub async fn charger_pricing(
    pool: &PgPool,
    tenant: &TenantId,
    charger: Uuid,
) -> Result<Option<(String, Uuid, String)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT charge_point_id, tariff_id, time_zone FROM {SCHEMA}.chargers
         WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_str())
    .bind(charger)
    .fetch_optional(pool)
    .await
}

/// The next OCPP `reservationId`.
pub async fn next_ocpp_id(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT nextval('{SCHEMA}.ocpp_reservation_ids')::integer"
    ))
    .fetch_one(pool)
    .await
}
