//! A reservation's fee: the reservation as an OCPI CDR with one charging period, from the acceptance
//! to the end, whose one dimension is RESERVATION_TIME in hours; priced with the charger's tariff by
//! pricing's `PriceCdr`. The fee is the CDR's `total_reservation_cost`: a tariff without a
//! reservation element gives zero.
//!
//! The tariff engine takes a CDR of reservation time only as a reservation that ended without
//! charging, so a RESERVATION_EXPIRES element applies to every end (a used or cancelled reservation
//! too), not only to expiries; tariffs that price the two differently need the session's CDR.

use chrono::{DateTime, Utc};
use joule_domain::{Currency, Money, TariffId};
use joule_proto::v1::PriceBreakdown;
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

/// The fee in pricing's answer.
pub fn of(tariff_id: TariffId, answer: &PriceBreakdown) -> Result<Fee, String> {
    let totals: Totals =
        serde_json::from_str(&answer.totals_json).map_err(|e| format!("totals_json: {e}"))?;
    let breakdown: Breakdown =
        serde_json::from_str(&answer.breakdown_json).map_err(|e| format!("breakdown_json: {e}"))?;
    let price = totals.total_reservation_cost;
    Ok(Fee {
        excl_vat: Money::new(price.excl_vat, breakdown.currency),
        incl_vat: Money::new(price.incl_vat, breakdown.currency),
        tariff_id,
        tariff_version: answer.tariff_version,
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
        assert_eq!(
            cost["excl_vat"]
                .as_str()
                .unwrap()
                .parse::<Decimal>()
                .unwrap(),
            dec!(1)
        );
        assert_eq!(
            cost["incl_vat"]
                .as_str()
                .unwrap()
                .parse::<Decimal>()
                .unwrap(),
            dec!(1.19)
        );
    }

    #[test]
    fn a_tariff_without_a_reservation_element_costs_nothing() {
        let t = tariff(json!([
            {"price_components": [{"type": "TIME", "price": 2.00, "vat": 19.0, "step_size": 60}]},
        ]));
        let totals = priced(&t, at(0), at(1800));
        let cost = &totals["total_reservation_cost"];
        assert_eq!(
            cost["excl_vat"]
                .as_str()
                .unwrap()
                .parse::<Decimal>()
                .unwrap(),
            Decimal::ZERO
        );
        assert_eq!(
            totals["total_cost"]["excl_vat"]
                .as_str()
                .unwrap()
                .parse::<Decimal>()
                .unwrap(),
            Decimal::ZERO
        );
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
        let fee = of(tariff_id, &answer).unwrap();
        assert_eq!(fee.excl_vat.amount, dec!(1.5));
        assert_eq!(fee.incl_vat.amount, dec!(1.785));
        assert_eq!(fee.excl_vat.currency.to_string(), "EUR");
        assert_eq!(fee.tariff_version, 3);
        assert!(of(tariff_id, &PriceBreakdown::default()).is_err());
    }
}
