//! Reading OCPI Tariff JSON: what is accepted, and errors that name the field.

use joule_tariff::{DayOfWeek, Dimension, Tariff, TariffError, TimeOfDay};
use rust_decimal_macros::dec;
use serde_json::json;

fn minimal() -> serde_json::Value {
    json!({
        "id": "T1",
        "currency": "EUR",
        "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 21, "step_size": 1 }] }]
    })
}

fn error_of(value: serde_json::Value) -> String {
    match Tariff::from_value(&value) {
        Ok(t) => panic!("expected an error, parsed {t:?}"),
        Err(e) => e.to_string(),
    }
}

fn with(pointer: &str, value: serde_json::Value) -> serde_json::Value {
    let mut v = minimal();
    *v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} exists")) = value;
    v
}

#[test]
fn parses_a_complete_ocpi_tariff() {
    let json = r#"{
      "country_code": "NL", "party_id": "JOU", "id": "peak-offpeak", "currency": "EUR", "type": "REGULAR",
      "tariff_alt_text": [{ "language": "en", "text": "Cheaper at night" }],
      "tariff_alt_url": "https://example.com/tariffs",
      "min_price": { "excl_vat": "0.50", "incl_vat": "0.605" },
      "max_price": { "excl_vat": 50 },
      "elements": [
        { "price_components": [{ "type": "ENERGY", "price": "0.2000", "vat": 21.0, "step_size": 1 },
                               { "type": "PARKING_TIME", "price": 1.5, "step_size": 300 }],
          "restrictions": { "start_time": "23:00", "end_time": "07:00", "day_of_week": ["MONDAY", "SUNDAY"],
                            "start_date": "2024-01-01", "end_date": "2025-01-01", "min_kwh": 0, "max_kwh": 50.5,
                            "min_power": 0, "max_power": 22, "min_current": 6, "max_current": 32,
                            "min_duration": 0, "max_duration": 7200 } },
        { "price_components": [{ "type": "FLAT", "price": 1, "vat": 21, "step_size": 1 }] }
      ],
      "energy_mix": { "is_green_energy": true },
      "start_date_time": "2024-01-01T00:00:00Z",
      "end_date_time": "2030-01-01T00:00:00",
      "last_updated": "2023-12-01T10:00:00Z",
      "some_extension": 42
    }"#;
    let t = Tariff::parse(json).unwrap();
    assert_eq!(t.id, "peak-offpeak");
    assert_eq!(t.currency.code(), "EUR");
    assert_eq!(t.min_price.unwrap().incl_vat, Some(dec!(0.605)));
    assert_eq!(t.max_price.unwrap().incl_vat, None);
    let e = &t.elements[0];
    assert_eq!(e.price_components[0].price, dec!(0.2000));
    assert_eq!(e.price_components[1].dimension, Dimension::ParkingTime);
    assert_eq!(e.price_components[1].vat, None);
    let r = e.restrictions.as_ref().unwrap();
    assert_eq!(r.start_time, TimeOfDay::new(23, 0));
    assert_eq!(r.day_of_week, vec![DayOfWeek::Monday, DayOfWeek::Sunday]);
    assert_eq!(r.max_kwh, Some(dec!(50.5)));
    assert_eq!(r.max_duration, Some(7200));
    assert!(t.end_date_time.is_some());
}

#[test]
fn serialises_back_to_json_that_parses_to_the_same_tariff() {
    let json = r#"{ "id": "x", "currency": "USD", "max_price": { "excl_vat": 9 },
      "elements": [{ "price_components": [{ "type": "TIME", "price": 0.1, "step_size": 60 }],
                     "restrictions": { "start_time": "08:00", "day_of_week": ["FRIDAY"] } }] }"#;
    let t = Tariff::parse(json).unwrap();
    let again: Tariff = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
    assert_eq!(again, t);
}

#[test]
fn decimals_may_be_numbers_or_strings() {
    let t = Tariff::from_value(&with(
        "/elements/0/price_components/0/price",
        json!("0.2500"),
    ))
    .unwrap();
    assert_eq!(t.elements[0].price_components[0].price, dec!(0.25));
    let t = Tariff::from_value(&with("/elements/0/price_components/0/price", json!(0.1))).unwrap();
    assert_eq!(t.elements[0].price_components[0].price, dec!(0.1));
}

#[test]
fn errors_name_the_field_by_its_path() {
    let mut v = minimal();
    v["elements"][0]["price_components"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "TIME", "price": -1, "step_size": 60 }));
    assert_eq!(
        error_of(v),
        "elements[0].price_components[1].price: must not be negative"
    );
    assert_eq!(
        error_of(with("/elements/0/price_components/0/price", json!("abc"))),
        "elements[0].price_components[0].price: must be a decimal number, not \"abc\""
    );
    assert_eq!(
        error_of(with("/elements/0/price_components/0/type", json!("KWH"))),
        "elements[0].price_components[0].type: must be one of FLAT, ENERGY, TIME, PARKING_TIME, not \"KWH\""
    );
    assert_eq!(
        error_of(with("/elements/0/price_components/0/step_size", json!(-5))),
        "elements[0].price_components[0].step_size: must not be negative"
    );
    assert_eq!(
        error_of(with("/elements/0/price_components/0/step_size", json!(1.5))),
        "elements[0].price_components[0].step_size: must be a whole number"
    );
    assert_eq!(
        error_of(with("/elements/0/price_components/0/vat", json!(-21))),
        "elements[0].price_components[0].vat: must be a percentage from 0 to 100, not -21"
    );
}

#[test]
fn numbers_must_lie_in_joules_ranges() {
    assert_eq!(
        error_of(with("/elements/0/price_components/0/vat", json!(190))),
        "elements[0].price_components[0].vat: must be a percentage from 0 to 100, not 190"
    );
    assert!(Tariff::from_value(&with("/elements/0/price_components/0/vat", json!(100))).is_ok());
    assert!(Tariff::from_value(&with("/elements/0/price_components/0/vat", json!(0))).is_ok());
    // Read exactly, not through f64.
    assert_eq!(
        Tariff::parse(r#"{ "id": "T", "currency": "EUR", "elements": [{ "price_components": [{ "type": "ENERGY", "price": 99999999999999999999, "step_size": 1 }] }] }"#)
            .unwrap_err()
            .to_string(),
        "elements[0].price_components[0].price: must be at most 1000000 EUR, not 99999999999999999999"
    );
    assert!(
        Tariff::from_value(&with(
            "/elements/0/price_components/0/price",
            json!(1_000_000)
        ))
        .is_ok()
    );
    assert_eq!(
        error_of(with(
            "/elements/0/price_components/0/price",
            json!("1000000.01")
        )),
        "elements[0].price_components[0].price: must be at most 1000000 EUR, not 1000000.01"
    );
    assert_eq!(
        error_of(with(
            "/elements/0/price_components/0/step_size",
            json!(86_401)
        )),
        "elements[0].price_components[0].step_size: must be at most 86400 (seconds for TIME and PARKING_TIME, Wh for ENERGY), not 86401"
    );
    let mut v = minimal();
    v["max_price"] = json!({ "excl_vat": 5, "incl_vat": 2_000_000 });
    assert_eq!(
        error_of(v),
        "max_price.incl_vat: must be at most 1000000 EUR, not 2000000"
    );
    let restricted = |r: serde_json::Value| {
        let mut v = minimal();
        v["elements"][0]["restrictions"] = r;
        v
    };
    for (key, value, message) in [
        (
            "max_kwh",
            json!(100_001),
            "must be at most 100000 kWh, not 100001",
        ),
        ("min_power", json!(-1), "must not be negative"),
        (
            "max_power",
            json!(10_000.5),
            "must be at most 10000 kW, not 10000.5",
        ),
        (
            "max_current",
            json!(20_000),
            "must be at most 10000 A, not 20000",
        ),
        (
            "max_duration",
            json!(31_622_401),
            "must be at most 31622400 s, not 31622401",
        ),
    ] {
        assert_eq!(
            error_of(restricted(json!({ key: value }))),
            format!("elements[0].restrictions.{key}: {message}")
        );
    }
    // Where a currency's unit is worth little, its prices go as far as its amounts.
    let mut v = with("/elements/0/price_components/0/price", json!(2_000_000));
    assert!(Tariff::from_value(&v).is_err());
    v["currency"] = json!("JPY");
    assert!(Tariff::from_value(&v).is_ok());
    v["elements"][0]["price_components"][0]["price"] = json!(150_000_001);
    assert_eq!(
        error_of(v),
        "elements[0].price_components[0].price: must be at most 150000000 JPY, not 150000001"
    );
    let mut v = minimal();
    v["joule"] =
        json!({ "idle_fee": { "price_per_hour": 12, "vat": 101, "grace_period_seconds": 600 } });
    assert_eq!(
        error_of(v),
        "joule.idle_fee.vat: must be a percentage from 0 to 100, not 101"
    );
}

#[test]
fn parse_all_names_every_bad_field_in_document_order() {
    let v = json!({
        "id": "",
        "currency": "EUR",
        "max_price": { "excl_vat": -1 },
        "elements": [
            { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 190, "step_size": 1 }] },
            { "price_components": [{ "type": "TIME", "price": "abc", "step_size": 1.5 }],
              "restrictions": { "start_time": "7:00", "min_kwh": 10, "max_kwh": 5 } }
        ]
    });
    let errors: Vec<String> = Tariff::from_value_all(&v)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "id: must not be empty",
            "max_price.excl_vat: must not be negative",
            "elements[0].price_components[0].vat: must be a percentage from 0 to 100, not 190",
            "elements[1].price_components[0].price: must be a decimal number, not \"abc\"",
            "elements[1].price_components[0].step_size: must be a whole number",
            "elements[1].restrictions.start_time: must be HH:MM (24-hour, leading zeros), not \"7:00\"",
            "elements[1].restrictions.min_kwh: must be less than max_kwh",
        ]
    );
    // The first of them is what `parse` says.
    assert_eq!(error_of(v), "id: must not be empty");
    assert_eq!(
        Tariff::parse_all(&minimal().to_string()).unwrap(),
        Tariff::from_value(&minimal()).unwrap()
    );
    assert!(matches!(
        Tariff::parse_all("{").unwrap_err().as_slice(),
        [TariffError::Json(_)]
    ));
}

#[test]
fn currency_must_be_a_known_iso_4217_code() {
    assert!(
        error_of(with("/currency", json!("XYZ"))).starts_with("currency: unknown currency \"XYZ\"")
    );
    assert_eq!(
        error_of(with("/currency", json!(978))),
        "currency: must be a string"
    );
    let mut v = minimal();
    v.as_object_mut().unwrap().remove("currency");
    assert_eq!(error_of(v), "currency: is required");
}

#[test]
fn elements_and_components_must_not_be_empty() {
    assert_eq!(
        error_of(with("/elements", json!([]))),
        "elements: must contain at least one tariff element"
    );
    assert_eq!(
        error_of(with("/elements/0/price_components", json!([]))),
        "elements[0].price_components: must contain at least one price component"
    );
    let mut v = minimal();
    v.as_object_mut().unwrap().remove("elements");
    assert_eq!(error_of(v), "elements: is required");
}

#[test]
fn times_and_dates_must_follow_the_ocpi_formats() {
    let restricted = |r: serde_json::Value| {
        let mut v = minimal();
        v["elements"][0]["restrictions"] = r;
        v
    };
    for bad in ["7:00", "24:00", "12:60", "12.00", "12:00:00"] {
        assert_eq!(
            error_of(restricted(json!({ "start_time": bad }))),
            format!(
                "elements[0].restrictions.start_time: must be HH:MM (24-hour, leading zeros), not {bad:?}"
            )
        );
    }
    assert_eq!(
        error_of(restricted(json!({ "end_date": "2024-2-01" }))),
        "elements[0].restrictions.end_date: must be a date YYYY-MM-DD, not \"2024-2-01\""
    );
    assert_eq!(
        error_of(restricted(json!({ "start_date": "2024-02-30" }))),
        "elements[0].restrictions.start_date: must be a date YYYY-MM-DD, not \"2024-02-30\""
    );
    assert_eq!(
        error_of(restricted(json!({ "day_of_week": ["MONDAY", "FUNDAY"] }))),
        "elements[0].restrictions.day_of_week[1]: must be one of MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY, not \"FUNDAY\""
    );
    assert_eq!(
        error_of(restricted(json!({ "min_kwh": 10, "max_kwh": 5 }))),
        "elements[0].restrictions.min_kwh: must be less than max_kwh"
    );
    assert!(
        Tariff::from_value(&restricted(
            json!({ "start_time": "23:00", "end_time": "00:00" })
        ))
        .is_ok()
    );
}

#[test]
fn prices_and_validity_must_be_consistent() {
    let mut v = minimal();
    v["min_price"] = json!({ "excl_vat": 10 });
    v["max_price"] = json!({ "excl_vat": 5 });
    assert_eq!(
        error_of(v),
        "min_price.excl_vat: must not exceed max_price.excl_vat"
    );
    let mut v = minimal();
    v["max_price"] = json!({ "incl_vat": 5 });
    assert_eq!(error_of(v), "max_price.excl_vat: is required");
    let mut v = minimal();
    v["start_date_time"] = json!("2024-02-01T00:00:00Z");
    v["end_date_time"] = json!("2024-01-01T00:00:00Z");
    assert_eq!(error_of(v), "end_date_time: must be after start_date_time");
    let mut v = minimal();
    v["last_updated"] = json!("yesterday");
    assert!(error_of(v).starts_with("last_updated: must be a date-time"));
}

#[test]
fn identity_fields_are_checked() {
    assert_eq!(error_of(with("/id", json!(""))), "id: must not be empty");
    assert_eq!(
        error_of(with("/id", json!("x".repeat(37)))),
        "id: must be at most 36 characters"
    );
    let mut v = minimal();
    v["country_code"] = json!("NLD");
    assert!(error_of(v).starts_with("country_code: "));
}

#[test]
fn invalid_json_and_non_objects_are_refused() {
    assert!(matches!(Tariff::parse("{"), Err(TariffError::Json(_))));
    assert_eq!(
        Tariff::parse("[]").unwrap_err().to_string(),
        "tariff: must be an OCPI Tariff (a JSON object)"
    );
    assert_eq!(
        error_of(with("/elements/0", json!(3))),
        "elements[0]: must be a tariff element (a JSON object)"
    );
}
