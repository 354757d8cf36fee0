//! A few representative tariffs to price with: energy, time, parking and flat fees, step sizes,
//! restrictions (duration, time of day, day of week, power) and price bounds. Every session of a
//! case is priced with each of them.

use joule_domain::TariffId;
use joule_pricing::priced_session::Pricing;

/// The site's zone: time-of-day restrictions are local to it.
pub const TIME_ZONE: &str = "Europe/Berlin";

/// (name, OCPI 2.2.1 tariff).
const TARIFFS: [(&str, &str); 4] = [
    (
        "energy",
        r#"{ "id": "ENERGY", "currency": "EUR", "elements": [
             { "price_components": [{ "type": "ENERGY", "price": 0.35, "vat": 19, "step_size": 1 }] }] }"#,
    ),
    (
        "time",
        r#"{ "id": "TIME", "currency": "EUR", "elements": [
             { "price_components": [{ "type": "TIME", "price": 3.00, "vat": 19, "step_size": 300 }],
               "restrictions": { "max_duration": 3600 } },
             { "price_components": [{ "type": "TIME", "price": 1.20, "vat": 19, "step_size": 60 }],
               "restrictions": { "min_power": 22 } },
             { "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 19, "step_size": 1000 }] }] }"#,
    ),
    (
        "parking",
        r#"{ "id": "PARKING", "currency": "EUR", "elements": [
             { "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 19, "step_size": 1 },
                                    { "type": "PARKING_TIME", "price": 6.00, "vat": 19, "step_size": 60 }] }],
             "joule": { "idle_fee": { "price_per_hour": 12, "grace_period_seconds": 600, "step_size": 60 } } }"#,
    ),
    (
        "flat",
        r#"{ "id": "FLAT", "currency": "EUR",
             "min_price": { "excl_vat": 1.00, "incl_vat": 1.19 },
             "max_price": { "excl_vat": 80.00, "incl_vat": 95.20 },
             "elements": [
             { "price_components": [{ "type": "FLAT", "price": 1.50, "vat": 19, "step_size": 0 }] },
             { "price_components": [{ "type": "ENERGY", "price": 0.45, "vat": 19, "step_size": 100 }],
               "restrictions": { "start_time": "07:00", "end_time": "22:00",
                                 "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"] } },
             { "price_components": [{ "type": "ENERGY", "price": 0.29, "vat": 7, "step_size": 100 }] }] }"#,
    ),
];

/// Every tariff, by name, as pricing's registry would choose it for a charger.
pub fn all() -> Vec<(&'static str, Pricing)> {
    TARIFFS
        .iter()
        .map(|(name, json)| {
            let tariff =
                joule_tariff::Tariff::parse(json).unwrap_or_else(|e| panic!("tariff {name}: {e}"));
            let pricing = Pricing {
                tariff_id: TariffId::derived(name),
                tariff_version: 1,
                tariff_source: "charger".into(),
                tariff: Box::new(tariff),
                discounts: vec![],
            };
            (*name, pricing)
        })
        .collect()
}
