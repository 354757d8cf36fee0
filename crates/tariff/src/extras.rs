//! What OCPI cannot express and operators ask for: an idle (overstay) fee, quotes before a session,
//! a running estimate during one, discounts and promotions, and subscriptions with included energy.
//!
//! Each is a pure function over a tariff or an already priced session, and each leaves its trace as
//! an [`ExtraLine`] of the priced session, so that the price stays explainable line by line.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use joule_domain::{Currency, Energy};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::arith::{negated, per, share};
use crate::breakdown::{ExtraKind, ExtraLine, PricedSession};
use crate::engine::round_up;
use crate::error::PricingError;
use crate::model::{Dimension, IdleFee, Tariff};
use crate::usage::SessionUsage;

const SECONDS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);
const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// The idle fee for `idle_s` seconds of parking after charging, or `None` when nothing is due.
///
/// bounded: `idle_s` is between 0 and 1e15 (the engine's `MAX_IDLE_SECONDS`), the price at most
/// 2.5e10 per hour, the step a day and the VAT 100 % (limits.rs), so no value below comes near
/// `Decimal`'s edge.
pub(crate) fn idle_fee_line(
    fee: &IdleFee,
    idle_s: Decimal,
    currency: Currency,
) -> Option<ExtraLine> {
    let billable = idle_s.saturating_sub(Decimal::from(fee.grace_period_seconds));
    if billable <= Decimal::ZERO {
        return None;
    }
    let billed = round_up(billable, Decimal::from(fee.step_size));
    let hours = per(billed, SECONDS_PER_HOUR);
    // Multiply before dividing: the hours of a step in seconds rarely divide exactly.
    let mut excl = per(fee.price_per_hour.saturating_mul(billed), SECONDS_PER_HOUR);
    let mut capped = false;
    if let Some(max) = fee.max_price
        && excl > max
    {
        excl = max;
        capped = true;
    }
    if excl.is_zero() {
        return None;
    }
    let incl = with_vat(excl, fee.vat);
    let grace_min = per(Decimal::from(fee.grace_period_seconds), Decimal::from(60));
    Some(ExtraLine {
        kind: ExtraKind::IdleFee,
        source: "joule.idle_fee".into(),
        description: format!(
            "Idle fee {} {currency}/h after {} min grace{}",
            fee.price_per_hour.normalize(),
            grace_min.normalize(),
            if capped {
                format!(", capped at {} {currency}", excl.normalize())
            } else {
                String::new()
            }
        ),
        volume: Some(hours.normalize()),
        unit: Some("h".into()),
        unit_price: Some(fee.price_per_hour),
        vat_percent: fee.vat,
        amount_excl_vat: excl.normalize(),
        amount_incl_vat: incl.normalize(),
    })
}

/// `excl` with `vat` percent added. Multiplies first, for the exact result; an amount so large that
/// the product overflows is divided first, and the result saturates at `Decimal`'s edge.
fn with_vat(excl: Decimal, vat: Option<Decimal>) -> Decimal {
    match vat {
        Some(v) => {
            let factor = HUNDRED.saturating_add(v);
            excl.checked_mul(factor)
                .and_then(|a| a.checked_div(HUNDRED))
                .unwrap_or_else(|| per(excl, HUNDRED).saturating_mul(factor))
        }
        None => excl,
    }
}

/// A price asked for before a session: `energy` delivered at constant `power_kw` from `start`,
/// then `parking_minutes` parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteRequest {
    pub start: DateTime<Utc>,
    pub energy_kwh: Decimal,
    pub power_kw: Decimal,
    #[serde(default)]
    pub parking_minutes: u32,
}

/// Quotes a session before it starts (for example 30 kWh at 50 kW starting now). The quote is the
/// engine's price of the session as requested, with every line and period, so it explains itself
/// like a real one; it assumes the power holds for the whole charge.
pub fn quote(
    tariff: &Tariff,
    request: &QuoteRequest,
    time_zone: Tz,
) -> Result<PricedSession, PricingError> {
    // The request limits (ADR 024) bound the charge and parking to a month: nothing below can
    // overflow, and the engine cuts the session into few periods.
    joule_domain::limits::check_quote(
        request.start,
        request.energy_kwh,
        request.power_kw,
        request.parking_minutes,
    )
    .map_err(|e| PricingError::InvalidQuote(e.to_string()))?;
    // Whole nanoseconds, rounded up so the energy is delivered within the charging time. Checked
    // all the same: the limits make these hold, the code does not rely on it.
    let too_long = || PricingError::InvalidQuote("energy_kwh: the charge takes too long".into());
    let nanos = request
        .energy_kwh
        .checked_div(request.power_kw)
        .and_then(|h| h.checked_mul(SECONDS_PER_HOUR))
        .and_then(|s| s.checked_mul(Decimal::from(1_000_000_000)))
        .map(|n| n.ceil())
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(too_long)?;
    let charging = TimeDelta::nanoseconds(nanos);
    let parking = TimeDelta::minutes(i64::from(request.parking_minutes));
    let (Some(charging_end), Some(end)) = (
        request.start.checked_add_signed(charging),
        request
            .start
            .checked_add_signed(charging)
            .and_then(|t| t.checked_add_signed(parking)),
    ) else {
        return Err(PricingError::InvalidQuote(
            "start: is too far in the future".into(),
        ));
    };
    let usage = SessionUsage {
        start: request.start,
        end,
        energy: Energy::from_kwh(request.energy_kwh),
        time_zone,
        samples: vec![
            (request.start, Energy::ZERO),
            (charging_end, Energy::from_kwh(request.energy_kwh)),
        ],
        charging_end: (request.parking_minutes > 0).then_some(charging_end),
    };
    let mut priced = crate::engine::price_session(tariff, &usage)?;
    priced
        .notes
        .push("quote: constant power assumed for the whole charge".into());
    Ok(priced)
}

/// What is known of a session still running.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningSession {
    pub start: DateTime<Utc>,
    /// Meter readings so far (register values).
    pub samples: Vec<(DateTime<Utc>, Energy)>,
    /// Energy delivered up to `now`.
    pub energy_so_far: Energy,
    /// When the car stopped charging, if it did.
    pub charging_end: Option<DateTime<Utc>>,
    pub time_zone: Tz,
}

/// The cost so far of a running session, as if it stopped at `now`: for showing the cost on the
/// charger and for sizing a payment hold. `step_size` rounds as if the session ended now, so the
/// estimate never undershoots what a stop at `now` would cost.
pub fn running_estimate(
    tariff: &Tariff,
    session: &RunningSession,
    now: DateTime<Utc>,
) -> Result<PricedSession, PricingError> {
    let usage = SessionUsage {
        start: session.start,
        end: now.max(session.start),
        energy: session.energy_so_far,
        time_zone: session.time_zone,
        samples: session.samples.clone(),
        charging_end: session.charging_end,
    };
    let mut priced = crate::engine::price_session(tariff, &usage)?;
    priced
        .notes
        .push(format!("estimate: the session as if it stopped at {now}"));
    Ok(priced)
}

/// Who a discount is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscountScope {
    /// Everyone.
    All,
    Account(String),
    Fleet(String),
    /// Whoever presents the code.
    PromoCode(String),
}

/// How much a discount takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscountValue {
    /// A percentage of the payable total.
    Percent(Decimal),
    /// An amount excl. VAT, never more than the total.
    Amount(Decimal),
}

/// A discount or promotion, valid from `valid_from` (inclusive) to `valid_until` (exclusive), judged
/// at the session start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    pub id: String,
    pub description: String,
    pub scope: DiscountScope,
    pub value: DiscountValue,
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

/// Who is charging, for choosing discounts and plans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    pub account_id: Option<String>,
    pub fleet_id: Option<String>,
    pub promo_codes: Vec<String>,
}

impl Discount {
    pub fn applies(&self, customer: &Customer, at: DateTime<Utc>) -> bool {
        let in_time =
            self.valid_from.is_none_or(|f| at >= f) && self.valid_until.is_none_or(|u| at < u);
        let for_them = match &self.scope {
            DiscountScope::All => true,
            DiscountScope::Account(a) => customer.account_id.as_deref() == Some(a.as_str()),
            DiscountScope::Fleet(f) => customer.fleet_id.as_deref() == Some(f.as_str()),
            DiscountScope::PromoCode(c) => customer.promo_codes.iter().any(|p| p == c),
        };
        in_time && for_them
    }
}

/// Applies the discounts that hold for `customer` at the session start, in the order given, each to
/// what is left to pay. The total never goes below zero; VAT moves with the session's own rate.
/// Each discount is a share of what is payable, so nothing here can overflow.
pub fn apply_discounts(session: &mut PricedSession, discounts: &[Discount], customer: &Customer) {
    let start = session.start;
    for d in discounts.iter().filter(|d| d.applies(customer, start)) {
        let (excl, incl) = (session.total_excl_vat, session.total_incl_vat);
        if excl <= Decimal::ZERO {
            break;
        }
        let off_excl = match d.value {
            DiscountValue::Percent(p) => share(excl, p.clamp(Decimal::ZERO, HUNDRED), HUNDRED),
            DiscountValue::Amount(a) => a.clamp(Decimal::ZERO, excl),
        };
        if off_excl.is_zero() {
            continue;
        }
        // 0 < off_excl <= excl.
        let off_incl = share(incl, off_excl, excl);
        let (description, vat_percent) = match d.value {
            DiscountValue::Percent(p) => {
                (format!("{} ({}% off)", d.description, p.normalize()), None)
            }
            DiscountValue::Amount(a) => (
                format!(
                    "{} ({} {} off)",
                    d.description,
                    a.normalize(),
                    session.currency
                ),
                None,
            ),
        };
        session.push_extra(ExtraLine {
            kind: ExtraKind::Discount,
            source: d.id.clone(),
            description,
            volume: None,
            unit: None,
            unit_price: None,
            vat_percent,
            amount_excl_vat: negated(off_excl).normalize(),
            amount_incl_vat: negated(off_incl).normalize(),
        });
    }
}

/// A subscription: a monthly fee, energy included each month, and optionally member prices (a
/// tariff of its own, which the service prices members with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionPlan {
    pub id: String,
    pub name: String,
    pub currency: Currency,
    /// Excl. VAT.
    pub monthly_fee: Decimal,
    #[serde(default)]
    pub monthly_fee_vat: Option<Decimal>,
    pub included_kwh: Decimal,
    /// Joule tariff id of the member prices, if the plan has them.
    #[serde(default)]
    pub member_tariff_id: Option<String>,
}

impl SubscriptionPlan {
    /// The monthly fee as a line, for the subscription's own invoice. A fee whose amount incl. VAT
    /// exceeds `Decimal` (about 7.9e28) saturates at its edge.
    pub fn monthly_fee_line(&self, month: &str) -> ExtraLine {
        ExtraLine {
            kind: ExtraKind::SubscriptionFee,
            source: self.id.clone(),
            description: format!("{} subscription, {month}", self.name),
            volume: Some(Decimal::ONE),
            unit: Some("month".into()),
            unit_price: Some(self.monthly_fee),
            vat_percent: self.monthly_fee_vat,
            amount_excl_vat: self.monthly_fee,
            amount_incl_vat: with_vat(self.monthly_fee, self.monthly_fee_vat).normalize(),
        }
    }
}

/// Credits the energy still included in the member's plan this month (`used_kwh` already used), at
/// the prices of the session's energy lines, first line first. Returns the kWh it used.
///
/// bounded: the credit is a part of the energy lines, whose volumes and amounts the engine summed
/// checked, so the sums below cannot reach `Decimal`'s edge.
pub fn apply_subscription(
    session: &mut PricedSession,
    plan: &SubscriptionPlan,
    used_kwh: Decimal,
) -> Decimal {
    // Saturating is exact once clamped: energy left beyond `Decimal` covers every line anyway.
    let left_before = plan
        .included_kwh
        .saturating_sub(used_kwh)
        .max(Decimal::ZERO);
    let mut left = left_before;
    let (mut credit_excl, mut credit_incl, mut covered) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for line in session
        .lines
        .iter()
        .filter(|l| l.dimension == Dimension::Energy)
    {
        if left <= Decimal::ZERO {
            break;
        }
        let kwh = line.volume.min(left);
        left = left.saturating_sub(kwh);
        covered = covered.saturating_add(kwh);
        let excl = kwh.saturating_mul(line.unit_price);
        credit_excl = credit_excl.saturating_add(excl);
        credit_incl = credit_incl.saturating_add(with_vat(excl, line.vat_percent));
    }
    // Never credit more than is payable (a max_price may already have lowered it).
    credit_excl = credit_excl.min(session.total_excl_vat.max(Decimal::ZERO));
    credit_incl = credit_incl.min(session.total_incl_vat.max(Decimal::ZERO));
    if covered > Decimal::ZERO && !credit_excl.is_zero() {
        session.push_extra(ExtraLine {
            kind: ExtraKind::SubscriptionAllowance,
            source: plan.id.clone(),
            description: format!(
                "{} kWh included in {} ({} of {} kWh left before)",
                covered.normalize(),
                plan.name,
                left_before.normalize(),
                plan.included_kwh.normalize()
            ),
            volume: Some(covered.normalize()),
            unit: Some("kWh".into()),
            unit_price: None,
            vat_percent: None,
            amount_excl_vat: negated(credit_excl).normalize(),
            amount_incl_vat: negated(credit_incl).normalize(),
        });
    }
    covered
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 4, h, m, 0).unwrap()
    }

    const ENERGY_030: &str = r#"{ "id": "e", "currency": "EUR", "elements": [
        { "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 20, "step_size": 1 }] } ] }"#;

    #[test]
    fn idle_fee_starts_after_the_grace_period_and_is_capped() {
        let fee = IdleFee {
            price_per_hour: dec!(6),
            vat: Some(dec!(20)),
            grace_period_seconds: 900,
            step_size: 60,
            max_price: Some(dec!(10)),
        };
        // 14 min of idle: inside the grace period.
        assert!(idle_fee_line(&fee, dec!(840), Currency::EUR).is_none());
        // 45 min 30 s idle: 30 min 30 s billable, rounded to 31 min: 3.10 (3.72 incl.).
        let line = idle_fee_line(&fee, dec!(2730), Currency::EUR).unwrap();
        assert_eq!(
            (line.amount_excl_vat, line.amount_incl_vat),
            (dec!(3.1), dec!(3.72))
        );
        // 5 hours idle: 6/h * 4.75 h = 28.50, capped at 10.
        let line = idle_fee_line(&fee, dec!(18000), Currency::EUR).unwrap();
        assert_eq!(
            (line.amount_excl_vat, line.amount_incl_vat),
            (dec!(10), dec!(12))
        );
        assert!(line.description.contains("capped"));
    }

    #[test]
    fn a_tariff_with_an_idle_fee_bills_the_overstay() {
        let tariff = Tariff::parse(
            r#"{ "id": "i", "currency": "EUR",
                 "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 20, "step_size": 1 }] }],
                 "joule": { "idle_fee": { "price_per_hour": 12, "vat": 20, "grace_period_seconds": 600, "step_size": 60, "max_price": 20 } } }"#,
        )
        .unwrap();
        let usage = SessionUsage {
            start: t(10, 0),
            end: t(11, 40),
            energy: Energy::from_kwh(dec!(20)),
            time_zone: Tz::UTC,
            samples: vec![],
            charging_end: Some(t(11, 0)),
        };
        // 20 kWh: 6.00 (7.20). Idle 40 min - 10 grace = 30 min at 12/h: 6.00 (7.20).
        let p = crate::engine::price_session(&tariff, &usage).unwrap();
        assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(12), dec!(14.4)));
        assert_eq!(p.tariff_total(), (dec!(6), dec!(7.2)));
        assert_eq!(p.extras[0].kind, ExtraKind::IdleFee);
        assert_eq!(p.extras[0].volume, Some(dec!(0.5)));
    }

    #[test]
    fn a_quote_prices_30_kwh_at_50_kw() {
        let tariff = Tariff::parse(ENERGY_030).unwrap();
        let q = quote(
            &tariff,
            &QuoteRequest {
                start: t(10, 0),
                energy_kwh: dec!(30),
                power_kw: dec!(50),
                parking_minutes: 0,
            },
            Tz::Europe__Berlin,
        )
        .unwrap();
        assert_eq!((q.total_excl_vat, q.total_incl_vat), (dec!(9), dec!(10.8)));
        assert_eq!(q.end, t(10, 36));
        assert!(
            quote(
                &tariff,
                &QuoteRequest {
                    start: t(10, 0),
                    energy_kwh: dec!(30),
                    power_kw: dec!(0),
                    parking_minutes: 0
                },
                Tz::UTC
            )
            .is_err()
        );
    }

    /// The largest prices Joule accepts, every dimension, with min/max_price and an idle fee.
    const AT_THE_LIMITS: &str = r#"{ "id": "max", "currency": "EUR",
        "min_price": { "excl_vat": 1000000, "incl_vat": 1000000 },
        "max_price": { "excl_vat": 1000000, "incl_vat": 1000000 },
        "elements": [
          { "price_components": [{ "type": "ENERGY", "price": 1000000, "vat": 100, "step_size": 86400 },
                                 { "type": "TIME", "price": 1000000, "vat": 100, "step_size": 86400 }],
            "restrictions": { "start_time": "22:00", "end_time": "06:00", "max_kwh": 100000 } },
          { "price_components": [{ "type": "FLAT", "price": 1000000, "vat": 100, "step_size": 1 },
                                 { "type": "ENERGY", "price": 1000000, "vat": 100, "step_size": 1 },
                                 { "type": "TIME", "price": 1000000, "vat": 100, "step_size": 1 },
                                 { "type": "PARKING_TIME", "price": 1000000, "vat": 100, "step_size": 86400 }] } ],
        "joule": { "idle_fee": { "price_per_hour": 1000000, "vat": 100, "max_price": 1000000 } } }"#;

    #[test]
    fn a_quote_at_the_largest_prices_and_the_longest_session_answers() {
        let without_bounds = |json: &str| {
            let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
            v.as_object_mut().unwrap().remove("min_price");
            v.as_object_mut().unwrap().remove("max_price");
            Tariff::from_value(&v).unwrap()
        };
        let bounded = Tariff::parse(AT_THE_LIMITS).unwrap();
        let unbounded = without_bounds(AT_THE_LIMITS);
        // 100,000 kWh at 135 kW: 740.7 h of charging, then 3 h parked: a month in all, the most
        // a quote may span (ADR 024).
        let request = QuoteRequest {
            start: t(10, 0),
            energy_kwh: dec!(100000),
            power_kw: dec!(135),
            parking_minutes: 180,
        };
        let q = quote(&unbounded, &request, Tz::Europe__Berlin).unwrap();
        assert!(
            q.total_excl_vat > dec!(100000000000),
            "{}",
            q.total_excl_vat
        );
        // 100 % VAT, to the 28 digits a Decimal has.
        assert!(
            (q.total_incl_vat - q.total_excl_vat * dec!(2)).abs() < dec!(0.000001),
            "{} {}",
            q.total_excl_vat,
            q.total_incl_vat
        );
        // max_price bounds the tariff's price; the idle fee (capped on its own) comes on top.
        let q = quote(&bounded, &request, Tz::Europe__Berlin).unwrap();
        assert_eq!(q.tariff_total(), (dec!(1000000), dec!(1000000)));
        assert_eq!(q.total_excl_vat, dec!(2000000));

        let refused = |start, energy_kwh, power_kw, parking_minutes| {
            quote(
                &bounded,
                &QuoteRequest {
                    start,
                    energy_kwh,
                    power_kw,
                    parking_minutes,
                },
                Tz::UTC,
            )
            .unwrap_err()
            .to_string()
        };
        let field = |message: String| {
            message
                .strip_prefix("quote: ")
                .and_then(|m| m.split(':').next())
                .map(str::to_owned)
                .unwrap_or(message)
        };
        for (energy_kwh, power_kw, parking_minutes, named) in [
            (dec!(100000), dec!(134), 0, "energy_kwh"),
            (dec!(100000), dec!(135), 240, "parking_minutes"),
            (dec!(30), dec!(50), u32::MAX, "parking_minutes"),
            (dec!(100000), Decimal::new(1, 28), 0, "energy_kwh"),
            (Decimal::MAX, dec!(50), 0, "energy_kwh"),
            (dec!(30), dec!(10001), 0, "power_kw"),
            (dec!(30), dec!(0), 0, "power_kw"),
        ] {
            assert_eq!(
                field(refused(t(10, 0), energy_kwh, power_kw, parking_minutes)),
                named,
                "{energy_kwh} kWh at {power_kw} kW, {parking_minutes} min"
            );
        }
        assert_eq!(
            field(refused(DateTime::<Utc>::MAX_UTC, dec!(30), dec!(50), 0)),
            "start"
        );
    }

    #[test]
    fn a_running_estimate_prices_the_session_so_far() {
        let tariff = Tariff::parse(
            r#"{ "id": "t", "currency": "EUR", "elements": [{ "price_components": [
                 { "type": "FLAT", "price": 1, "step_size": 0 },
                 { "type": "TIME", "price": 2.40, "step_size": 900 } ] }] }"#,
        )
        .unwrap();
        let running = RunningSession {
            start: t(10, 0),
            samples: vec![],
            energy_so_far: Energy::from_kwh(dec!(4)),
            charging_end: None,
            time_zone: Tz::UTC,
        };
        // 20 minutes so far, billed as 30: 1 + 1.20.
        let e = running_estimate(&tariff, &running, t(10, 20)).unwrap();
        assert_eq!(e.total_excl_vat, dec!(2.2));
        assert!(e.notes.iter().any(|n| n.starts_with("estimate")));
    }

    fn priced(kwh: Decimal) -> PricedSession {
        let usage = SessionUsage {
            start: t(10, 0),
            end: t(11, 0),
            energy: Energy::from_kwh(kwh),
            time_zone: Tz::UTC,
            samples: vec![],
            charging_end: None,
        };
        crate::engine::price_session(&Tariff::parse(ENERGY_030).unwrap(), &usage).unwrap()
    }

    #[test]
    fn discounts_apply_by_scope_and_time_and_never_go_below_zero() {
        let customer = Customer {
            account_id: Some("acct-1".into()),
            fleet_id: Some("fleet-9".into()),
            promo_codes: vec!["SPRING".into()],
        };
        let discounts = vec![
            Discount {
                id: "fleet".into(),
                description: "Fleet contract".into(),
                scope: DiscountScope::Fleet("fleet-9".into()),
                value: DiscountValue::Percent(dec!(10)),
                valid_from: None,
                valid_until: None,
            },
            Discount {
                id: "other".into(),
                description: "Someone else".into(),
                scope: DiscountScope::Account("acct-2".into()),
                value: DiscountValue::Percent(dec!(50)),
                valid_from: None,
                valid_until: None,
            },
            Discount {
                id: "expired".into(),
                description: "Winter".into(),
                scope: DiscountScope::All,
                value: DiscountValue::Percent(dec!(50)),
                valid_from: None,
                valid_until: Some(t(9, 0)),
            },
            Discount {
                id: "spring".into(),
                description: "Spring promotion".into(),
                scope: DiscountScope::PromoCode("SPRING".into()),
                value: DiscountValue::Amount(dec!(100)),
                valid_from: Some(t(0, 0)),
                valid_until: None,
            },
        ];
        // 20 kWh: 6.00 (7.20); 10 % off: 5.40 (6.48); 100 off is capped at what is left: 0.
        let mut p = priced(dec!(20));
        apply_discounts(&mut p, &discounts, &customer);
        assert_eq!(p.extras.len(), 2);
        assert_eq!(
            (p.extras[0].amount_excl_vat, p.extras[0].amount_incl_vat),
            (dec!(-0.6), dec!(-0.72))
        );
        assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(0), dec!(0)));
        assert_eq!(p.tariff_total(), (dec!(6), dec!(7.2)));
    }

    #[test]
    fn a_subscription_credits_the_included_energy_left() {
        let plan = SubscriptionPlan {
            id: "plus".into(),
            name: "Plus".into(),
            currency: Currency::EUR,
            monthly_fee: dec!(9.99),
            monthly_fee_vat: Some(dec!(20)),
            included_kwh: dec!(50),
            member_tariff_id: None,
        };
        // 45 kWh used this month, 5 left: 20 kWh session pays 15 kWh: 4.50 (5.40).
        let mut p = priced(dec!(20));
        assert_eq!(apply_subscription(&mut p, &plan, dec!(45)), dec!(5));
        assert_eq!((p.total_excl_vat, p.total_incl_vat), (dec!(4.5), dec!(5.4)));
        // Allowance used up: nothing credited.
        let mut p = priced(dec!(20));
        assert_eq!(apply_subscription(&mut p, &plan, dec!(60)), dec!(0));
        assert!(p.extras.is_empty());
        let fee = plan.monthly_fee_line("2024-03");
        assert_eq!(fee.amount_incl_vat, dec!(11.988));
    }
}
