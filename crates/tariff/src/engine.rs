//! Pricing: from periods to a [`PricedSession`].
//!
//! For each period and each dimension the active component is the first, in list order, of the
//! elements that have a component of that dimension and whose restrictions hold. FLAT is billed once,
//! from the first period that has one. TIME counts charging periods, PARKING_TIME parking periods,
//! ENERGY every period's energy. `step_size` is applied once per session to ENERGY and once to TIME
//! and PARKING_TIME combined (OCPI 2.2.1 `mod_cdrs`, step_size): the energy total is rounded up with
//! the step of the component of the last period that billed energy; of the two time dimensions only
//! the one of the last period that billed time is rounded, with that period's component's step, so
//! charging time followed by billed parking is billed as measured. The added volume is billed at
//! that component's price.
//! `min_price` / `max_price` then bound the totals, excl. and incl. VAT independently.
//!
//! [`price_periods`] takes periods from any source so that pricing a CDR's charging periods can reuse
//! it; [`price_session`] builds them from Joule's own measurements.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use joule_domain::Energy;
use rust_decimal::Decimal;

use crate::arith;
use crate::breakdown::{
    ComponentRef, DimensionTotal, PriceBound, PriceLimitApplied, PriceLine, PricedPeriod,
    PricedSession,
};
use crate::error::PricingError;
use crate::model::{Dimension, Price, Tariff};
use crate::periods::{self, PeriodFacts, PeriodState};
use crate::usage::SessionUsage;

const SECONDS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);
const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Prices one of Joule's own sessions with `tariff`.
pub fn price_session(tariff: &Tariff, usage: &SessionUsage) -> Result<PricedSession, PricingError> {
    if usage.end < usage.start {
        return Err(PricingError::EndBeforeStart {
            start: usage.start,
            end: usage.end,
        });
    }
    if usage.energy.wh().is_sign_negative() && !usage.energy.wh().is_zero() {
        return Err(PricingError::NegativeEnergy(usage.energy.wh()));
    }
    // The driver accepted the tariff in force when the session started.
    if !tariff.is_active_at(usage.start) {
        return Err(PricingError::TariffNotActive {
            tariff_id: tariff.id.clone(),
            at: usage.start,
        });
    }
    let periods = periods::split(tariff, usage)?;
    finish(
        tariff,
        &periods,
        false,
        ExtrasContext {
            time_zone: usage.time_zone,
            start: usage.start,
            end: usage.end,
            charging_end: usage
                .charging_end
                .filter(|c| *c > usage.start && *c < usage.end),
            energy: usage.energy,
        },
    )
}

/// What the session-level parts of a price need besides the periods.
pub(crate) struct ExtrasContext {
    pub time_zone: Tz,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// When charging stopped, if it did before the end.
    pub charging_end: Option<DateTime<Utc>>,
    pub energy: Energy,
}

/// The most idle time priced, in seconds: about 30 million years, beyond any session (a Joule
/// session spans at most the ~292 years of nanoseconds an i64 holds; a CDR's parking would need
/// hundreds of thousands of periods at the largest volume). Below it the idle fee cannot overflow:
/// its price is at most 2.5e10 per hour, its step a day and its VAT 100 % (limits.rs).
const MAX_IDLE_SECONDS: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// Prices the periods and adds the tariff's own extras (the idle fee).
pub(crate) fn finish(
    tariff: &Tariff,
    periods: &[PeriodFacts],
    reservation_expired: bool,
    ctx: ExtrasContext,
) -> Result<PricedSession, PricingError> {
    let priced = price_periods(tariff, periods, reservation_expired)?;
    let mut session = PricedSession {
        tariff_id: tariff.id.clone(),
        currency: tariff.currency,
        time_zone: ctx.time_zone.name().to_owned(),
        start: ctx.start,
        end: ctx.end,
        charging_end: ctx.charging_end,
        energy: ctx.energy,
        lines: priced.lines,
        periods: priced.periods,
        dimensions: priced.dimensions,
        subtotal_excl_vat: priced.subtotal_excl_vat,
        subtotal_incl_vat: priced.subtotal_incl_vat,
        price_limit: priced.price_limit,
        extras: Vec::new(),
        total_excl_vat: priced.total_excl_vat,
        total_incl_vat: priced.total_incl_vat,
        notes: priced.notes,
    };
    if let Some(fee) = tariff.joule.as_ref().and_then(|j| j.idle_fee.as_ref()) {
        // Idle is the parking after charging stopped for good.
        let after = periods
            .iter()
            .rposition(|p| !p.reservation && p.state == PeriodState::Charging)
            // `i` indexes `periods`: one more cannot overflow.
            .map_or(0, |i| i.saturating_add(1));
        let idle_s = arith::sum(
            periods[after..]
                .iter()
                .filter(|p| !p.reservation)
                .map(|p| p.parking_s),
        )
        .filter(|s| *s <= MAX_IDLE_SECONDS)
        .ok_or_else(|| PricingError::overflow("the idle time"))?;
        if let Some(line) = crate::extras::idle_fee_line(fee, idle_s, tariff.currency) {
            session.checked_push_extra(line)?;
        }
    }
    Ok(session)
}

/// The priced parts that do not depend on where the periods came from.
pub(crate) struct PricedPeriods {
    pub lines: Vec<PriceLine>,
    pub periods: Vec<PricedPeriod>,
    pub dimensions: Vec<DimensionTotal>,
    pub subtotal_excl_vat: Decimal,
    pub subtotal_incl_vat: Decimal,
    pub price_limit: Option<PriceLimitApplied>,
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub notes: Vec<String>,
}

/// The volumes `step_size` rounds separately: energy, charging time, parking time, and the time of a
/// reservation (priced by its own elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Flat,
    Energy,
    Time,
    Parking,
    ReservationFlat,
    ReservationTime,
}

impl Bucket {
    const ALL: [Bucket; 6] = [
        Bucket::Flat,
        Bucket::Energy,
        Bucket::Time,
        Bucket::Parking,
        Bucket::ReservationFlat,
        Bucket::ReservationTime,
    ];

    fn dimension(self) -> Dimension {
        match self {
            Bucket::Flat | Bucket::ReservationFlat => Dimension::Flat,
            Bucket::Energy => Dimension::Energy,
            Bucket::Time | Bucket::ReservationTime => Dimension::Time,
            Bucket::Parking => Dimension::ParkingTime,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// What the bucket's volume is, for [`PricingError::Overflow`].
    fn what(self) -> &'static str {
        match self {
            Bucket::Flat | Bucket::ReservationFlat => "the flat fee",
            Bucket::Energy => "the energy",
            Bucket::Time => "the charging time",
            Bucket::Parking => "the parking time",
            Bucket::ReservationTime => "the reservation time",
        }
    }
}

/// Volume consumed under one component, in the dimension's base unit (Wh, seconds, sessions).
struct Usage {
    bucket: Bucket,
    component: ComponentRef,
    consumed: Decimal,
    step_added: Decimal,
}

/// Prices periods of any origin. `reservation_expired`: the session was a reservation that ended
/// without charging.
pub(crate) fn price_periods(
    tariff: &Tariff,
    periods: &[PeriodFacts],
    reservation_expired: bool,
) -> Result<PricedPeriods, PricingError> {
    let selections: Vec<[Option<ComponentRef>; 4]> = periods
        .iter()
        .map(|p| Dimension::ALL.map(|d| select(tariff, d, p, reservation_expired)))
        .collect();

    let mut usages: Vec<Usage> = Vec::with_capacity(4);
    let mut add = |bucket: Bucket, component: ComponentRef, volume: Decimal| {
        match usages
            .iter_mut()
            .find(|u| u.bucket == bucket && u.component == component)
        {
            Some(u) => {
                u.consumed = u
                    .consumed
                    .checked_add(volume)
                    .ok_or_else(|| PricingError::overflow(bucket.what()))?;
            }
            None => usages.push(Usage {
                bucket,
                component,
                consumed: volume,
                step_added: Decimal::ZERO,
            }),
        }
        Ok::<(), PricingError>(())
    };
    // FLAT is billed once per session, from the first period that has one; a reservation's own
    // FLAT (a booking fee) once more, from its first reservation period.
    if let Some(flat) = periods
        .iter()
        .zip(&selections)
        .find_map(|(p, s)| s[0].filter(|_| !p.reservation))
    {
        add(Bucket::Flat, flat, Decimal::ONE)?;
    }
    if let Some(flat) = periods
        .iter()
        .zip(&selections)
        .find_map(|(p, s)| s[0].filter(|_| p.reservation))
    {
        add(Bucket::ReservationFlat, flat, Decimal::ONE)?;
    }
    // The component of the last period that billed each bucket: its step_size rounds the total.
    let mut last: [Option<ComponentRef>; 6] = [None; 6];
    // TIME and PARKING_TIME share one rounding: the time bucket of the last period that billed time.
    let mut last_time_based: Option<Bucket> = None;
    for (p, s) in periods.iter().zip(&selections) {
        let volumes = [
            (Bucket::Energy, s[1], p.energy_wh),
            if p.reservation {
                (Bucket::ReservationTime, s[2], p.reservation_s)
            } else {
                (Bucket::Time, s[2], p.time_s)
            },
            (Bucket::Parking, s[3], p.parking_s),
        ];
        for (bucket, component, volume) in volumes {
            if let Some(component) = component
                && volume > Decimal::ZERO
            {
                add(bucket, component, volume)?;
                last[bucket.index()] = Some(component);
                if matches!(bucket, Bucket::Time | Bucket::Parking) {
                    last_time_based = Some(bucket);
                }
            }
        }
    }

    let total = |usages: &[Usage], b: Bucket| {
        arith::sum(usages.iter().filter(|u| u.bucket == b).map(|u| u.consumed))
            .ok_or_else(|| PricingError::overflow(b.what()))
    };
    // OCPI 2.2.1 `mod_cdrs`, step_size (release-2.2.1-bugfixes ca8c04c): "step_size SHALL only be
    // taken into account once per session for ... ENERGY and once for PARKING_TIME and TIME
    // combined"; "the charging duration is not rounded up, as it is followed by another time based
    // period". The `mod_tariffs` examples (Complex Tariff, switching to different Tariff Element #1,
    // switching to Free-of-Charge) round only the billable parking when billed parking follows
    // charging. ADR 021; the fixtures tariffs-14* and tariffs-21*.
    let mut steps: [Option<u32>; 6] = [None; 6];
    let mut round = |usages: &mut Vec<Usage>, bucket: Bucket| {
        let Some(component) = last[bucket.index()] else {
            return Ok(());
        };
        let step =
            tariff.elements[component.element].price_components[component.component].step_size;
        steps[bucket.index()] = Some(step);
        let consumed = total(usages, bucket)?;
        let added = checked_round_up(consumed, Decimal::from(step))
            .and_then(|r| r.checked_sub(consumed))
            .ok_or_else(|| PricingError::overflow(bucket.what()))?;
        if let Some(u) = usages
            .iter_mut()
            .find(|u| u.bucket == bucket && u.component == component)
        {
            u.step_added = added;
        }
        Ok::<(), PricingError>(())
    };
    let mut notes = Vec::new();
    round(&mut usages, Bucket::Energy)?;
    round(&mut usages, Bucket::ReservationTime)?;
    if let Some(bucket) = last_time_based {
        round(&mut usages, bucket)?;
    }

    let mut lines: Vec<PriceLine> = Vec::with_capacity(usages.len());
    for dimension in Dimension::ALL {
        for u in usages.iter().filter(|u| u.bucket.dimension() == dimension) {
            let pc = &tariff.elements[u.component.element].price_components[u.component.component];
            let overflow = || PricingError::overflow(u.bucket.what());
            let billed = u.consumed.checked_add(u.step_added).ok_or_else(overflow)?;
            let amount_excl_vat = pc
                .price
                .checked_mul(billed)
                .and_then(|a| a.checked_div(base_units_per_unit(dimension)))
                .ok_or_else(overflow)?;
            let amount_incl_vat = match pc.vat {
                Some(vat) => amount_excl_vat
                    .checked_mul(HUNDRED.saturating_add(vat))
                    .and_then(|a| a.checked_div(HUNDRED))
                    .ok_or_else(overflow)?,
                None => {
                    notes.push(format!(
                        "elements[{}].price_components[{}] ({dimension}) states no VAT; priced at 0 %",
                        u.component.element, u.component.component
                    ));
                    amount_excl_vat
                }
            };
            lines.push(PriceLine {
                dimension,
                element: u.component.element,
                component: u.component.component,
                description: describe(tariff, dimension, u.component),
                consumed: in_unit(dimension, u.consumed),
                volume: in_unit(dimension, billed),
                unit: dimension.unit(),
                unit_price: pc.price,
                vat_percent: pc.vat,
                amount_excl_vat: amount_excl_vat.normalize(),
                amount_incl_vat: amount_incl_vat.normalize(),
                reservation: matches!(u.bucket, Bucket::ReservationFlat | Bucket::ReservationTime),
            });
        }
    }
    if periods.iter().any(|p| p.current_a.is_none()) {
        for (i, element) in tariff.elements.iter().enumerate() {
            if element
                .restrictions
                .as_ref()
                .is_some_and(|r| r.min_current.is_some() || r.max_current.is_some())
            {
                notes.push(format!(
                    "elements[{i}] is restricted by current, which was not measured for every period; it did not apply where unknown"
                ));
            }
        }
    }

    let mut dimensions = Vec::new();
    for dimension in Dimension::ALL {
        let of: Vec<&PriceLine> = lines.iter().filter(|l| l.dimension == dimension).collect();
        if of.is_empty() {
            continue;
        }
        let step = Bucket::ALL
            .into_iter()
            .filter(|b| b.dimension() == dimension)
            .find_map(|b| steps[b.index()]);
        let sum_of = |what: &str, value: fn(&PriceLine) -> Decimal| {
            arith::sum(of.iter().map(|l| value(l)))
                .map(|v| v.normalize())
                .ok_or_else(|| PricingError::overflow(&format!("the {what} of {dimension}")))
        };
        dimensions.push(DimensionTotal {
            dimension,
            unit: dimension.unit(),
            consumed: sum_of("volume", |l| l.consumed)?,
            billed: sum_of("billed volume", |l| l.volume)?,
            step_size: step,
            amount_excl_vat: sum_of("amount", |l| l.amount_excl_vat)?,
            amount_incl_vat: sum_of("amount incl. VAT", |l| l.amount_incl_vat)?,
        });
    }

    let subtotal = |amount: fn(&PriceLine) -> Decimal| {
        arith::sum(lines.iter().map(amount))
            .map(|v| v.normalize())
            .ok_or_else(|| PricingError::overflow("the total"))
    };
    let subtotal_excl_vat = subtotal(|l| l.amount_excl_vat)?;
    let subtotal_incl_vat = subtotal(|l| l.amount_incl_vat)?;
    let (total_excl_vat, total_incl_vat, price_limit) =
        limit(tariff, subtotal_excl_vat, subtotal_incl_vat)?;

    Ok(PricedPeriods {
        lines,
        periods: merge_periods(periods, &selections)?,
        dimensions,
        subtotal_excl_vat,
        subtotal_incl_vat,
        price_limit,
        total_excl_vat,
        total_incl_vat,
        notes,
    })
}

fn select(
    tariff: &Tariff,
    dimension: Dimension,
    period: &PeriodFacts,
    reservation_expired: bool,
) -> Option<ComponentRef> {
    let relevant = match dimension {
        Dimension::Flat => true,
        Dimension::Energy => !period.reservation,
        Dimension::Time if period.reservation => true,
        Dimension::Time => period.state == PeriodState::Charging || period.time_s > Decimal::ZERO,
        Dimension::ParkingTime => {
            !period.reservation
                && (period.state == PeriodState::Parking || period.parking_s > Decimal::ZERO)
        }
    };
    if !relevant {
        return None;
    }
    tariff.elements.iter().enumerate().find_map(|(element, e)| {
        let (component, _) = e.component(dimension)?;
        e.applies_to(period, reservation_expired)
            .then_some(ComponentRef { element, component })
    })
}

/// Base units (Wh, seconds, sessions) per billing unit (kWh, hour, session).
fn base_units_per_unit(d: Dimension) -> Decimal {
    match d {
        Dimension::Flat => Decimal::ONE,
        Dimension::Energy => Decimal::ONE_THOUSAND,
        Dimension::Time | Dimension::ParkingTime => SECONDS_PER_HOUR,
    }
}

fn in_unit(d: Dimension, base: Decimal) -> Decimal {
    arith::per(base, base_units_per_unit(d)).normalize()
}

/// The smallest multiple of `step` that is at least `value` (`value` itself when `step` is 0), or
/// `None` when it does not fit a `Decimal`. Uses the exact remainder, so a value is never rounded
/// down by division error.
pub(crate) fn checked_round_up(value: Decimal, step: Decimal) -> Option<Decimal> {
    if step <= Decimal::ZERO {
        return Some(value);
    }
    let remainder = value.checked_rem(step)?;
    if remainder.is_zero() {
        Some(value)
    } else {
        value.checked_sub(remainder)?.checked_add(step)
    }
}

/// [`checked_round_up`] for a value known to leave room for one more step: saturates at
/// `Decimal`'s edge otherwise.
pub(crate) fn round_up(value: Decimal, step: Decimal) -> Decimal {
    checked_round_up(value, step).unwrap_or(Decimal::MAX)
}

fn describe(tariff: &Tariff, dimension: Dimension, c: ComponentRef) -> String {
    let element = &tariff.elements[c.element];
    let pc = &element.price_components[c.component];
    let price = pc.price.normalize();
    let currency = tariff.currency;
    let base = match dimension {
        Dimension::Flat => format!("Flat fee {price} {currency}"),
        Dimension::Energy => format!("Energy at {price} {currency}/kWh"),
        Dimension::Time => format!("Charging time at {price} {currency}/h"),
        Dimension::ParkingTime => format!("Parking time at {price} {currency}/h"),
    };
    match element
        .restrictions
        .as_ref()
        .map(|r| r.describe())
        .filter(|d| !d.is_empty())
    {
        Some(when) => format!("{base} ({when})"),
        None => base,
    }
}

/// Applies `min_price` then `max_price`. A bound without `incl_vat` moves the incl.-VAT total in
/// proportion to the excl.-VAT one, keeping the session's VAT rate; with no VAT to go by (a zero
/// subtotal) it adds no VAT.
fn limit(
    tariff: &Tariff,
    excl: Decimal,
    incl: Decimal,
) -> Result<(Decimal, Decimal, Option<PriceLimitApplied>), PricingError> {
    let overflow = || PricingError::overflow("the total within min_price/max_price");
    let mut applied = PriceLimitApplied {
        excl_vat_bound: None,
        incl_vat_bound: None,
        adjustment_excl_vat: Decimal::ZERO,
        adjustment_incl_vat: Decimal::ZERO,
    };
    let (mut e, mut i) = (excl, incl);
    let bounds: [(Option<&Price>, PriceBound); 2] = [
        (tariff.min_price.as_ref(), PriceBound::MinPrice),
        (tariff.max_price.as_ref(), PriceBound::MaxPrice),
    ];
    for (price, bound) in bounds {
        let Some(price) = price else { continue };
        let clamp = |v: Decimal, b: Decimal| match bound {
            PriceBound::MinPrice => v.max(b),
            PriceBound::MaxPrice => v.min(b),
        };
        let new_e = clamp(e, price.excl_vat);
        let new_i = match price.incl_vat {
            Some(b) => clamp(i, b),
            None if new_e == e => i,
            None if e.is_zero() => new_e,
            None => i
                .checked_mul(new_e)
                .and_then(|v| v.checked_div(e))
                .ok_or_else(overflow)?,
        };
        if new_e != e {
            applied.excl_vat_bound = Some(bound);
        }
        if new_i != i {
            applied.incl_vat_bound = Some(bound);
        }
        (e, i) = (new_e, new_i);
    }
    let (e, i) = (e.normalize(), i.normalize());
    if applied.excl_vat_bound.is_none() && applied.incl_vat_bound.is_none() {
        return Ok((e, i, None));
    }
    applied.adjustment_excl_vat = e.checked_sub(excl).ok_or_else(overflow)?.normalize();
    applied.adjustment_incl_vat = i.checked_sub(incl).ok_or_else(overflow)?.normalize();
    Ok((e, i, Some(applied)))
}

/// Joins neighbouring periods that had the same state and components, for a readable breakdown.
fn merge_periods(
    periods: &[PeriodFacts],
    selections: &[[Option<ComponentRef>; 4]],
) -> Result<Vec<PricedPeriod>, PricingError> {
    let mut out: Vec<PricedPeriod> = Vec::new();
    for (p, s) in periods.iter().zip(selections) {
        let energy = joule_domain::Energy::from_wh(p.energy_wh);
        if let Some(prev) = out.last_mut()
            && prev.state == p.state
            && Dimension::ALL
                .iter()
                .enumerate()
                .all(|(i, d)| prev.component(*d) == s[i])
        {
            prev.end = p.end;
            let sum = prev
                .energy
                .wh()
                .checked_add(energy.wh())
                .ok_or_else(|| PricingError::overflow("the energy of a period"))?;
            prev.energy = joule_domain::Energy::from_wh(sum.normalize());
            continue;
        }
        out.push(PricedPeriod {
            start: p.start,
            end: p.end,
            state: p.state,
            energy: joule_domain::Energy::from_wh(p.energy_wh.normalize()),
            flat: s[0],
            energy_component: s[1],
            time: s[2],
            parking_time: s[3],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn parked(parking_s: Decimal, energy_wh: Decimal) -> PeriodFacts {
        let t = Utc.with_ymd_and_hms(2024, 3, 4, 10, 0, 0).unwrap();
        PeriodFacts {
            start: t,
            end: t,
            local_start: t.naive_utc(),
            state: PeriodState::Parking,
            energy_before_wh: Decimal::ZERO,
            energy_wh,
            elapsed_s: Decimal::ZERO,
            time_s: Decimal::ZERO,
            parking_s,
            reservation_s: Decimal::ZERO,
            reservation: false,
            power_kw: None,
            current_a: None,
        }
    }

    fn context() -> ExtrasContext {
        let t = Utc.with_ymd_and_hms(2024, 3, 4, 10, 0, 0).unwrap();
        ExtrasContext {
            time_zone: chrono_tz::UTC,
            start: t,
            end: t,
            charging_end: None,
            energy: Energy::ZERO,
        }
    }

    fn overflow_of(result: Result<PricedSession, PricingError>) -> String {
        match result {
            Err(PricingError::Overflow { what }) => what,
            other => panic!("expected an overflow, got {other:?}"),
        }
    }

    #[test]
    fn volumes_summed_over_many_periods_that_overflow_are_an_error() {
        let tariff = Tariff::parse(
            r#"{ "id": "t", "currency": "EUR", "elements": [
                { "price_components": [{ "type": "ENERGY", "price": 0, "step_size": 1 },
                                       { "type": "PARKING_TIME", "price": 0, "step_size": 1 }] } ] }"#,
        )
        .unwrap();
        let half = Decimal::MAX / dec!(2) + Decimal::ONE;
        let energy = [parked(Decimal::ZERO, half), parked(Decimal::ZERO, half)];
        assert_eq!(
            overflow_of(finish(&tariff, &energy, false, context())),
            "the energy"
        );
        let parking = [parked(half, Decimal::ZERO), parked(half, Decimal::ZERO)];
        assert_eq!(
            overflow_of(finish(&tariff, &parking, false, context())),
            "the parking time"
        );
    }

    #[test]
    fn idle_time_beyond_the_bound_is_an_error() {
        let tariff = Tariff::parse(
            r#"{ "id": "i", "currency": "EUR", "elements": [
                   { "price_components": [{ "type": "ENERGY", "price": 0.30, "step_size": 1 }] }],
                 "joule": { "idle_fee": { "price_per_hour": 12, "grace_period_seconds": 600, "step_size": 60 } } }"#,
        )
        .unwrap();
        let idle = [parked(MAX_IDLE_SECONDS + Decimal::ONE, Decimal::ZERO)];
        assert_eq!(
            overflow_of(finish(&tariff, &idle, false, context())),
            "the idle time"
        );
        // At the bound, the fee is priced: 1e15 s less 600 s of grace, rounded up to whole minutes
        // (999,999,999,999,420 s), at 12/h.
        let idle = [parked(MAX_IDLE_SECONDS, Decimal::ZERO)];
        let priced = finish(&tariff, &idle, false, context()).unwrap();
        assert_eq!(priced.total_excl_vat, dec!(3333333333331.4));
    }

    #[test]
    fn round_up_goes_to_the_next_multiple_only_when_needed() {
        assert_eq!(round_up(dec!(115.2), dec!(1)), dec!(116));
        assert_eq!(round_up(dec!(115.2), dec!(25)), dec!(125));
        assert_eq!(round_up(dec!(500), dec!(500)), dec!(500));
        assert_eq!(round_up(dec!(0), dec!(300)), dec!(0));
        assert_eq!(round_up(dec!(7.5), dec!(0)), dec!(7.5));
        assert_eq!(
            round_up(dec!(900.0000000000000000001), dec!(300)),
            dec!(1200)
        );
    }
}
