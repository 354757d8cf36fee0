//! A reservation's fee: the reservation as an OCPI CDR with one charging period, from the acceptance
//! to the end, whose one dimension is RESERVATION_TIME in hours; priced with the charger's tariff by
//! pricing's `PriceCdr`. The fee is the CDR's `total_reservation_cost`: a tariff without a
//! reservation element gives zero.
//!
//! OCPI's RESERVATION_EXPIRES elements price a reservation that expired (no session started before
//! its expiry); RESERVATION elements price any reservation. The tariff engine tells the two apart
//! by the CDR: one of reservation time only is a reservation that ended without charging. So a used
//! or cancelled reservation, priced alone, is priced with the version of the tariff in force at
//! its acceptance minus its RESERVATION_EXPIRES elements ([`without_expiry_elements`], passed to
//! `PriceCdr` inline); an expired one, and one whose tariff has no such element, by the tariff's id.

use chrono::{DateTime, Utc};
use joule_domain::{Currency, Money, TariffId};
use joule_proto::v1::{PriceBreakdown, TariffVersion};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::reservation::{Fee, ReservationId};

const MILLISECONDS_PER_HOUR: Decimal = Decimal::from_parts(3_600_000, 0, 0, false, 0);

/// The hours from `from` to `to` (milliseconds precise; none when `to` is not after `from`).
pub fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
    let ms = to.signed_duration_since(from).num_milliseconds().max(0);
    Decimal::from(ms)
        .checked_div(MILLISECONDS_PER_HOUR)
        .unwrap_or_default()
        .normalize()
}

/// The OCPI CDR of the reservation held from `from` to `to`.
pub fn cdr(id: ReservationId, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "id": format!("reservation-{id}"),
        "start_date_time": stamp(from),
        "end_date_time": stamp(to),
        "charging_periods": [{
            "start_date_time": stamp(from),
            "dimensions": [{"type": "RESERVATION_TIME", "volume": hours(from, to).to_string()}]
        }]
    })
}

/// The OCPI tariff `json` without its RESERVATION_EXPIRES elements; `None` when it has none (or is
/// not a tariff object: pricing says what is wrong with it).
pub fn without_expiry_elements(json: &str) -> Option<String> {
    let mut tariff: Value = serde_json::from_str(json).ok()?;
    let elements = tariff.get_mut("elements")?.as_array_mut()?;
    let before = elements.len();
    elements.retain(|e| e["restrictions"]["reservation"] != "RESERVATION_EXPIRES");
    (elements.len() != before).then(|| tariff.to_string())
}

/// The version of a tariff in force at `at`, as pricing chooses it: the newest whose `valid_from`
/// is not after `at` (none: in force from the beginning).
pub fn in_force(versions: &[TariffVersion], at: DateTime<Utc>) -> Option<&TariffVersion> {
    versions
        .iter()
        .filter(|v| {
            joule_proto::time::from_proto(v.valid_from.as_ref()).is_none_or(|from| from <= at)
        })
        .max_by_key(|v| v.version)
}

#[derive(Deserialize)]
struct Totals {
    total_reservation_cost: Price,
}

#[derive(Deserialize)]
struct Price {
    excl_vat: Decimal,
    incl_vat: Decimal,
}

#[derive(Deserialize)]
struct Breakdown {
    currency: Currency,
}

/// The fee in pricing's answer; `version` when the tariff was sent inline (pricing then knows none).
pub fn of(
    tariff_id: TariffId,
    version: Option<u32>,
    answer: &PriceBreakdown,
) -> Result<Fee, String> {
    let totals: Totals =
        serde_json::from_str(&answer.totals_json).map_err(|e| format!("totals_json: {e}"))?;
    let breakdown: Breakdown =
        serde_json::from_str(&answer.breakdown_json).map_err(|e| format!("breakdown_json: {e}"))?;
    let price = totals.total_reservation_cost;
    Ok(Fee {
        excl_vat: Money::new(price.excl_vat, breakdown.currency),
        incl_vat: Money::new(price.incl_vat, breakdown.currency),
        tariff_id,
        tariff_version: version.unwrap_or(answer.tariff_version),
    })
}

#[cfg(test)]
mod tests {
    use joule_tariff::{Cdr, Tariff, price_cdr};
    use rust_decimal_macros::dec;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn tariff(elements: Value) -> Tariff {
        let json = json!({
            "id": "T1", "country_code": "DE", "party_id": "JOU", "currency": "EUR",
            "elements": elements,
            "last_updated": "2026-01-01T00:00:00Z"
        });
        Tariff::parse(&json.to_string()).expect("tariff")
    }

    fn priced(tariff: &Tariff, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
        let cdr = Cdr::parse(&cdr(ReservationId::new(), from, to).to_string()).expect("our CDR");
        let priced = price_cdr(tariff, &cdr, chrono_tz::Europe::Berlin).expect("priced");
        serde_json::to_value(joule_tariff::OcpiTotals::of(&priced)).unwrap()
    }

    #[test]
    fn hours_are_exact_to_the_millisecond_and_never_negative() {
        assert_eq!(hours(at(0), at(5400)), dec!(1.5));
        assert_eq!(hours(at(0), at(0)), Decimal::ZERO);
        assert_eq!(hours(at(10), at(0)), Decimal::ZERO);
        assert_eq!(
            hours(at(0), at(0) + chrono::TimeDelta::milliseconds(36)),
            dec!(0.00001)
        );
    }

    #[test]
    fn the_reservation_time_is_priced_by_the_reservation_element_only() {
        let t = tariff(json!([
            {"price_components": [{"type": "TIME", "price": 2.00, "vat": 19.0, "step_size": 60}],
             "restrictions": {"reservation": "RESERVATION"}},
            {"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 19.0, "step_size": 1}]}
        ]));
        let totals = priced(&t, at(0), at(1800));
        let cost = &totals["total_reservation_cost"];
        assert_eq!(decimal(&cost["excl_vat"]), dec!(1));
        assert_eq!(decimal(&cost["incl_vat"]), dec!(1.19));
    }

    #[test]
    fn a_tariff_without_a_reservation_element_costs_nothing() {
        let t = tariff(json!([
            {"price_components": [{"type": "TIME", "price": 2.00, "vat": 19.0, "step_size": 60}]},
        ]));
        let totals = priced(&t, at(0), at(1800));
        let cost = &totals["total_reservation_cost"];
        assert_eq!(decimal(&cost["excl_vat"]), Decimal::ZERO);
        assert_eq!(decimal(&totals["total_cost"]["excl_vat"]), Decimal::ZERO);
    }

    #[test]
    fn the_fee_is_read_from_pricings_answer() {
        let answer = PriceBreakdown {
            tariff_id: "x".into(),
            tariff_version: 3,
            breakdown_json: json!({"currency": "EUR", "lines": []}).to_string(),
            totals_json:
                json!({"total_reservation_cost": {"excl_vat": "1.5", "incl_vat": "1.785"}})
                    .to_string(),
        };
        let tariff_id = TariffId::new();
        let fee = of(tariff_id, None, &answer).unwrap();
        assert_eq!(fee.excl_vat.amount, dec!(1.5));
        assert_eq!(fee.incl_vat.amount, dec!(1.785));
        assert_eq!(fee.excl_vat.currency.to_string(), "EUR");
        assert_eq!(fee.tariff_version, 3);
        assert!(of(tariff_id, None, &PriceBreakdown::default()).is_err());
        assert_eq!(of(tariff_id, Some(2), &answer).unwrap().tariff_version, 2);
    }

    /// A no-show fee first, then the hourly reservation price.
    fn no_show_first() -> Value {
        json!([
            {"price_components": [{"type": "FLAT", "price": 5.00, "vat": 19.0, "step_size": 1}],
             "restrictions": {"reservation": "RESERVATION_EXPIRES"}},
            {"price_components": [{"type": "TIME", "price": 2.00, "vat": 19.0, "step_size": 60}],
             "restrictions": {"reservation": "RESERVATION"}},
            {"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 19.0, "step_size": 1}]}
        ])
    }

    #[test]
    fn a_reservation_that_did_not_expire_is_not_priced_as_a_no_show() {
        let elements = no_show_first();
        let excl = |t: &Tariff| {
            let totals = priced(t, at(0), at(1800));
            decimal(&totals["total_reservation_cost"]["excl_vat"])
        };
        // Alone, the reservation reads as expired: the engine adds the no-show fee to the time.
        assert_eq!(excl(&tariff(elements.clone())), dec!(6));
        let json = json!({
            "id": "T1", "country_code": "DE", "party_id": "JOU", "currency": "EUR",
            "elements": elements, "last_updated": "2026-01-01T00:00:00Z"
        })
        .to_string();
        let stripped =
            without_expiry_elements(&json).expect("it has a RESERVATION_EXPIRES element");
        let stripped = Tariff::parse(&stripped).unwrap();
        assert_eq!(stripped.elements.len(), 2);
        assert_eq!(excl(&stripped), dec!(1));
        assert_eq!(without_expiry_elements(&stripped_json(&json)), None);
        assert_eq!(without_expiry_elements("not json"), None);
    }

    fn stripped_json(json: &str) -> String {
        without_expiry_elements(json).unwrap()
    }

    fn decimal(v: &Value) -> Decimal {
        v.as_str().unwrap().parse().unwrap()
    }

    #[test]
    fn the_version_in_force_is_the_newest_valid_then() {
        let version = |n: u32, from: Option<i64>| TariffVersion {
            version: n,
            valid_from: from.map(|s| joule_proto::time::to_proto(at(s))),
            ..TariffVersion::default()
        };
        let versions = [
            version(1, None),
            version(2, Some(100)),
            version(3, Some(200)),
        ];
        assert_eq!(in_force(&versions, at(50)).map(|v| v.version), Some(1));
        assert_eq!(in_force(&versions, at(100)).map(|v| v.version), Some(2));
        assert_eq!(in_force(&versions, at(500)).map(|v| v.version), Some(3));
        assert_eq!(in_force(&versions[1..], at(50)).map(|v| v.version), None);
    }
}
