//! Reservations at work, beside their aggregate ([`crate::domain::reservation`]): recording commands,
//! pricing an ended reservation's fee with pricing's `PriceCdr` ([`fee`]), and the sweep that expires
//! reservations whose time is up and prices those still without a fee ([`sweep`]). The routes
//! (`crate::routes::reservations`) send ReserveNow and CancelReservation; the session consumer
//! ([`crate::consumers::session_started`]) marks a reservation used.

pub mod fee;
pub mod sweep;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateContext, AggregateError, EventStore};
use joule_domain::TariffId;
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_proto::v1::{ListTariffVersionsRequest, PriceCdrRequest};
use joule_store::{CommandMeta, Decided};
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sqlx::PgPool;

use crate::SCHEMA;
use crate::domain::reservation::{
    Reservation, ReservationCommand, ReservationError, ReservationId, Status,
};
use crate::upstreams::Traced;

/// How long pricing a fee may take before it is left to the sweep.
const PRICING_TIMEOUT: Duration = Duration::from_secs(5);

pub type ReservationCqrs = PostgresCqrs<Decided<Reservation>>;

/// The reservations' command side, and the pricing client their fees need.
pub struct Reservations {
    pub cqrs: ReservationCqrs,
    store: PersistedEventStore<PostgresEventRepository, Decided<Reservation>>,
    pub pool: PgPool,
    pricing: TariffServiceClient<Traced>,
}

/// Why a fee could not be recorded (yet).
#[derive(Debug, thiserror::Error)]
pub enum FeeError {
    /// Pricing is down, slow or failed: the sweep tries again.
    #[error("pricing: {0}")]
    Pricing(tonic::Status),
    #[error("pricing took longer than {0:?}")]
    PricingTimeout(Duration),
    #[error("pricing answered something unreadable: {0}")]
    Contract(String),
    #[error("reservation {0} has not ended")]
    NotEnded(ReservationId),
    #[error(transparent)]
    Store(#[from] AggregateError<ReservationError>),
}

/// A call to pricing, within [`PRICING_TIMEOUT`].
async fn within<T>(
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, FeeError> {
    tokio::time::timeout(PRICING_TIMEOUT, call)
        .await
        .map_err(|_| FeeError::PricingTimeout(PRICING_TIMEOUT))?
        .map(tonic::Response::into_inner)
        .map_err(FeeError::Pricing)
}

impl FeeError {
    /// Pricing cannot be reached or did not answer (rather than refusing this reservation).
    pub fn pricing_is_down(&self) -> bool {
        match self {
            FeeError::PricingTimeout(_) => true,
            FeeError::Pricing(status) => matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown
            ),
            _ => false,
        }
    }
}

impl Reservations {
    pub fn new(pool: PgPool, pricing: TariffServiceClient<Traced>) -> Self {
        let repo = PostgresEventRepository::new(pool.clone())
            .with_tables(&format!("{SCHEMA}.events"), &format!("{SCHEMA}.snapshots"));
        Self {
            cqrs: joule_store::cqrs(pool.clone(), SCHEMA, ()),
            store: PersistedEventStore::new_event_store(repo),
            pool,
            pricing,
        }
    }

    pub async fn execute(
        &self,
        id: ReservationId,
        command: ReservationCommand,
        meta: CommandMeta,
    ) -> Result<(), AggregateError<ReservationError>> {
        joule_store::execute(&self.cqrs, &id.to_string(), command, meta).await
    }

    pub async fn load(
        &self,
        id: ReservationId,
    ) -> Result<Reservation, AggregateError<ReservationError>> {
        let mut context = self.store.load_aggregate(&id.to_string()).await?;
        Ok(context.aggregate().clone().into_inner())
    }

    /// Prices the ended reservation `id` and records its fee; nothing if it has one already.
    /// Called right after an end, and by the sweep for ends whose pricing failed.
    pub async fn record_fee(&self, id: ReservationId, meta: CommandMeta) -> Result<(), FeeError> {
        let reservation = self.load(id).await?;
        if reservation.fee_recorded() {
            return Ok(());
        }
        let (Some((from, to)), Some((tariff_id, time_zone))) =
            (reservation.held(), reservation.tariff())
        else {
            return Err(FeeError::NotEnded(id));
        };
        let (tariff_json, version) = if reservation.status() == Status::Expired {
            (String::new(), None)
        } else {
            self.tariff_without_expiry_elements(&meta.tenant_id, tariff_id, from)
                .await?
                .map_or((String::new(), None), |(json, v)| (json, Some(v)))
        };
        let request = PriceCdrRequest {
            tenant_id: meta.tenant_id.clone(),
            tariff_id: if tariff_json.is_empty() {
                tariff_id.to_string()
            } else {
                String::new()
            },
            tariff_json,
            cdr_json: fee::cdr(id, from, to).to_string(),
            time_zone: time_zone.to_owned(),
        };
        let mut pricing = self.pricing.clone();
        let answer = within(pricing.price_cdr(request)).await?;
        let fee = fee::of(tariff_id, version, &answer).map_err(FeeError::Contract)?;
        let command = ReservationCommand::RecordFee {
            fee,
            at: Utc::now().trunc_subsecs(6),
        };
        self.execute(id, command, meta).await?;
        Ok(())
    }

    /// For a reservation that did not expire: the version of `tariff_id` in force at `at` without
    /// its RESERVATION_EXPIRES elements, and its number; `None` when it has none (see [`fee`]).
    async fn tariff_without_expiry_elements(
        &self,
        tenant: &str,
        tariff_id: TariffId,
        at: DateTime<Utc>,
    ) -> Result<Option<(String, u32)>, FeeError> {
        let request = ListTariffVersionsRequest {
            tenant_id: tenant.to_owned(),
            tariff_id: tariff_id.to_string(),
        };
        let mut pricing = self.pricing.clone();
        let versions = within(pricing.list_tariff_versions(request))
            .await?
            .versions;
        Ok(fee::in_force(&versions, at)
            .and_then(|v| fee::without_expiry_elements(&v.ocpi_json).map(|json| (json, v.version))))
    }

    /// [`Self::record_fee`] where an end was just recorded: a failure is logged and left to the
    /// sweep, never the end's failure.
    /// Whether the fee is recorded.
    pub async fn try_record_fee(&self, id: ReservationId, meta: CommandMeta) -> bool {
        match self.record_fee(id, meta).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(reservation = %id, %error, "reservation fee not priced yet; the sweep retries");
                false
            }
        }
    }
}
