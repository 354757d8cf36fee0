//! OCPI 2.2.1 CDRs (`mod_cdrs`): reading one, and pricing its charging periods with a tariff.
//!
//! A CDR states per charging period how much energy, charging time, parking time and reservation
//! time was used, and sometimes the power and current. Its periods are priced as the text says
//! restrictions work, while they hold: a period that crosses a point where a restriction changes
//! (a local time of day, midnight, a duration, a kWh threshold) is cut there, its volumes shared in
//! proportion to time, as if consumed at a constant rate within the period. `ocpi-tariffs` prices
//! such a period at its starting rate instead (see `ocpi-pricing-rules.md`).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use joule_domain::{Currency, Energy};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::arith::per;
use crate::breakdown::PricedSession;
use crate::engine::{ExtrasContext, finish};
use crate::error::{PricingError, TariffError};
use crate::json::Json;
use crate::limits;
use crate::model::Tariff;
use crate::parse::{Obj, Path, invalid};
use crate::periods::{CutPlan, PeriodFacts, PeriodState, local};
use crate::usage::{nanos_between, seconds_between};

const SECONDS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);

/// OCPI `CdrDimensionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CdrDimension {
    Current,
    Energy,
    EnergyExport,
    EnergyImport,
    MaxCurrent,
    MinCurrent,
    MaxPower,
    MinPower,
    ParkingTime,
    Power,
    ReservationTime,
    StateOfCharge,
    Time,
}

impl CdrDimension {
    const NAMES: &'static [(&'static str, CdrDimension)] = &[
        ("CURRENT", CdrDimension::Current),
        ("ENERGY", CdrDimension::Energy),
        ("ENERGY_EXPORT", CdrDimension::EnergyExport),
        ("ENERGY_IMPORT", CdrDimension::EnergyImport),
        ("MAX_CURRENT", CdrDimension::MaxCurrent),
        ("MIN_CURRENT", CdrDimension::MinCurrent),
        ("MAX_POWER", CdrDimension::MaxPower),
        ("MIN_POWER", CdrDimension::MinPower),
        ("PARKING_TIME", CdrDimension::ParkingTime),
        ("POWER", CdrDimension::Power),
        ("RESERVATION_TIME", CdrDimension::ReservationTime),
        ("STATE_OF_CHARGE", CdrDimension::StateOfCharge),
        ("TIME", CdrDimension::Time),
    ];
}

/// One OCPI `ChargingPeriod`: what was used from `start_date_time` until the next period starts
/// (the last one until the CDR's end).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdrPeriod {
    pub start_date_time: DateTime<Utc>,
    /// Volumes in OCPI units: kWh, hours, kW, A, percent.
    pub dimensions: Vec<(CdrDimension, Decimal)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tariff_id: Option<String>,
}

impl CdrPeriod {
    fn get(&self, d: CdrDimension) -> Option<Decimal> {
        // bounded: each volume is at most 1e6 (limits.rs), and a period holds far fewer than 1e22
        // of them.
        self.dimensions
            .iter()
            .filter(|(x, _)| *x == d)
            .map(|(_, v)| *v)
            .reduce(Decimal::saturating_add)
    }

    fn volume(&self, d: CdrDimension) -> Decimal {
        self.get(d).unwrap_or_default()
    }
}

/// The parts of an OCPI 2.2.1 CDR that pricing uses. The totals a CDR carries are its sender's
/// answer, not input, and are not read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cdr {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// `cdr_location.country` (ISO 3166-1 alpha-3 in OCPI); named in the error when no zone is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The location's IANA zone: `cdr_location.time_zone` (OCPI 2.2.1 CdrLocation has none, but
    /// platforms that copy the Location's add it) or `location.time_zone` (an OCPI 2.1.1 CDR).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_zone"
    )]
    pub time_zone: Option<Tz>,
    pub start_date_time: DateTime<Utc>,
    pub end_date_time: DateTime<Utc>,
    /// In time order (sorted when read).
    pub charging_periods: Vec<CdrPeriod>,
}

impl Cdr {
    /// Parses and validates OCPI 2.2.1 CDR JSON. Errors name the field by its path, for example
    /// `charging_periods[1].dimensions[0].volume: must not be negative`.
    pub fn parse(json: &str) -> Result<Cdr, TariffError> {
        // Only the fields pricing reads are kept; the rest (token, location details, the sender's
        // totals, embedded tariffs) are checked to be JSON and skipped without being built.
        let tree = Json::parse_fields(
            json,
            &[
                "id",
                "currency",
                "cdr_location",
                "location",
                "start_date_time",
                "end_date_time",
                "charging_periods",
            ],
        )
        .map_err(|e| TariffError::Json(e.to_string()))?;
        Self::read(&tree)
    }

    /// Like [`Cdr::parse`], from JSON already decoded.
    pub fn from_value(value: &Value) -> Result<Cdr, TariffError> {
        Self::read(&Json::from_value(value))
    }

    fn read(value: &Json<'_>) -> Result<Cdr, TariffError> {
        let root = Obj::new(value, Path::ROOT, "an OCPI CDR")?;
        let id = root.opt_str("id")?.map(str::to_owned);
        let currency = root
            .opt_str("currency")?
            .map(|c| Currency::from_str(c).map_err(|e| invalid("currency", e.to_string())))
            .transpose()?;
        let mut country = None;
        let mut time_zone = None;
        for key in ["cdr_location", "location"] {
            let Some(loc) = root.opt_obj(key)? else {
                continue;
            };
            if country.is_none() {
                country = loc.opt_str("country")?.map(str::to_owned);
            }
            if time_zone.is_none() {
                time_zone = loc
                    .opt_str("time_zone")?
                    .map(|z| {
                        z.trim().parse::<Tz>().map_err(|_| {
                            invalid(
                                loc.path("time_zone"),
                                format!(
                                    "must be an IANA time zone such as Europe/Berlin, not {z:?}"
                                ),
                            )
                        })
                    })
                    .transpose()?;
            }
        }
        let start_date_time = root
            .opt_date_time("start_date_time")?
            .ok_or_else(|| invalid("start_date_time", "is required"))?;
        let end_date_time = root
            .opt_date_time("end_date_time")?
            .ok_or_else(|| invalid("end_date_time", "is required"))?;
        if end_date_time < start_date_time {
            return Err(invalid(
                "end_date_time",
                "must not be before start_date_time",
            ));
        }
        // A CDR is cut into periods at every restriction change, day by day: a span of centuries
        // would take minutes to split. The request limit of a priced span bounds it (ADR 024).
        if let Err(e) =
            joule_domain::limits::check_span("end_date_time", start_date_time, end_date_time)
        {
            return Err(invalid("end_date_time", e.reason));
        }
        let Some(items) = root.opt_array("charging_periods")? else {
            return Err(invalid("charging_periods", "is required"));
        };
        if items.is_empty() {
            return Err(invalid(
                "charging_periods",
                "must contain at least one charging period",
            ));
        }
        let mut charging_periods = Vec::with_capacity(items.len());
        for (path, item) in items {
            let o = Obj::new(item, path, "a charging period")?;
            let start = o
                .opt_date_time("start_date_time")?
                .ok_or_else(|| invalid(o.path("start_date_time"), "is required"))?;
            if start < start_date_time || start > end_date_time {
                return Err(invalid(
                    o.path("start_date_time"),
                    "must lie between the CDR's start_date_time and end_date_time",
                ));
            }
            let Some(dims) = o.opt_array("dimensions")? else {
                return Err(invalid(o.path("dimensions"), "is required"));
            };
            let mut dimensions = Vec::with_capacity(dims.len());
            for (path, dim) in dims {
                let d = Obj::new(dim, path, "a CDR dimension")?;
                let name = d.req_str("type")?;
                let kind = CdrDimension::NAMES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, k)| *k)
                    .ok_or_else(|| {
                        invalid(
                            d.path("type"),
                            format!("must be an OCPI CdrDimensionType such as ENERGY or TIME, not {name:?}"),
                        )
                    })?;
                let volume = d.req_decimal("volume")?;
                d.non_negative(volume, "volume")?;
                d.at_most(
                    volume,
                    "volume",
                    Decimal::from(limits::MAX_CDR_VOLUME),
                    "(Joule's limit for one dimension of a charging period)",
                )?;
                dimensions.push((kind, volume));
            }
            charging_periods.push(CdrPeriod {
                start_date_time: start,
                dimensions,
                tariff_id: o.opt_str("tariff_id")?.map(str::to_owned),
            });
        }
        // OCPI lists periods in time order; a sender that did not is forgiven.
        charging_periods.sort_by_key(|p| p.start_date_time);
        Ok(Cdr {
            id,
            currency,
            country,
            time_zone,
            start_date_time,
            end_date_time,
            charging_periods,
        })
    }

    /// Energy of all periods.
    pub fn energy(&self) -> Energy {
        // bounded: each period's energy is at most 1e6 kWh per dimension (limits.rs), and a CDR
        // holds far fewer than 1e19 of them.
        Energy::from_kwh(
            self.charging_periods
                .iter()
                .map(|p| p.volume(CdrDimension::Energy))
                .fold(Decimal::ZERO, Decimal::saturating_add),
        )
    }
}

impl FromStr for Cdr {
    type Err = TariffError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cdr::parse(s)
    }
}

/// Prices `cdr` with `tariff`, evaluating local-time restrictions in `time_zone`.
pub fn price_cdr(tariff: &Tariff, cdr: &Cdr, time_zone: Tz) -> Result<PricedSession, PricingError> {
    if let Some(currency) = cdr.currency
        && currency != tariff.currency
    {
        return Err(PricingError::CurrencyMismatch {
            cdr: currency,
            tariff: tariff.currency,
        });
    }
    if !tariff.is_active_at(cdr.start_date_time) {
        return Err(PricingError::TariffNotActive {
            tariff_id: tariff.id.clone(),
            at: cdr.start_date_time,
        });
    }
    let (facts, split) = cdr_facts(tariff, cdr, time_zone)?;
    let has_reservation = facts.iter().any(|f| f.reservation);
    let charged = facts.iter().any(|f| {
        !f.reservation
            && (f.energy_wh > Decimal::ZERO
                || f.time_s > Decimal::ZERO
                || f.parking_s > Decimal::ZERO)
    });
    let reservation_expired = has_reservation && !charged;
    let mut priced = finish(
        tariff,
        &facts,
        reservation_expired,
        ExtrasContext {
            time_zone,
            start: cdr.start_date_time,
            end: cdr.end_date_time,
            charging_end: None,
            energy: cdr.energy(),
        },
    )?;
    priced.notes.extend(split.into_iter().map(|(i, at)| {
        format!(
            "charging_periods[{i}] crosses a change of the tariff's restrictions at {at}; its volumes were shared in proportion to time"
        )
    }));
    Ok(priced)
}

/// A cut inside a CDR period: the period's index and the instant.
type Split = (usize, DateTime<Utc>);

/// The CDR's periods as facts, each cut where a restriction of `tariff` can change, and the cuts
/// made inside a CDR period (its index and the instant).
///
/// Each volume of a period is bounded (limits.rs) and a CDR spans at most a month, but a CDR may
/// hold any number of periods and a period's time may be tiny: sums and the average power are
/// checked.
pub(crate) fn cdr_facts(
    tariff: &Tariff,
    cdr: &Cdr,
    tz: Tz,
) -> Result<(Vec<PeriodFacts>, Vec<Split>), PricingError> {
    let plan = CutPlan::of(tariff);
    let clock_cuts = plan.clock_cuts(
        tz,
        cdr.start_date_time,
        cdr.start_date_time,
        cdr.end_date_time,
    );
    // Lengths of Vecs: far below usize::MAX.
    let mut out = Vec::with_capacity(cdr.charging_periods.len().saturating_add(clock_cuts.len()));
    let mut energy_before = Decimal::ZERO;
    let mut split = Vec::new();
    for (i, p) in cdr.charging_periods.iter().enumerate() {
        let start = p.start_date_time;
        let overflow = |what: &'static str| {
            move || PricingError::overflow(&format!("the {what} of charging_periods[{i}]"))
        };
        let end = cdr
            .charging_periods
            // `i` indexes the periods: one more cannot overflow.
            .get(i.saturating_add(1))
            .map_or(cdr.end_date_time, |next| next.start_date_time)
            .max(start);
        // bounded: each volume is at most 1e6 kWh or hours (limits.rs).
        let energy_wh = p
            .volume(CdrDimension::Energy)
            .saturating_mul(Decimal::ONE_THOUSAND);
        let time_s = p
            .volume(CdrDimension::Time)
            .saturating_mul(SECONDS_PER_HOUR);
        let parking_s = p
            .volume(CdrDimension::ParkingTime)
            .saturating_mul(SECONDS_PER_HOUR);
        let reservation_s = p
            .volume(CdrDimension::ReservationTime)
            .saturating_mul(SECONDS_PER_HOUR);
        let reservation = p.get(CdrDimension::ReservationTime).is_some();
        let state = if parking_s > Decimal::ZERO && time_s.is_zero() && energy_wh.is_zero() {
            PeriodState::Parking
        } else {
            PeriodState::Charging
        };
        // The period's power: as stated (MIN_/MAX_POWER, else the average POWER), else the average
        // over its charging time, as Joule derives it for its own sessions.
        let average_power = match p.get(CdrDimension::Power) {
            Some(power) => Some(power),
            // A tiny charging time (volumes have up to 28 decimals) can make it overflow.
            None if time_s > Decimal::ZERO => Some(
                per(
                    energy_wh.saturating_mul(SECONDS_PER_HOUR),
                    Decimal::ONE_THOUSAND,
                )
                .checked_div(time_s)
                .ok_or_else(overflow("average power"))?,
            ),
            None if reservation || parking_s > Decimal::ZERO => Some(Decimal::ZERO),
            None => None,
        };
        let power_kw = match (
            p.get(CdrDimension::MinPower).or(average_power),
            p.get(CdrDimension::MaxPower).or(average_power),
        ) {
            (Some(low), Some(high)) => Some((low.min(high), high.max(low))),
            (Some(v), None) | (None, Some(v)) => Some((v, v)),
            (None, None) => None,
        };
        let average_current = p.get(CdrDimension::Current);
        let current_a = match (
            p.get(CdrDimension::MinCurrent).or(average_current),
            p.get(CdrDimension::MaxCurrent).or(average_current),
        ) {
            (Some(low), Some(high)) => Some((low.min(high), high.max(low))),
            (Some(v), None) | (None, Some(v)) => Some((v, v)),
            (None, None) => None,
        };

        // Cut points inside the period: clock boundaries and kWh thresholds crossed by its energy.
        let mut cuts: Vec<DateTime<Utc>> = Vec::new();
        if end > start {
            let lo = clock_cuts.partition_point(|t| *t <= start);
            let hi = clock_cuts.partition_point(|t| *t < end);
            cuts.extend_from_slice(&clock_cuts[lo..hi]);
            if energy_wh > Decimal::ZERO {
                let span = nanos_between(start, end);
                let energy_after = energy_before
                    .checked_add(energy_wh)
                    .ok_or_else(overflow("energy"))?;
                for &k in &plan.kwh_wh {
                    if k > energy_before && k < energy_after {
                        // bounded: 0 < k - energy_before < energy_wh <= 1e9 Wh per dimension,
                        // times a month in ns.
                        let offset = k
                            .saturating_sub(energy_before)
                            .saturating_mul(Decimal::from(span))
                            .checked_div(energy_wh)
                            .map(|o| o.ceil());
                        if let Some(Ok(offset)) = offset.map(i64::try_from)
                            && offset > 0
                            && offset < span
                            // Before `end`, a valid instant.
                            && let Some(t) =
                                start.checked_add_signed(chrono::TimeDelta::nanoseconds(offset))
                        {
                            cuts.push(t);
                        }
                    }
                }
                cuts.sort_unstable();
                cuts.dedup();
            }
        }
        split.extend(cuts.iter().map(|t| (i, *t)));
        let whole = seconds_between(start, end);
        let mut from = start;
        let mut used = [Decimal::ZERO; 4];
        let last = cuts.len();
        for (j, to) in cuts.into_iter().chain(std::iter::once(end)).enumerate() {
            // The last piece takes what is left, so that the pieces add up exactly. bounded: a
            // piece is a part of the period's volume (at most 3.6e9 s or 1e9 Wh per dimension),
            // times at most a month in seconds.
            let share = |total: Decimal, k: usize, used: &mut [Decimal; 4]| -> Decimal {
                let v = if j == last {
                    total.saturating_sub(used[k])
                } else {
                    total
                        .saturating_mul(seconds_between(from, to))
                        .checked_div(whole)
                        .unwrap_or_default()
                };
                used[k] = used[k].saturating_add(v);
                v
            };
            let e = share(energy_wh, 0, &mut used);
            let t = share(time_s, 1, &mut used);
            let pk = share(parking_s, 2, &mut used);
            let r = share(reservation_s, 3, &mut used);
            out.push(PeriodFacts {
                start: from,
                end: to,
                local_start: local(tz, from),
                state,
                energy_before_wh: energy_before,
                energy_wh: e,
                elapsed_s: seconds_between(cdr.start_date_time, from),
                time_s: t,
                parking_s: pk,
                reservation_s: r,
                reservation,
                power_kw,
                current_a,
            });
            energy_before = energy_before
                .checked_add(e)
                .ok_or_else(overflow("energy"))?;
            from = to;
        }
    }
    Ok((out, split))
}

/// Prices `cdr` in `time_zone`, or, when none is given, in the zone its location states
/// ([`Cdr::time_zone`]). With neither it refuses ([`PricingError::NoTimeZone`]) rather than guess:
/// a country's zone is not the location's (France, Spain, Portugal and the Netherlands have
/// overseas ones), and pricing in UTC moves every time-of-day boundary. `joule tariff price` and the
/// pricing service's `PriceCdr` both price CDRs this way, so they answer alike.
pub fn price_cdr_in_zone(
    tariff: &Tariff,
    cdr: &Cdr,
    time_zone: Option<Tz>,
) -> Result<(PricedSession, Tz), PricingError> {
    let tz = match (time_zone, cdr.time_zone) {
        (Some(tz), _) => tz,
        (None, Some(tz)) => tz,
        (None, None) => {
            return Err(PricingError::NoTimeZone {
                country: cdr.country.clone(),
                suggestion: cdr
                    .country
                    .as_deref()
                    .and_then(crate::explain::zone_of_country),
            });
        }
    };
    let mut priced = price_cdr(tariff, cdr, tz)?;
    if time_zone.is_none() {
        priced.notes.push(format!(
            "time zone {} taken from the CDR's location",
            tz.name()
        ));
    }
    Ok((priced, tz))
}

fn serialize_zone<S: serde::Serializer>(zone: &Option<Tz>, s: S) -> Result<S::Ok, S::Error> {
    match zone {
        Some(z) => s.serialize_str(z.name()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn cdr(periods: &str) -> String {
        format!(
            r#"{{ "id": "c1", "currency": "EUR", "start_date_time": "2024-03-04T10:00:00Z",
                 "end_date_time": "2024-03-04T12:00:00Z", "charging_periods": {periods} }}"#
        )
    }

    #[test]
    fn reads_periods_in_time_order_with_their_dimensions() {
        let c = Cdr::parse(&cdr(
            r#"[ { "start_date_time": "2024-03-04T11:00:00Z", "dimensions": [{ "type": "PARKING_TIME", "volume": 1 }] },
                 { "start_date_time": "2024-03-04T10:00:00Z", "dimensions": [{ "type": "ENERGY", "volume": 20 }, { "type": "TIME", "volume": 1 }] } ]"#,
        ))
        .unwrap();
        assert_eq!(c.charging_periods.len(), 2);
        assert_eq!(
            c.charging_periods[0].dimensions,
            vec![
                (CdrDimension::Energy, dec!(20)),
                (CdrDimension::Time, dec!(1))
            ]
        );
        assert_eq!(c.energy(), Energy::from_kwh(dec!(20)));
    }

    #[test]
    fn errors_name_the_field() {
        let err = |json: &str| Cdr::parse(json).unwrap_err().to_string();
        assert_eq!(
            err(&cdr(r#"[]"#)),
            "charging_periods: must contain at least one charging period"
        );
        assert_eq!(
            err(&cdr(
                r#"[ { "start_date_time": "2024-03-04T10:00:00Z", "dimensions": [{ "type": "ENERGY", "volume": -1 }] } ]"#
            )),
            "charging_periods[0].dimensions[0].volume: must not be negative"
        );
        assert!(
            err(&cdr(
                r#"[ { "start_date_time": "2024-03-04T10:00:00Z", "dimensions": [{ "type": "KWH", "volume": 1 }] } ]"#
            ))
            .starts_with("charging_periods[0].dimensions[0].type: must be an OCPI CdrDimensionType")
        );
        assert_eq!(
            err(&cdr(
                r#"[ { "start_date_time": "2024-03-04T09:00:00Z", "dimensions": [] } ]"#
            )),
            "charging_periods[0].start_date_time: must lie between the CDR's start_date_time and end_date_time"
        );
        assert_eq!(
            err(r#"{ "start_date_time": "2024-03-04T10:00:00Z" }"#),
            "end_date_time: is required"
        );
    }

    const NIGHT: &str = r#"{ "id": "DE-NIGHT", "currency": "EUR", "elements": [
        { "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 19, "step_size": 1 }], "restrictions": { "start_time": "22:00", "end_time": "06:00" } },
        { "price_components": [{ "type": "ENERGY", "price": 0.35, "vat": 19, "step_size": 1 }] } ] }"#;

    /// 30 kWh from 20:30 to 21:30 UTC: 21:30-22:30 in Berlin (half at the night price), all day
    /// price in UTC.
    fn berlin_cdr(location: &str) -> Cdr {
        Cdr::parse(&format!(
            r#"{{ "id": "c1", "currency": "EUR", {location}
                 "start_date_time": "2025-01-15T20:30:00Z", "end_date_time": "2025-01-15T21:30:00Z",
                 "charging_periods": [{{ "start_date_time": "2025-01-15T20:30:00Z", "dimensions": [{{ "type": "ENERGY", "volume": 30 }}] }}] }}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_zone_is_given_or_the_locations_else_refused() {
        let tariff = Tariff::parse(NIGHT).unwrap();
        let stated =
            berlin_cdr(r#""cdr_location": { "country": "DEU", "time_zone": "Europe/Berlin" },"#);
        assert_eq!(stated.time_zone, Some(Tz::Europe__Berlin));
        let (p, tz) = price_cdr_in_zone(&tariff, &stated, None).unwrap();
        assert_eq!((tz, p.total_excl_vat), (Tz::Europe__Berlin, dec!(9)));
        assert!(
            p.notes
                .iter()
                .any(|n| n == "time zone Europe/Berlin taken from the CDR's location")
        );
        // A zone given wins over the location's.
        let (p, tz) = price_cdr_in_zone(&tariff, &stated, Some(Tz::UTC)).unwrap();
        assert_eq!((tz, p.total_excl_vat), (Tz::UTC, dec!(10.5)));
        // OCPI 2.1.1 CDRs carry the whole Location.
        let old = berlin_cdr(r#""location": { "country": "DEU", "time_zone": "Europe/Berlin" },"#);
        assert_eq!(old.time_zone, Some(Tz::Europe__Berlin));

        // A country alone is not a zone: refused, naming the likely one.
        let country_only = berlin_cdr(r#""cdr_location": { "country": "DEU" },"#);
        let e = price_cdr_in_zone(&tariff, &country_only, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no time zone given, and the CDR's location states none (cdr_location.time_zone); the location is in DEU, whose only zone is Europe/Berlin"
        );
        let e = price_cdr_in_zone(
            &tariff,
            &berlin_cdr(r#""cdr_location": { "country": "ESP" },"#),
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().ends_with(
                "the location is in ESP, which has more than one zone or none Joule knows"
            ),
            "{e}"
        );
        assert!(matches!(
            price_cdr_in_zone(&tariff, &berlin_cdr(""), None),
            Err(PricingError::NoTimeZone {
                country: None,
                suggestion: None
            })
        ));
        let (p, _) = price_cdr_in_zone(&tariff, &country_only, Some(Tz::Europe__Berlin)).unwrap();
        assert_eq!(p.total_excl_vat, dec!(9));

        let err = Cdr::parse(&cdr(r#"[]"#).replace(
            r#""id": "c1","#,
            r#""id": "c1", "cdr_location": { "time_zone": "Berlin" },"#,
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cdr_location.time_zone: must be an IANA time zone such as Europe/Berlin, not \"Berlin\""
        );
    }

    #[test]
    fn volumes_are_bounded_and_the_largest_price() {
        let err = |json: &str| Cdr::parse(json).unwrap_err().to_string();
        assert_eq!(
            err(&cdr(
                r#"[ { "start_date_time": "2024-03-04T10:00:00Z", "dimensions": [{ "type": "ENERGY", "volume": 1000001 }] } ]"#
            )),
            "charging_periods[0].dimensions[0].volume: must be at most 1000000 (Joule's limit for one dimension of a charging period), not 1000001"
        );
        // A CDR of centuries would take minutes to split into periods: its span is bounded.
        assert_eq!(
            err(
                r#"{ "currency": "EUR", "start_date_time": "1012-03-09T13:30:00Z", "end_date_time": "2024-03-09T16:35:00Z",
                     "charging_periods": [{ "start_date_time": "2024-03-09T13:30:00Z", "dimensions": [{ "type": "ENERGY", "volume": 1 }] }] }"#
            ),
            "end_date_time: the span must be at most 31 days"
        );
        // The largest volumes with the largest prices answer, over the longest span.
        let tariff = Tariff::parse(
            r#"{ "id": "max", "currency": "EUR", "elements": [{ "price_components": [
                 { "type": "FLAT", "price": 1000000, "vat": 100, "step_size": 1 },
                 { "type": "ENERGY", "price": 1000000, "vat": 100, "step_size": 86400 },
                 { "type": "TIME", "price": 1000000, "vat": 100, "step_size": 86400 },
                 { "type": "PARKING_TIME", "price": 1000000, "vat": 100, "step_size": 86400 } ],
                 "restrictions": { "max_kwh": 100000, "max_power": 10000 } },
               { "price_components": [{ "type": "ENERGY", "price": 1000000, "vat": 100, "step_size": 1 }] } ] }"#,
        )
        .unwrap();
        let huge = Cdr::parse(
            r#"{ "currency": "EUR", "start_date_time": "2024-01-01T00:00:00Z", "end_date_time": "2024-02-01T00:00:00Z",
                 "charging_periods": [
                   { "start_date_time": "2024-01-01T00:00:00Z", "dimensions": [
                       { "type": "ENERGY", "volume": 1000000 }, { "type": "ENERGY", "volume": 1000000 },
                       { "type": "TIME", "volume": 1000000 }, { "type": "MAX_POWER", "volume": 1000000 } ] },
                   { "start_date_time": "2024-01-16T00:00:00Z", "dimensions": [{ "type": "PARKING_TIME", "volume": 1000000 }] } ] }"#,
        )
        .unwrap();
        let p = price_cdr(&tariff, &huge, Tz::Europe__Amsterdam).unwrap();
        assert!(
            p.total_incl_vat > dec!(1000000000000),
            "{}",
            p.total_incl_vat
        );
    }
}
