//! The request limits (`joule_domain::limits`, ADR 024) at pricing's gRPC edge, against real
//! PostgreSQL and NATS: each out-of-range value is `InvalidArgument` naming its field, a quote or a
//! CDR spanning a century is refused instead of priced period by period, and values at the limits
//! are priced.

mod support;

use joule_proto::v1::{self};
use serde_json::json;
use support::Harness;
use tonic::Code;

/// Priced by the minute and the kWh, with a time-of-day restriction: every day of a long span is
/// cut into periods.
const TARIFF: &str = r#"{
  "country_code": "DE", "party_id": "JOU", "id": "limits", "currency": "EUR",
  "elements": [
    { "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 19, "step_size": 1 }],
      "restrictions": { "start_time": "17:00", "end_time": "23:00" } },
    { "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 19, "step_size": 1 }] },
    { "price_components": [{ "type": "TIME", "price": 1.20, "vat": 19, "step_size": 60 }] }
  ]
}"#;

/// The field an `InvalidArgument` names (`<field>: <reason>`).
fn refused_field(status: &tonic::Status) -> &str {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .message()
        .split_once(": ")
        .map(|(field, _)| field)
        .unwrap_or_else(|| panic!("no field named in {:?}", status.message()))
}

fn cdr(start: &str, end: &str, periods: serde_json::Value) -> String {
    json!({
        "id": "CDR-LIMITS", "currency": "EUR",
        "start_date_time": start, "end_date_time": end,
        "charging_periods": periods
    })
    .to_string()
}

fn period(start: &str, dimensions: serde_json::Value) -> serde_json::Value {
    json!({ "start_date_time": start, "dimensions": dimensions })
}

#[tokio::test]
async fn quotes_outside_the_limits_are_refused_naming_the_field() {
    let mut h = Harness::start().await;
    let tariff = h
        .client
        .create_tariff(v1::CreateTariffRequest {
            tenant_id: String::new(),
            ocpi_json: TARIFF.into(),
        })
        .await
        .expect("tariff created")
        .into_inner();
    let quote = |energy_kwh: &str, power_kw: &str, parking_minutes: u32| v1::QuoteRequest {
        tenant_id: String::new(),
        tariff_id: tariff.id.clone(),
        start: None,
        energy_kwh: energy_kwh.into(),
        power_kw: power_kw.into(),
        parking_minutes,
        time_zone: "Europe/Berlin".into(),
    };

    // 100 years: 876,000 kWh at 1 kW (also above the energy maximum), or 1 kWh at 0.000001 kW.
    for (request, field) in [
        (quote("876000", "1", 0), "energy_kwh"),
        (quote("1", "0.000001", 0), "energy_kwh"),
        (quote("100000.001", "10000", 0), "energy_kwh"),
        (quote("-1", "50", 0), "energy_kwh"),
        (quote("30", "10000.5", 0), "power_kw"),
        (quote("30", "0", 0), "power_kw"),
        (quote("30", "50", 44_641), "parking_minutes"),
        // 31 days of charging leaves no room for a minute of parking.
        (quote("744", "1", 1), "parking_minutes"),
    ] {
        let e = h.client.quote(request.clone()).await.unwrap_err();
        assert_eq!(refused_field(&e), field, "{request:?}: {}", e.message());
    }

    // At the limit: 31 days at 1 kW, priced.
    let at_limit = h
        .client
        .quote(quote("744", "1", 0))
        .await
        .expect("a 31-day quote is priced")
        .into_inner();
    let totals: serde_json::Value = serde_json::from_str(&at_limit.totals_json).unwrap();
    assert!(totals["total_cost"]["excl_vat"].is_string(), "{totals}");
}

#[tokio::test]
async fn cdrs_outside_the_limits_are_refused_naming_the_field() {
    let mut h = Harness::start().await;
    let price = |cdr_json: String| v1::PriceCdrRequest {
        tariff_json: TARIFF.into(),
        cdr_json,
        time_zone: "Europe/Berlin".into(),
        ..Default::default()
    };
    let energy = |kwh: &str| json!([{ "type": "ENERGY", "volume": kwh.parse::<f64>().unwrap() }]);

    let century = cdr(
        "1925-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
        json!([period("1925-01-01T00:00:00Z", energy("30"))]),
    );
    let too_many_periods = cdr(
        "2025-06-01T00:00:00Z",
        "2025-06-02T00:00:00Z",
        serde_json::Value::Array(
            (0..10_001)
                .map(|_| period("2025-06-01T00:00:00Z", energy("0.001")))
                .collect(),
        ),
    );
    let one_day = |dimensions: serde_json::Value| {
        cdr(
            "2025-06-01T00:00:00Z",
            "2025-06-02T00:00:00Z",
            json!([period("2025-06-01T00:00:00Z", dimensions)]),
        )
    };
    let dims = "cdr.charging_periods[0].dimensions[0].volume";
    for (cdr_json, field) in [
        (century, "cdr.end_date_time"),
        (too_many_periods, "cdr.charging_periods"),
        (one_day(energy("100001")), dims),
        (one_day(json!([{ "type": "TIME", "volume": 745 }])), dims),
        (one_day(json!([{ "type": "POWER", "volume": 10001 }])), dims),
        (
            one_day(json!([{ "type": "STATE_OF_CHARGE", "volume": 101 }])),
            dims,
        ),
    ] {
        let e = h.client.price_cdr(price(cdr_json)).await.unwrap_err();
        assert_eq!(refused_field(&e), field, "{}", e.message());
    }
    // Two periods of 60,000 kWh: each within the maximum, together above it.
    let two = cdr(
        "2025-06-01T00:00:00Z",
        "2025-06-02T00:00:00Z",
        json!([
            period("2025-06-01T00:00:00Z", energy("60000")),
            period("2025-06-01T12:00:00Z", energy("60000")),
        ]),
    );
    let e = h.client.price_cdr(price(two)).await.unwrap_err();
    assert_eq!(refused_field(&e), "cdr.charging_periods");

    // 31 days is priced.
    let month = cdr(
        "2025-06-01T00:00:00Z",
        "2025-07-02T00:00:00Z",
        json!([period("2025-06-01T00:00:00Z", energy("300"))]),
    );
    h.client
        .price_cdr(price(month))
        .await
        .expect("a 31-day CDR is priced");
}

#[tokio::test]
async fn reratings_name_at_most_the_maximum_of_sessions_and_a_bounded_correction() {
    let mut h = Harness::start().await;
    let ids: Vec<String> = (0..1_001)
        .map(|i| joule_domain::SessionId::derived(&format!("limits/{i}")).to_string())
        .collect();
    let e = h
        .client
        .rerate(v1::RerateRequest {
            session_ids: ids,
            reason: "limits".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused_field(&e), "session_ids");
    let e = h
        .client
        .rerate(v1::RerateRequest {
            session_ids: vec![joule_domain::SessionId::derived("limits/one").to_string()],
            corrected_energy_wh: "100000000.5".into(),
            reason: "limits".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused_field(&e), "corrected_energy_wh");
}
