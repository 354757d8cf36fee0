//! Prices of sessions that are not charging sessions of Joule: a quote for a planned session, and
//! an OCPI CDR priced with a stored tariff or one given with it.

use chrono::{DateTime, Utc};
use joule_domain::TariffId;
use joule_domain::limits::{self, LimitError};
use joule_proto::v1;
use rust_decimal::Decimal;

use super::status::Error;
use super::{TariffGrpc, decimal, timestamp};
use crate::projections::tariffs::{self as stored, InForce};
use crate::wire;

/// The parsed version of a tariff (already checked to be the caller's) in force at `at`.
async fn version_in_force(
    server: &TariffGrpc,
    id: &TariffId,
    at: DateTime<Utc>,
) -> Result<(u32, joule_tariff::Tariff), Error> {
    match stored::version_in_force(&server.pool, &id.to_string(), at).await? {
        InForce::Version(version, json) => joule_tariff::Tariff::parse(&json)
            .map(|t| (version, t))
            .map_err(|e| {
                Error::FailedPrecondition(format!(
                    "tariff_id: the stored tariff no longer reads: {e}"
                ))
            }),
        InForce::NoneYet => Err(Error::FailedPrecondition(format!(
            "start: no version of tariff {id} is in force at {at}"
        ))),
        InForce::NoTariff => Err(Error::NotFound(format!("no tariff with id {id}"))),
    }
}

fn time_zone(zone: &str) -> Result<joule_tariff::Tz, Error> {
    zone.parse()
        .map_err(|_| Error::field("time_zone", format!("{zone:?} is not an IANA time zone")))
}

fn breakdown(
    tariff_id: String,
    version: u32,
    priced: &joule_tariff::PricedSession,
) -> Result<v1::PriceBreakdown, Error> {
    wire::price_breakdown(tariff_id, version, priced).map_err(|e| Error::Internal(e.to_string()))
}

pub(super) async fn quote(
    server: &TariffGrpc,
    r: v1::QuoteRequest,
) -> Result<v1::PriceBreakdown, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let (id, _) = server.owned(&tenant, &r.tariff_id).await?;
    let start = timestamp(r.start.as_ref(), "start")?.unwrap_or_else(Utc::now);
    let zone = if r.time_zone.is_empty() {
        "UTC"
    } else {
        r.time_zone.as_str()
    };
    let tz = time_zone(zone)?;
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
    )?;
    let (version, tariff) = version_in_force(server, &id, start).await?;
    let priced = joule_tariff::quote(&tariff, &request, tz)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    breakdown(id.to_string(), version, &priced)
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

pub(super) async fn price_cdr(
    server: &TariffGrpc,
    r: v1::PriceCdrRequest,
) -> Result<v1::PriceBreakdown, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let cdr = joule_tariff::Cdr::parse(&r.cdr_json).map_err(|e| match e {
        // The field inside the CDR, named as the request's field (`cdr.end_date_time`).
        joule_tariff::TariffError::Invalid { path, message } => {
            Error::field(&format!("cdr.{path}"), message)
        }
        e => Error::field("cdr", e),
    })?;
    check_cdr(&cdr)?;
    let tz = match r.time_zone.trim() {
        "" => None,
        zone => Some(time_zone(zone)?),
    };
    let (id, json) = (r.tariff_id.trim(), r.tariff_json.trim());
    let (tariff, tariff_id, version) = match (id.is_empty(), json.is_empty()) {
        (true, true) => {
            return Err(Error::field(
                "tariff",
                "give the OCPI tariff (tariff_json) or a stored tariff's id",
            ));
        }
        (false, false) => {
            return Err(Error::field(
                "tariff",
                "give either tariff_json or tariff_id, not both",
            ));
        }
        (false, true) => {
            let (id, _) = server.owned(&tenant, id).await?;
            let (version, tariff) = version_in_force(server, &id, cdr.start_date_time).await?;
            (tariff, id.to_string(), version)
        }
        (true, false) => {
            let tariff =
                joule_tariff::Tariff::parse(json).map_err(|e| Error::field("tariff", e))?;
            let id = tariff.id.clone();
            (tariff, id, 0)
        }
    };
    let (priced, _) = joule_tariff::price_cdr_in_zone(&tariff, &cdr, tz).map_err(|e| match &e {
        joule_tariff::PricingError::NoTimeZone { .. } => Error::field(
            "time_zone",
            format!("is required: {e}; give the location's IANA zone"),
        ),
        _ => Error::field("cdr", e),
    })?;
    breakdown(tariff_id, version, &priced)
}
