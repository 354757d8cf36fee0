//! Given/when/then of the tariff: versions, corrections, assignments, retirement, identities.

use chrono::TimeZone;
use cqrs_es::test::TestFramework;
use joule_store::Decided;
use serde_json::json;

use super::*;

type Tariffs = TestFramework<Decided<Tariff>>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

fn ocpi() -> serde_json::Value {
    json!({ "id": "T-1", "currency": "EUR",
            "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 21, "step_size": 1 }] }] })
}

fn created() -> TariffEvent {
    TariffEvent::TariffCreated {
        tariff: ocpi(),
        ocpi_id: "T-1".into(),
        currency: Currency::EUR,
        created_at: at(),
    }
}

#[test]
fn creating_a_valid_tariff_records_it_as_given() {
    Tariffs::with(())
        .given_no_previous_events()
        .when(TariffCommand::Create {
            ocpi_json: ocpi().to_string(),
            created_at: at(),
        })
        .then_expect_events(vec![created()]);
}

#[test]
fn an_invalid_tariff_is_rejected_naming_the_field() {
    let mut bad = ocpi();
    bad["elements"][0]["price_components"][0]["price"] = json!(-1);
    Tariffs::with(())
        .given_no_previous_events()
        .when(TariffCommand::Create {
            ocpi_json: bad.to_string(),
            created_at: at(),
        })
        .then_expect_error(TariffError::Invalid(joule_tariff::TariffError::Invalid {
            path: "elements[0].price_components[0].price".into(),
            message: "must not be negative".into(),
        }));
    Tariffs::with(())
        .given_no_previous_events()
        .when(TariffCommand::Create {
            ocpi_json: "{".into(),
            created_at: at(),
        })
        .then_expect_error_message(
            "tariff is not valid JSON: EOF while parsing an object at line 1 column 1",
        );
}

fn ocpi_priced(price: f64) -> String {
    json!({ "id": "T-1", "currency": "EUR",
            "elements": [{ "price_components": [{ "type": "ENERGY", "price": price, "vat": 21, "step_size": 1 }] }] })
    .to_string()
}

fn at_day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap()
}

#[test]
fn versions_follow_each_other_in_time() {
    let published = TariffEvent::TariffVersionPublished {
        version: 2,
        tariff: serde_json::from_str(&ocpi_priced(0.3)).unwrap(),
        valid_from: at_day(10),
        published_at: at(),
    };
    Tariffs::with(())
        .given(vec![created()])
        .when(TariffCommand::PublishVersion {
            ocpi_json: ocpi_priced(0.3),
            valid_from: at_day(10),
            published_at: at(),
        })
        .then_expect_events(vec![published.clone()]);
    Tariffs::with(())
        .given(vec![created(), published])
        .when(TariffCommand::PublishVersion {
            ocpi_json: ocpi_priced(0.4),
            valid_from: at_day(9),
            published_at: at(),
        })
        .then_expect_error(TariffError::NotAfterLatest(at_day(10)));
}

#[test]
fn a_version_keeps_the_currency_and_a_correction_needs_a_reason() {
    let usd = json!({ "id": "T-1", "currency": "USD",
        "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.3, "step_size": 1 }] }] });
    Tariffs::with(())
        .given(vec![created()])
        .when(TariffCommand::PublishVersion {
            ocpi_json: usd.to_string(),
            valid_from: at_day(10),
            published_at: at(),
        })
        .then_expect_error(TariffError::CurrencyChanged {
            expected: "EUR".into(),
            got: "USD".into(),
        });
    Tariffs::with(())
        .given(vec![created()])
        .when(TariffCommand::CorrectVersion {
            version: 1,
            ocpi_json: ocpi_priced(0.2),
            reason: " ".into(),
            corrected_at: at(),
        })
        .then_expect_error(TariffError::NoReason);
    Tariffs::with(())
        .given(vec![created()])
        .when(TariffCommand::CorrectVersion {
            version: 2,
            ocpi_json: ocpi_priced(0.2),
            reason: "typo".into(),
            corrected_at: at(),
        })
        .then_expect_error(TariffError::NoSuchVersion(2));
}

#[test]
fn a_retired_tariff_takes_no_new_versions_or_assignments() {
    let retired = TariffEvent::TariffRetired { retired_at: at() };
    Tariffs::with(())
        .given(vec![created(), retired.clone()])
        .when(TariffCommand::Assign {
            scope: Scope::Site {
                site_id: "s".into(),
            },
            assigned_at: at(),
        })
        .then_expect_error(TariffError::Retired);
    Tariffs::with(())
        .given(vec![created(), retired])
        .when(TariffCommand::Retire { retired_at: at() })
        .then_expect_events(vec![]);
}

#[test]
fn creating_the_same_tariff_twice_is_rejected() {
    Tariffs::with(())
        .given(vec![created()])
        .when(TariffCommand::Create {
            ocpi_json: ocpi().to_string(),
            created_at: at(),
        })
        .then_expect_error(TariffError::AlreadyExists);
}

#[test]
fn the_id_derives_from_the_ocpi_identity_compared_case_insensitively() {
    let t = |json: &str| joule_tariff::Tariff::parse(json).unwrap();
    let a = t(
        r#"{"country_code": "DE", "party_id": "JOU", "id": "AC1", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3}]}]}"#,
    );
    let b = t(
        r#"{"country_code": "de", "party_id": "jou", "id": "ac1", "currency": "EUR", "elements": [{"price_components": [{"type": "TIME", "price": 2}]}]}"#,
    );
    let c = t(
        r#"{"country_code": "DE", "party_id": "JOV", "id": "AC1", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3}]}]}"#,
    );
    let bare = t(
        r#"{"id": "AC1", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3}]}]}"#,
    );
    let id = |tenant: &str, t: &joule_tariff::Tariff| Identity::of(tenant, t).tariff_id();
    assert_eq!(id("default", &a), id("default", &b));
    assert_ne!(id("default", &a), id("default", &c));
    assert_ne!(id("default", &a), id("other", &a));
    assert_ne!(id("default", &a), id("default", &bare));
    assert_eq!(Identity::of("default", &b).to_string(), "DE*JOU*AC1");
    assert_eq!(Identity::of("default", &bare).to_string(), "AC1");
}

#[test]
fn a_contract_reads_and_writes_back_in_the_shape_it_was_first_stored_in() {
    let stored = json!({"TariffContracted": {
        "party": {"type": "fleet", "fleet_id": "fleet-9", "account_ids": ["a1", "a2"]},
        "discounts": [],
        "valid_from": "2024-05-01T12:00:00Z",
        "valid_until": null,
        "contracted_at": "2024-05-01T12:00:00Z"
    }});
    let event: TariffEvent = serde_json::from_value(stored.clone()).unwrap();
    let TariffEvent::TariffContracted(contract) = &event else {
        panic!("{event:?}");
    };
    assert_eq!(contract.valid_from, Some(at()));
    assert_eq!(serde_json::to_value(&event).unwrap(), stored);
    // The currency of a creation is the code it always was.
    let created = serde_json::to_value(created()).unwrap();
    assert_eq!(created["TariffCreated"]["currency"], "EUR");
}
