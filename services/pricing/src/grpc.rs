//! `joule.v1.TariffService`: creating and reading tariffs, and the one mapping of pricing errors to
//! gRPC status codes.

use std::sync::Arc;

use chrono::Utc;
use cqrs_es::AggregateError;
use joule_domain::{TariffId, TenantId};
use joule_proto::v1;
use joule_proto::v1::tariff_service_server::TariffService;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use chrono::DateTime;
use joule_domain::SessionId;
use joule_domain::limits::{self, LimitError};
use joule_proto::time::{from_proto, to_proto};
use joule_tariff::Discount;
use rust_decimal::Decimal;

use crate::priced_session::PricedSession;
use crate::read;
use crate::rerate::{self, RerateError};
use crate::running;
use crate::tariff::{Identity, Party, Scope, Tariff, TariffCommand, TariffError};

/// gRPC metadata of an ALREADY_EXISTS answer to `CreateTariff`: the Joule id of the tariff that has
/// the OCPI identity already.
pub const EXISTING_TARIFF: &str = "joule-existing-tariff-id";

/// How an ALREADY_EXISTS answer to `CreateTariff` for a tariff in use ends.
pub const PUBLISH_INSTEAD: &str = "publish a new version of it instead";

pub struct TariffGrpc {
    pub pool: PgPool,
    pub cqrs: Arc<PostgresCqrs<Tariff>>,
    pub sessions: Arc<PostgresCqrs<PricedSession>>,
    /// The tenant of requests that name none.
    pub default_tenant: String,
}

impl TariffGrpc {
    fn tenant(&self, requested: &str) -> Result<String, Status> {
        match requested {
            "" => Ok(self.default_tenant.clone()),
            t => t
                .parse::<TenantId>()
                .map(|t| t.to_string())
                .map_err(|e| Status::invalid_argument(format!("tenant_id: {e}"))),
        }
    }
}

/// A priced session (a quote, a CDR) with its OCPI totals, as the API passes it on.
fn breakdown_response(
    tariff_id: String,
    tariff_version: u32,
    priced: &joule_tariff::PricedSession,
) -> Result<v1::PriceBreakdown, Status> {
    Ok(v1::PriceBreakdown {
        tariff_id,
        tariff_version,
        breakdown_json: serde_json::to_string(priced)
            .map_err(|e| Status::internal(e.to_string()))?,
        totals_json: serde_json::to_string(&joule_tariff::OcpiTotals::of(priced))
            .map_err(|e| Status::internal(e.to_string()))?,
    })
}

/// The mapping from pricing's errors to gRPC status.
fn status(error: AggregateError<TariffError>) -> Status {
    match error {
        AggregateError::UserError(TariffError::Invalid(e)) => {
            Status::invalid_argument(e.to_string())
        }
        AggregateError::UserError(TariffError::AlreadyExists) => {
            Status::already_exists("tariff already exists")
        }
        AggregateError::UserError(TariffError::NotFound) => {
            Status::not_found("tariff does not exist")
        }
        AggregateError::UserError(e @ (TariffError::Retired | TariffError::NotAfterLatest(_))) => {
            Status::failed_precondition(e.to_string())
        }
        AggregateError::UserError(e) => Status::invalid_argument(e.to_string()),
        other => {
            tracing::error!(error = %other, "tariff command failed");
            Status::unavailable("tariff store unavailable")
        }
    }
}

fn rerate_status(error: RerateError) -> Status {
    match error {
        RerateError::NoTariff(_) | RerateError::BadSession(_) => {
            Status::not_found(error.to_string())
        }
        RerateError::Busy | RerateError::Lagging => Status::unavailable(error.to_string()),
        RerateError::Unparseable { .. } => Status::failed_precondition(error.to_string()),
        RerateError::Store(e) => store_unavailable(e),
    }
}

fn timestamp(
    t: Option<&joule_proto::Timestamp>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, Status> {
    match t {
        None => Ok(None),
        Some(ts) => from_proto(Some(ts))
            .map(Some)
            .ok_or_else(|| Status::invalid_argument(format!("{field}: not a valid time"))),
    }
}

/// A value outside its domain (`joule_domain::limits`): the caller's mistake, naming the field.
fn out_of_limits(e: LimitError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// A CDR within the request limits: at most 31 days from start to end, a bounded number of charging
/// periods and dimensions, each volume within its dimension's domain, and its energy in all at most
/// a session's maximum. Checked before the engine splits the CDR's periods.
fn check_cdr(cdr: &joule_tariff::Cdr) -> Result<(), LimitError> {
    use joule_tariff::CdrDimension as D;
    limits::check_span("cdr.end_date_time", cdr.start_date_time, cdr.end_date_time)?;
    limits::check_count(
        "cdr.charging_periods",
        cdr.charging_periods.len(),
        limits::MAX_CDR_CHARGING_PERIODS,
    )?;
    let mut energy_kwh = Decimal::ZERO;
    for (i, period) in cdr.charging_periods.iter().enumerate() {
        limits::check_count(
            &format!("cdr.charging_periods[{i}].dimensions"),
            period.dimensions.len(),
            limits::MAX_CDR_PERIOD_DIMENSIONS,
        )?;
        for (j, (kind, volume)) in period.dimensions.iter().enumerate() {
            let field = format!("cdr.charging_periods[{i}].dimensions[{j}].volume");
            let volume = *volume;
            match kind {
                D::Energy | D::EnergyExport | D::EnergyImport => {
                    limits::check_energy_kwh(&field, volume)?
                }
                D::Time | D::ParkingTime | D::ReservationTime => {
                    limits::check_hours(&field, volume)?
                }
                D::Power | D::MaxPower | D::MinPower => {
                    limits::check_stated_power_kw(&field, volume)?
                }
                D::Current | D::MaxCurrent | D::MinCurrent => {
                    limits::check_current_a(&field, volume)?
                }
                D::StateOfCharge => limits::check_percent(&field, volume)?,
            }
            if *kind == D::Energy {
                // Each at most MAX_SESSION_ENERGY_KWH, MAX_CDR_CHARGING_PERIODS x 32 of them.
                energy_kwh = energy_kwh.saturating_add(volume);
            }
        }
    }
    limits::check_energy_kwh("cdr.charging_periods", energy_kwh).map_err(|e| {
        LimitError::new(
            e.field,
            format!("the energy of all periods together {}", e.reason),
        )
    })
}

fn decimal(raw: &str, field: &str) -> Result<Decimal, Status> {
    raw.trim()
        .parse()
        .map_err(|_| Status::invalid_argument(format!("{field}: {raw:?} is not a decimal number")))
}

fn version_to_proto(tariff_id: &str, v: &read::StoredVersion) -> v1::TariffVersion {
    v1::TariffVersion {
        tariff_id: tariff_id.to_owned(),
        version: v.version,
        valid_from: v.valid_from.map(to_proto),
        ocpi_json: v.ocpi_json.clone(),
        published_at: Some(to_proto(v.published_at)),
        corrected_at: v.corrected_at.map(to_proto),
        correction_reason: v.correction_reason.clone().unwrap_or_default(),
    }
}

impl TariffGrpc {
    /// The running state of a session of the tenant; NOT_FOUND when pricing has not seen its start.
    async fn running_state(
        &self,
        tenant_id: &str,
        session_id: &str,
    ) -> Result<running::RunningState, Status> {
        let tenant = self.tenant(tenant_id)?;
        let session_id: SessionId = session_id
            .parse()
            .map_err(|e| Status::invalid_argument(format!("session_id: {e}")))?;
        running::load(&self.pool, &session_id.to_string())
            .await
            .map_err(store_unavailable)?
            .filter(|s| s.start.tenant_id == tenant)
            .ok_or_else(|| Status::not_found(format!("session {session_id} is not running")))
    }

    fn meta(&self, tenant_id: String) -> CommandMeta {
        CommandMeta {
            tenant_id,
            correlation_id: uuid::Uuid::new_v4().to_string(),
            causation_id: String::new(),
        }
    }

    /// The tariff, checked to belong to the tenant.
    /// The parsed version of a tariff (already checked to be the caller's) in force at `at`.
    async fn version_in_force(
        &self,
        id: &TariffId,
        at: DateTime<Utc>,
    ) -> Result<(u32, joule_tariff::Tariff), Status> {
        match read::version_in_force(&self.pool, &id.to_string(), at)
            .await
            .map_err(store_unavailable)?
        {
            read::InForce::Version(version, json) => joule_tariff::Tariff::parse(&json)
                .map(|t| (version, t))
                .map_err(|e| Status::failed_precondition(format!("stored tariff: {e}"))),
            read::InForce::NoneYet => Err(Status::failed_precondition(format!(
                "no version of tariff {id} is in force at {at}"
            ))),
            read::InForce::NoTariff => Err(Status::not_found(format!("tariff {id} not found"))),
        }
    }

    async fn owned(&self, tenant_id: &str, raw: &str) -> Result<TariffId, Status> {
        let id: TariffId = raw
            .parse()
            .map_err(|e| Status::invalid_argument(format!("tariff_id: {e}")))?;
        let not_found = || Status::not_found(format!("tariff {id} not found"));
        let stored = read::tariff(&self.pool, &id.to_string())
            .await
            .map_err(store_unavailable)?
            .ok_or_else(not_found)?;
        if stored.tenant_id != tenant_id {
            return Err(not_found());
        }
        Ok(id)
    }

    /// ALREADY_EXISTS for a second tariff with `identity`, naming the existing one (also in the
    /// `joule-existing-tariff-id` metadata, for callers that link to it).
    async fn duplicate(&self, identity: &Identity, existing: &str) -> Status {
        let then = match read::retired_at(&self.pool, existing).await {
            Ok(Some(at)) => format!(
                ", retired at {}; a retired tariff takes no new versions: give the new one another OCPI id",
                at.to_rfc3339()
            ),
            Ok(None) => format!("; {PUBLISH_INSTEAD}"),
            Err(e) => return store_unavailable(e),
        };
        let mut status = Status::already_exists(format!(
            "a tariff with OCPI identity {identity} (country_code, party_id, id) already exists: {existing}{then}"
        ));
        if let Ok(value) = existing.parse() {
            status.metadata_mut().insert(EXISTING_TARIFF, value);
        }
        status
    }

    async fn command(
        &self,
        id: TariffId,
        command: TariffCommand,
        tenant: String,
    ) -> Result<(), Status> {
        joule_store::execute(&self.cqrs, &id.to_string(), command, self.meta(tenant))
            .await
            .map_err(status)
    }

    /// The versions once the command's event is projected (the relay runs right after the commit).
    async fn version_after(
        &self,
        id: TariffId,
        version: Option<u32>,
    ) -> Result<v1::TariffVersion, Status> {
        for _ in 0..50 {
            let versions = read::versions(&self.pool, &id.to_string())
                .await
                .map_err(store_unavailable)?;
            let found = match version {
                Some(n) => versions
                    .iter()
                    .find(|v| v.version == n && v.corrected_at.is_some()),
                None => versions.last(),
            };
            if let Some(v) = found {
                return Ok(version_to_proto(&id.to_string(), v));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err(Status::unavailable(
            "the version is recorded but not readable yet",
        ))
    }
}

fn store_unavailable(error: sqlx::Error) -> Status {
    tracing::error!(error = %error, "tariff query failed");
    Status::unavailable("tariff store unavailable")
}

#[tonic::async_trait]
impl TariffService for TariffGrpc {
    async fn create_tariff(
        &self,
        request: Request<v1::CreateTariffRequest>,
    ) -> Result<Response<v1::Tariff>, Status> {
        let span = joule_telemetry::grpc_server_span("CreateTariff", &request);
        async move {
            let request = request.into_inner();
            let tenant_id = self.tenant(&request.tenant_id)?;
            // Validated here as well as in the aggregate so that the caller gets every field-naming
            // message at once, without a round trip through the event store.
            let parsed = joule_tariff::Tariff::parse_all(&request.ocpi_json).map_err(|errors| {
                Status::invalid_argument(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
            // One tariff per OCPI identity. A tariff created before identities were unique has a
            // random id and is found in the read table; any other has the id derived from its
            // identity, so a second creation, concurrent or not, meets the first in the aggregate.
            let identity = Identity::of(&tenant_id, &parsed);
            if let Some(existing) = read::tariff_by_identity(&self.pool, &identity)
                .await
                .map_err(store_unavailable)?
            {
                return Err(self.duplicate(&identity, &existing).await);
            }
            let id = identity.tariff_id();
            let meta = CommandMeta {
                tenant_id,
                correlation_id: uuid::Uuid::new_v4().to_string(),
                causation_id: String::new(),
            };
            let command = TariffCommand::Create {
                ocpi_json: request.ocpi_json.clone(),
                created_at: Utc::now(),
            };
            match joule_store::execute(&self.cqrs, &id.to_string(), command, meta).await {
                Ok(()) => {}
                Err(AggregateError::UserError(TariffError::AlreadyExists)) => {
                    return Err(self.duplicate(&identity, &id.to_string()).await);
                }
                Err(e) => return Err(status(e)),
            }
            let stored = read::tariff(&self.pool, &id.to_string())
                .await
                .map_err(store_unavailable)?
                .ok_or_else(|| Status::internal("the created tariff was not stored"))?;
            tracing::info!(tariff_id = %id, ocpi_id = %parsed.id, "tariff created");
            Ok(Response::new(v1::Tariff {
                id: id.to_string(),
                currency: stored.currency,
                ocpi_json: stored.ocpi_json,
                retired: false,
                retired_at: None,
            }))
        }
        .instrument(span)
        .await
    }

    async fn get_tariff(
        &self,
        request: Request<v1::GetTariffRequest>,
    ) -> Result<Response<v1::Tariff>, Status> {
        let span = joule_telemetry::grpc_server_span("GetTariff", &request);
        async move {
            let request = request.into_inner();
            let tenant_id = self.tenant(&request.tenant_id)?;
            let id: TariffId = request
                .tariff_id
                .parse()
                .map_err(|e| Status::invalid_argument(format!("tariff_id: {e}")))?;
            let not_found = || Status::not_found(format!("tariff {id} not found"));
            let stored = read::tariff(&self.pool, &id.to_string())
                .await
                .map_err(store_unavailable)?
                .ok_or_else(not_found)?;
            // Another tenant's tariff does not exist for this caller.
            if stored.tenant_id != tenant_id {
                return Err(not_found());
            }
            let retired_at = read::retired_at(&self.pool, &id.to_string())
                .await
                .map_err(store_unavailable)?;
            Ok(Response::new(v1::Tariff {
                id: stored.id,
                currency: stored.currency,
                ocpi_json: stored.ocpi_json,
                retired: retired_at.is_some(),
                retired_at: retired_at.map(to_proto),
            }))
        }
        .instrument(span)
        .await
    }

    async fn publish_tariff_version(
        &self,
        request: Request<v1::PublishTariffVersionRequest>,
    ) -> Result<Response<v1::TariffVersion>, Status> {
        let span = joule_telemetry::grpc_server_span("PublishTariffVersion", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let id = self.owned(&tenant, &r.tariff_id).await?;
            let valid_from = timestamp(r.valid_from.as_ref(), "valid_from")?
                .ok_or_else(|| Status::invalid_argument("valid_from: is required"))?;
            let command = TariffCommand::PublishVersion {
                ocpi_json: r.ocpi_json,
                valid_from,
                published_at: Utc::now(),
            };
            self.command(id, command, tenant).await?;
            // Versions start strictly after each other, so valid_from names the new one.
            for _ in 0..100 {
                let versions = read::versions(&self.pool, &id.to_string())
                    .await
                    .map_err(store_unavailable)?;
                if let Some(v) = versions.iter().find(|v| v.valid_from == Some(valid_from)) {
                    return Ok(Response::new(version_to_proto(&id.to_string(), v)));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            self.version_after(id, None).await.map(Response::new)
        }
        .instrument(span)
        .await
    }

    async fn correct_tariff_version(
        &self,
        request: Request<v1::CorrectTariffVersionRequest>,
    ) -> Result<Response<v1::TariffVersion>, Status> {
        let span = joule_telemetry::grpc_server_span("CorrectTariffVersion", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let id = self.owned(&tenant, &r.tariff_id).await?;
            let command = TariffCommand::CorrectVersion {
                version: r.version,
                ocpi_json: r.ocpi_json,
                reason: r.reason,
                corrected_at: Utc::now(),
            };
            self.command(id, command, tenant).await?;
            self.version_after(id, Some(r.version))
                .await
                .map(Response::new)
        }
        .instrument(span)
        .await
    }

    async fn list_tariff_versions(
        &self,
        request: Request<v1::ListTariffVersionsRequest>,
    ) -> Result<Response<v1::ListTariffVersionsResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("ListTariffVersions", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let id = self.owned(&tenant, &r.tariff_id).await?;
            let versions = read::versions(&self.pool, &id.to_string())
                .await
                .map_err(store_unavailable)?;
            let retired_at = read::retired_at(&self.pool, &id.to_string())
                .await
                .map_err(store_unavailable)?;
            Ok(Response::new(v1::ListTariffVersionsResponse {
                versions: versions
                    .iter()
                    .map(|v| version_to_proto(&id.to_string(), v))
                    .collect(),
                retired: retired_at.is_some(),
                retired_at: retired_at.map(to_proto),
            }))
        }
        .instrument(span)
        .await
    }

    async fn retire_tariff(
        &self,
        request: Request<v1::RetireTariffRequest>,
    ) -> Result<Response<v1::Acknowledged>, Status> {
        let span = joule_telemetry::grpc_server_span("RetireTariff", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let id = self.owned(&tenant, &r.tariff_id).await?;
            let command = TariffCommand::Retire {
                retired_at: Utc::now(),
            };
            self.command(id, command, tenant).await?;
            Ok(Response::new(v1::Acknowledged { id: id.to_string() }))
        }
        .instrument(span)
        .await
    }

    async fn assign_tariff(
        &self,
        request: Request<v1::AssignTariffRequest>,
    ) -> Result<Response<v1::Acknowledged>, Status> {
        let span = joule_telemetry::grpc_server_span("AssignTariff", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let id = self.owned(&tenant, &r.tariff_id).await?;
            let scope_id = r.scope_id.trim().to_owned();
            if scope_id.is_empty() {
                return Err(Status::invalid_argument("scope_id: is required"));
            }
            let scope = match r.scope.as_str() {
                "site" => Scope::Site { site_id: scope_id },
                "charger" => Scope::Charger {
                    charger_id: scope_id,
                },
                "connector" if r.connector_id > 0 => Scope::Connector {
                    charger_id: scope_id,
                    connector_id: r.connector_id,
                },
                "connector" => {
                    return Err(Status::invalid_argument(
                        "connector_id: a connector assignment needs a connector id from 1",
                    ));
                }
                other => {
                    return Err(Status::invalid_argument(format!(
                        "scope: must be site, charger or connector, not {other:?}"
                    )));
                }
            };
            let command = TariffCommand::Assign {
                scope,
                assigned_at: Utc::now(),
            };
            self.command(id, command, tenant).await?;
            Ok(Response::new(v1::Acknowledged { id: id.to_string() }))
        }
        .instrument(span)
        .await
    }

    async fn set_contract(
        &self,
        request: Request<v1::SetContractRequest>,
    ) -> Result<Response<v1::Acknowledged>, Status> {
        let span = joule_telemetry::grpc_server_span("SetContract", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let id = self.owned(&tenant, &r.tariff_id).await?;
            let party = match r.party_type.as_str() {
                "account" => Party::Account {
                    account_id: r.party_id,
                },
                "fleet" => Party::Fleet {
                    fleet_id: r.party_id,
                    account_ids: r.account_ids,
                },
                other => {
                    return Err(Status::invalid_argument(format!(
                        "party_type: must be account or fleet, not {other:?}"
                    )));
                }
            };
            let discounts: Vec<Discount> = if r.discounts_json.trim().is_empty() {
                vec![]
            } else {
                serde_json::from_str(&r.discounts_json)
                    .map_err(|e| Status::invalid_argument(format!("discounts: {e}")))?
            };
            let command = TariffCommand::Contract {
                party,
                discounts,
                valid_from: timestamp(r.valid_from.as_ref(), "valid_from")?,
                valid_until: timestamp(r.valid_until.as_ref(), "valid_until")?,
                contracted_at: Utc::now(),
            };
            self.command(id, command, tenant).await?;
            Ok(Response::new(v1::Acknowledged { id: id.to_string() }))
        }
        .instrument(span)
        .await
    }

    async fn quote(
        &self,
        request: Request<v1::QuoteRequest>,
    ) -> Result<Response<v1::PriceBreakdown>, Status> {
        let span = joule_telemetry::grpc_server_span("Quote", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let id = self.owned(&tenant, &r.tariff_id).await?;
            let start = timestamp(r.start.as_ref(), "start")?.unwrap_or_else(Utc::now);
            let zone = if r.time_zone.is_empty() {
                "UTC"
            } else {
                r.time_zone.as_str()
            };
            let tz: joule_tariff::Tz = zone.parse().map_err(|_| {
                Status::invalid_argument(format!("time_zone: {zone:?} is not an IANA time zone"))
            })?;
            let request = joule_tariff::QuoteRequest {
                start,
                energy_kwh: decimal(&r.energy_kwh, "energy_kwh")?,
                power_kw: decimal(&r.power_kw, "power_kw")?,
                parking_minutes: r.parking_minutes,
            };
            limits::check_quote(
                start,
                request.energy_kwh,
                request.power_kw,
                request.parking_minutes,
            )
            .map_err(out_of_limits)?;
            let (version, tariff) = self.version_in_force(&id, start).await?;
            let priced = joule_tariff::quote(&tariff, &request, tz)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            breakdown_response(id.to_string(), version, &priced).map(Response::new)
        }
        .instrument(span)
        .await
    }

    async fn price_cdr(
        &self,
        request: Request<v1::PriceCdrRequest>,
    ) -> Result<Response<v1::PriceBreakdown>, Status> {
        let span = joule_telemetry::grpc_server_span("PriceCdr", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let cdr = joule_tariff::Cdr::parse(&r.cdr_json).map_err(|e| match e {
                // The field inside the CDR, named as the request's field (`cdr.end_date_time`).
                joule_tariff::TariffError::Invalid { path, message } => {
                    Status::invalid_argument(format!("cdr.{path}: {message}"))
                }
                e => Status::invalid_argument(format!("cdr: {e}")),
            })?;
            check_cdr(&cdr).map_err(out_of_limits)?;
            let tz = match r.time_zone.trim() {
                "" => None,
                zone => Some(zone.parse::<joule_tariff::Tz>().map_err(|_| {
                    Status::invalid_argument(format!(
                        "time_zone: {zone:?} is not an IANA time zone"
                    ))
                })?),
            };
            let (id, json) = (r.tariff_id.trim(), r.tariff_json.trim());
            let (tariff, tariff_id, version) = match (id.is_empty(), json.is_empty()) {
                (true, true) => {
                    return Err(Status::invalid_argument(
                        "tariff: give the OCPI tariff (tariff_json) or a stored tariff's id",
                    ));
                }
                (false, false) => {
                    return Err(Status::invalid_argument(
                        "tariff: give either tariff_json or tariff_id, not both",
                    ));
                }
                (false, true) => {
                    let id = self.owned(&tenant, id).await?;
                    let (version, tariff) = self.version_in_force(&id, cdr.start_date_time).await?;
                    (tariff, id.to_string(), version)
                }
                (true, false) => {
                    let tariff = joule_tariff::Tariff::parse(json)
                        .map_err(|e| Status::invalid_argument(format!("tariff: {e}")))?;
                    let id = tariff.id.clone();
                    (tariff, id, 0)
                }
            };
            let (priced, _) =
                joule_tariff::price_cdr_in_zone(&tariff, &cdr, tz).map_err(|e| match &e {
                    joule_tariff::PricingError::NoTimeZone { .. } => Status::invalid_argument(
                        format!("time_zone: is required: {e}; give the location's IANA zone"),
                    ),
                    _ => Status::invalid_argument(format!("cdr: {e}")),
                })?;
            breakdown_response(tariff_id, version, &priced).map(Response::new)
        }
        .instrument(span)
        .await
    }

    async fn get_priced_session(
        &self,
        request: Request<v1::GetPricedSessionRequest>,
    ) -> Result<Response<v1::PricedSessionView>, Status> {
        let span = joule_telemetry::grpc_server_span("GetPricedSession", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            let session_id: SessionId = r
                .session_id
                .parse()
                .map_err(|e| Status::invalid_argument(format!("session_id: {e}")))?;
            read::priced_session_view(&self.pool, &tenant, &session_id.to_string())
                .await
                .map_err(store_unavailable)?
                .map(Response::new)
                .ok_or_else(|| Status::not_found(format!("session {session_id} has no price yet")))
        }
        .instrument(span)
        .await
    }

    async fn get_running_cost(
        &self,
        request: Request<v1::GetRunningCostRequest>,
    ) -> Result<Response<v1::RunningCost>, Status> {
        let span = joule_telemetry::grpc_server_span("GetRunningCost", &request);
        async move {
            let r = request.into_inner();
            let state = self.running_state(&r.tenant_id, &r.session_id).await?;
            let latest = state.latest.as_ref().ok_or_else(|| {
                Status::not_found(format!(
                    "session {} has no running cost: {}",
                    state.start.session_id,
                    state
                        .unpriced_reason
                        .as_deref()
                        .unwrap_or("no estimate yet")
                ))
            })?;
            Ok(Response::new(running::running_cost(&state, latest)))
        }
        .instrument(span)
        .await
    }

    async fn estimate_session_cost(
        &self,
        request: Request<v1::EstimateSessionCostRequest>,
    ) -> Result<Response<v1::RunningCost>, Status> {
        let span = joule_telemetry::grpc_server_span("EstimateSessionCost", &request);
        async move {
            let r = request.into_inner();
            let ended_at = timestamp(r.ended_at.as_ref(), "ended_at")?
                .ok_or_else(|| Status::invalid_argument("ended_at: is required"))?;
            let meter_stop = match r.meter_stop_wh.trim() {
                "" => None,
                raw => {
                    let wh = decimal(raw, "meter_stop_wh")?;
                    limits::check_register_wh("meter_stop_wh", wh).map_err(out_of_limits)?;
                    Some(wh)
                }
            };
            let state = self.running_state(&r.tenant_id, &r.session_id).await?;
            if ended_at < state.start.started_at {
                return Err(Status::invalid_argument(format!(
                    "ended_at: {ended_at} is before the session started at {}",
                    state.start.started_at
                )));
            }
            limits::check_span("ended_at", state.start.started_at, ended_at)
                .map_err(out_of_limits)?;
            let latest = state.latest.as_ref();
            let (energy_wh, sequence) = match meter_stop {
                // Stop register − start register (else the first reading), never negative, as
                // sessions bills it.
                Some(stop) => {
                    let from = state
                        .start
                        .meter_start_wh
                        .or_else(|| state.readings.first().map(|s| s.register_wh))
                        .unwrap_or(stop);
                    let energy = stop.checked_sub(from).ok_or_else(|| {
                        Status::invalid_argument(
                            "meter_stop_wh: out of range of the start register",
                        )
                    })?;
                    (energy.max(Decimal::ZERO), latest.map_or(0, |l| l.sequence))
                }
                None => latest.map_or((Decimal::ZERO, 0), |l| (l.energy_wh, l.sequence)),
            };
            let input = running::EstimateInput {
                readings: &state.readings,
                energy_wh,
                final_wh: meter_stop,
                as_of: ended_at,
            };
            let breakdown = running::estimate(&state, &input).map_err(|e| match e {
                running::EstimateError::Unpriced(reason) => Status::not_found(format!(
                    "session {} has no running cost: {reason}",
                    state.start.session_id
                )),
                running::EstimateError::Engine(reason) => Status::invalid_argument(reason),
            })?;
            let latest = running::latest(sequence, energy_wh, ended_at, &breakdown);
            Ok(Response::new(running::running_cost(&state, &latest)))
        }
        .instrument(span)
        .await
    }

    async fn rerate(
        &self,
        request: Request<v1::RerateRequest>,
    ) -> Result<Response<v1::RerateResponse>, Status> {
        let span = joule_telemetry::grpc_server_span("Rerate", &request);
        async move {
            let r = request.into_inner();
            let tenant = self.tenant(&r.tenant_id)?;
            if r.reason.trim().is_empty() {
                return Err(Status::invalid_argument("reason: a re-rating needs a reason"));
            }
            limits::check_count("session_ids", r.session_ids.len(), limits::MAX_RERATE_SESSIONS)
                .map_err(out_of_limits)?;
            let stats = if !r.session_ids.is_empty() {
                let ids = r
                    .session_ids
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        s.parse::<SessionId>()
                            .map_err(|e| Status::invalid_argument(format!("session_ids[{i}]: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let corrected = match r.corrected_energy_wh.trim() {
                    "" => None,
                    raw => {
                        if ids.len() != 1 {
                            return Err(Status::invalid_argument(
                                "corrected_energy_wh: a meter correction names exactly one session",
                            ));
                        }
                        let wh = decimal(raw, "corrected_energy_wh")?;
                        limits::check_energy_wh("corrected_energy_wh", wh)
                            .map_err(out_of_limits)?;
                        Some(wh)
                    }
                };
                rerate::rerate_sessions(
                    &self.pool,
                    &self.sessions,
                    &ids,
                    corrected,
                    &r.reason,
                    self.meta(tenant),
                )
                .await
                .map_err(rerate_status)?
            } else {
                let id = self.owned(&tenant, &r.tariff_id).await?;
                rerate::rerate_tariff(
                    &self.pool,
                    &id.to_string(),
                    timestamp(r.from.as_ref(), "from")?,
                    timestamp(r.until.as_ref(), "until")?,
                    &r.reason,
                    &tenant,
                    uuid::Uuid::new_v4().to_string(),
                    Utc::now(),
                )
                .await
                .map_err(rerate_status)?
            };
            tracing::info!(rerating_id = %stats.rerating_id, examined = stats.examined, adjusted = stats.adjusted, failed = stats.failed, "re-rating done");
            Ok(Response::new(v1::RerateResponse {
                rerating_id: stats.rerating_id,
                sessions_examined: stats.examined,
                sessions_adjusted: stats.adjusted,
                sessions_failed: stats.failed,
            }))
        }
        .instrument(span)
        .await
    }
}
