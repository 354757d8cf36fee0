//! Tariffs pass through to the pricing service.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;

pub fn ocpi_tariff() -> Value {
    json!({
        "country_code": "DE",
        "party_id": "JOU",
        "id": "AC-STANDARD",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 19.0, "step_size": 1}]}
        ],
        "last_updated": "2024-01-01T00:00:00Z"
    })
}

#[tokio::test]
async fn creates_a_tariff_and_reads_it_back() {
    let app = App::spawn_with_pricing().await;
    let reply = app.post("/v1/tariffs", &ocpi_tariff()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    id.parse::<uuid::Uuid>().expect("tariff id is a uuid");
    assert_eq!(reply.body["currency"], "EUR");
    assert_eq!(reply.body["tariff"]["elements"], ocpi_tariff()["elements"]);
    assert_eq!(
        reply.headers.get("location").unwrap().to_str().unwrap(),
        format!("/v1/tariffs/{id}")
    );

    let got = app.get(&format!("/v1/tariffs/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, reply.body);
}

#[tokio::test]
async fn invalid_and_unknown_tariffs_are_problems() {
    let app = App::spawn_with_pricing().await;
    let mut no_elements = ocpi_tariff();
    no_elements["elements"] = json!([]);
    let reply = app.post("/v1/tariffs", &no_elements).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body["detail"].as_str().unwrap().contains("elements"),
        "{}",
        reply.body
    );

    app.post("/v1/tariffs", &json!(["not", "an", "object"]))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get(&format!("/v1/tariffs/{}", uuid::Uuid::new_v4()))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get("/v1/tariffs/not-an-id")
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tariff_versions_corrections_quotes_and_retirement() {
    let app = App::spawn_with_pricing().await;
    let id = app.create("/v1/tariffs", &ocpi_tariff()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut v2 = ocpi_tariff();
    v2["elements"][0]["price_components"][0]["price"] = json!(0.35);
    let published = app
        .post(
            &format!("/v1/tariffs/{id}/versions?valid_from=2026-06-01T00:00:00Z"),
            &v2,
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    assert_eq!(published.body["version"], 2);
    assert_eq!(published.body["valid_from"], "2026-06-01T00:00:00.000000Z");
    app.post(&format!("/v1/tariffs/{id}/versions"), &v2)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);

    // A correction of version 1 needs a reason, and keeps the version number.
    let mut fixed = ocpi_tariff();
    fixed["elements"][0]["price_components"][0]["price"] = json!(0.29);
    let put = |path: String| {
        app.client
            .put(app.url(&path))
            .bearer_auth(&app.token)
            .json(&fixed)
            .send()
    };
    let no_reason = put(format!("/v1/tariffs/{id}/versions/1")).await.unwrap();
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let corrected = put(format!("/v1/tariffs/{id}/versions/1?reason=typo"))
        .await
        .unwrap();
    assert_eq!(corrected.status(), StatusCode::OK);
    let versions = app.get(&format!("/v1/tariffs/{id}/versions")).await;
    assert_eq!(versions.body["data"][0]["correction_reason"], "typo");
    assert_eq!(
        versions.body["data"][0]["tariff"]["elements"][0]["price_components"][0]["price"],
        0.29
    );
    assert_eq!(versions.body["data"].as_array().unwrap().len(), 2);

    // 30 kWh at 50 kW on 2 June 2026: version 2, 0.35/kWh: 10.50 (12.495 incl. 19 %).
    let quote = app
        .post(
            &format!("/v1/tariffs/{id}/quote"),
            &json!({ "start": "2026-06-02T10:00:00Z", "energy_kwh": "30", "power_kw": "50", "time_zone": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    assert_eq!(quote.body["tariff_version"], 2);
    assert_eq!(quote.body["totals"]["total_cost"]["excl_vat"], "10.50");
    assert_eq!(quote.body["totals"]["total_cost"]["incl_vat"], "12.495");
    app.post(
        &format!("/v1/tariffs/{id}/quote"),
        &json!({ "energy_kwh": "30", "power_kw": "0" }),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);

    let assigned = app
        .post(
            &format!("/v1/tariffs/{id}/assignments"),
            &json!({ "scope": "building", "scope_id": "s1" }),
        )
        .await;
    assigned.problem(StatusCode::UNPROCESSABLE_ENTITY);
    // The site must exist (issue 14: every write checks what it refers to).
    let site = app.create_site().await;
    let assigned = app
        .post(
            &format!("/v1/tariffs/{id}/assignments"),
            &json!({ "scope": "site", "scope_id": site["id"] }),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::NO_CONTENT);

    app.post("/v1/pricing/reratings", &json!({ "reason": "" }))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let run = app
        .post(
            "/v1/pricing/reratings",
            &json!({ "tariff_id": id, "reason": "typo in version 1" }),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert_eq!(run.body["sessions_examined"], 0);

    let retired = app
        .client
        .delete(app.url(&format!("/v1/tariffs/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(retired.status(), StatusCode::NO_CONTENT);
    app.post(
        &format!("/v1/tariffs/{id}/versions?valid_from=2027-01-01T00:00:00Z"),
        &v2,
    )
    .await
    .problem(StatusCode::CONFLICT);
    app.get(&format!("/v1/pricing/sessions/{}", uuid::Uuid::new_v4()))
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_running_cost_of_a_session_is_read_through_pricing() {
    use joule_bus::{EventMeta, Outgoing, envelope};
    use joule_proto::time::to_proto;
    use joule_proto::v1;

    let app = App::spawn_with_pricing().await;
    let unknown = uuid::Uuid::new_v4();
    app.get(&format!("/v1/sessions/{unknown}/cost"))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get("/v1/sessions/not-a-session/cost")
        .await
        .problem(StatusCode::NOT_FOUND);

    let site = app.create_site().await;
    let tariff = app.create("/v1/tariffs", &ocpi_tariff()).await;
    let charger = app
        .create(
            "/v1/chargers",
            &json!({"charge_point_id": "CP-COST", "site_id": site["id"], "tariff_id": tariff["id"]}),
        )
        .await;
    let bus = app.env.bus().await;
    let session = uuid::Uuid::new_v4().to_string();
    let started_at = "2026-11-21T10:00:00Z".parse().unwrap();
    let publish = |subject: String, id: &'static str, payload: joule_proto::v1::Envelope| {
        let bus = bus.clone();
        async move {
            let mut payload = payload;
            payload.event_id = id.into();
            bus.publish(Outgoing {
                subject,
                envelope: payload,
                trace_headers: Default::default(),
            })
            .await
            .expect("publish");
        }
    };
    let meta = || EventMeta {
        event_id: String::new(),
        tenant_id: app.env.settings().tenant,
        aggregate_type: "ChargingSession".into(),
        aggregate_id: session.clone(),
        sequence: 1,
        occurred_at: started_at,
        correlation_id: String::new(),
        causation_id: String::new(),
    };
    let start = v1::SessionStarted {
        session_id: session.clone(),
        charger_id: charger["id"].as_str().unwrap().into(),
        charge_point_id: "CP-COST".into(),
        connector_id: 1,
        transaction_id: "1".into(),
        token_uid: "TAG".into(),
        account_id: String::new(),
        started_at: Some(to_proto(started_at)),
        meter_start_wh: "1000".into(),
        ..Default::default()
    };
    publish(
        format!("session.{session}.started"),
        "cost-start",
        envelope(&start, meta()),
    )
    .await;
    let metered = v1::SessionMetered {
        session_id: session.clone(),
        charger_id: start.charger_id.clone(),
        charge_point_id: "CP-COST".into(),
        connector_id: 1,
        transaction_id: "1".into(),
        token_uid: "TAG".into(),
        started_at: start.started_at,
        meter_start_wh: "1000".into(),
        samples: vec![v1::EnergyReading {
            at: Some(to_proto("2026-11-21T10:30:00Z".parse().unwrap())),
            register_wh: "11000".into(),
        }],
        energy_wh: "10000".into(),
        as_of: Some(to_proto("2026-11-21T10:30:00Z".parse().unwrap())),
        sequence: 2,
        ..Default::default()
    };
    publish(
        format!("session.{session}.metered"),
        "cost-metered",
        envelope(&metered, meta()),
    )
    .await;

    // 10 kWh at 0.30 (+19 %): 3.00 (3.57), once pricing caught up (the charger registration first).
    let body = joule_testkit::eventually("pricing has the second reading", || async {
        let reply = app.get(&format!("/v1/sessions/{session}/cost")).await;
        (reply.status == StatusCode::OK && reply.body["sequence"] == 2).then_some(reply.body)
    })
    .await;
    assert_eq!(body["total_excl_vat"], "3.00", "{body}");
    assert_eq!(body["total_incl_vat"], "3.57");
    assert_eq!(body["energy_kwh"], "10");
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["lines"][0]["dimension"], "ENERGY");
}

#[tokio::test]
async fn an_ocpi_cdr_is_priced_with_an_inline_or_a_stored_tariff() {
    let app = App::spawn_with_pricing().await;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/tariff/tests/fixtures/tariffs-04-start-fee-and-0.25-per-kwh");
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(fixture.join(f)).unwrap()).unwrap()
    };
    let (tariff, cdr) = (read("tariff.json"), read("cdr.json"));
    // The spec's example: a 0.50 start fee and 20 kWh at 0.25 = 5.50 excl. VAT, 6.10 incl.
    let priced = app
        .post(
            "/v1/pricing/cdrs",
            &json!({ "tariff": tariff, "cdr": cdr, "time_zone": "Europe/Amsterdam" }),
        )
        .await;
    assert_eq!(priced.status, StatusCode::OK, "{}", priced.body);
    assert_eq!(priced.body["totals"]["total_cost"]["excl_vat"], "5.50");
    assert_eq!(priced.body["totals"]["total_cost"]["incl_vat"], "6.10");
    assert!(priced.body["breakdown"]["lines"].is_array());

    let id = app.create("/v1/tariffs", &tariff).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = app
        .post(
            "/v1/pricing/cdrs",
            &json!({ "tariff_id": id, "cdr": cdr, "time_zone": "Europe/Amsterdam" }),
        )
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    assert_eq!(stored.body["tariff_version"], 1);
    assert_eq!(stored.body["totals"]["total_cost"]["incl_vat"], "6.10");

    for body in [
        json!({ "cdr": cdr }),
        json!({ "tariff": tariff, "tariff_id": id, "cdr": cdr }),
        json!({ "tariff_id": "not-an-id", "cdr": cdr }),
        json!({ "tariff": tariff, "cdr": { "start_date_time": "soon" } }),
    ] {
        app.post("/v1/pricing/cdrs", &body)
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

async fn delete(app: &App, path: &str) -> StatusCode {
    app.client
        .delete(app.url(path))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_second_tariff_with_the_same_ocpi_identity_is_a_conflict_naming_the_first() {
    let app = App::spawn_with_pricing().await;
    // Concurrent creations of one identity: one tariff, every other answer points at it.
    let body = ocpi_tariff();
    let replies = futures::future::join_all((0..6).map(|_| app.post("/v1/tariffs", &body))).await;
    let created: Vec<&Value> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| &r.body)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let id = created[0]["id"].as_str().unwrap().to_owned();
    let url = format!("/v1/tariffs/{id}");
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        reply.problem(StatusCode::CONFLICT);
        assert_eq!(reply.body["type"], "urn:joule:problem:already-exists");
        assert_eq!(reply.body["existing"], url.as_str(), "{}", reply.body);
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(
            detail
                == format!(
                    "a tariff with OCPI identity DE*JOU*AC-STANDARD (country_code, party_id, id) already exists: {id}; publish a new version of it with POST {url}/versions instead"
                ),
            "{detail}"
        );
    }

    // The same identity in other letters; then a new version goes where the detail says.
    let mut again = ocpi_tariff();
    again["party_id"] = json!("jou");
    again["elements"][0]["price_components"][0]["price"] = json!(0.32);
    let reply = app.post("/v1/tariffs", &again).await;
    reply.problem(StatusCode::CONFLICT);
    assert_eq!(reply.body["existing"], url.as_str());
    let version = app
        .post(
            &format!("{url}/versions?valid_from=2026-06-01T00:00:00Z"),
            &again,
        )
        .await;
    assert_eq!(version.status, StatusCode::CREATED, "{}", version.body);
    assert_eq!(version.body["version"], 2);

    // Another OCPI id is another tariff.
    let mut other = ocpi_tariff();
    other["id"] = json!("AC-NIGHT");
    let reply = app.post("/v1/tariffs", &other).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_ne!(reply.body["id"], id.as_str());
}

#[tokio::test]
async fn a_retired_tariff_says_so_when_read() {
    let app = App::spawn_with_pricing().await;
    let created = app.create("/v1/tariffs", &ocpi_tariff()).await;
    assert_eq!(created["retired"], false);
    assert_eq!(created["retired_at"], Value::Null);
    let url = format!("/v1/tariffs/{}", created["id"].as_str().unwrap());
    assert_eq!(app.get(&url).await.body["retired"], false);

    assert_eq!(delete(&app, &url).await, StatusCode::NO_CONTENT);
    let read = app.get(&url).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["retired"], true, "{}", read.body);
    let at: chrono::DateTime<chrono::Utc> = read.body["retired_at"]
        .as_str()
        .expect("retired_at")
        .parse()
        .expect("RFC 3339");
    let versions = app.get(&format!("{url}/versions")).await;
    assert_eq!(versions.body["retired"], true);
    assert_eq!(
        versions.body["retired_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        at
    );
    // Retired, its identity is still its own.
    let reply = app.post("/v1/tariffs", &ocpi_tariff()).await;
    reply.problem(StatusCode::CONFLICT);
    assert_eq!(reply.body["existing"], url.as_str());
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(", retired at ")
            && detail.ends_with(
                "a retired tariff takes no new versions: give the new one another OCPI id"
            ),
        "{detail}"
    );
}

#[tokio::test]
async fn values_out_of_range_are_422_naming_every_field_and_the_largest_price_quotes() {
    let app = App::spawn_with_pricing().await;
    let mut bad = ocpi_tariff();
    bad["max_price"] = json!({ "excl_vat": -5 });
    bad["elements"][0]["price_components"][0]["vat"] = json!(190);
    bad["elements"][0]["price_components"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "TIME", "price": 99999999999999999999_f64, "vat": 19, "step_size": 90000 }));
    bad["elements"][0]["restrictions"] = json!({ "max_power": -1, "min_kwh": 1e9 });
    let reply = app.post("/v1/tariffs", &bad).await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        [
            "max_price.excl_vat",
            "elements[0].price_components[0].vat",
            "elements[0].price_components[1].price",
            "elements[0].price_components[1].step_size",
            "elements[0].restrictions.min_kwh",
            "elements[0].restrictions.max_power",
        ],
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["errors"][1]["reason"],
        "must be a percentage from 0 to 100, not 190"
    );
    // The price exactly as sent, read without a trip through f64.
    let reply = app
        .post_raw(
            "/v1/tariffs",
            "application/json",
            r#"{"id": "X", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 99999999999999999999, "vat": 19, "step_size": 1}]}]}"#,
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.body["errors"][0]["reason"],
        "must be at most 1000000 EUR, not 99999999999999999999"
    );

    // Nothing was stored: the identity is free, and a version is checked the same way.
    let id = app.create("/v1/tariffs", &ocpi_tariff()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut v2 = ocpi_tariff();
    v2["elements"][0]["price_components"][0]["vat"] = json!(101);
    let reply = app.post(&format!("/v1/tariffs/{id}/versions"), &v2).await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["valid_from", "elements[0].price_components[0].vat"]
    );

    // The largest accepted prices and the longest quoted session answer (they used to answer 502).
    let mut dearest = ocpi_tariff();
    dearest["id"] = json!("AC-MAX");
    dearest["elements"][0]["price_components"] = json!([
        { "type": "FLAT", "price": "1000000", "vat": 100, "step_size": 1 },
        { "type": "ENERGY", "price": "1000000", "vat": 100, "step_size": 1 },
        { "type": "TIME", "price": "1000000", "vat": 100, "step_size": 86400 },
        { "type": "PARKING_TIME", "price": "1000000", "vat": 100, "step_size": 1 }
    ]);
    let dear = app.create("/v1/tariffs", &dearest).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let quote = app
        .post(
            &format!("/v1/tariffs/{dear}/quote"),
            &json!({ "start": "2026-06-02T10:00:00Z", "energy_kwh": "100000", "power_kw": "135", "parking_minutes": 180, "time_zone": "Europe/Berlin" }),
        )
        .await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    let total: rust_decimal::Decimal = quote.body["totals"]["total_cost"]["incl_vat"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        total > rust_decimal::Decimal::from(200_000_000_000_u64),
        "{total}"
    );
    let too_long = app
        .post(
            &format!("/v1/tariffs/{dear}/quote"),
            &json!({ "energy_kwh": "100000", "power_kw": "0.001" }),
        )
        .await;
    assert_eq!(
        too_long.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["energy_kwh"],
        "{}",
        too_long.body
    );
}

#[tokio::test]
async fn a_cdr_without_a_zone_is_refused_naming_time_zone() {
    let app = App::spawn_with_pricing().await;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/tariff/tests/fixtures/tariffs-04-start-fee-and-0.25-per-kwh");
    let read = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixture.join(f)).unwrap()).unwrap()
    };
    let (tariff, mut cdr) = (read("tariff.json"), read("cdr.json"));
    cdr["cdr_location"] = json!({ "country": "NLD" });
    let reply = app
        .post("/v1/pricing/cdrs", &json!({ "tariff": tariff, "cdr": cdr }))
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("time_zone: is required: no time zone given")
            && detail.contains("NLD, whose only zone is Europe/Amsterdam"),
        "{detail}"
    );
    cdr["cdr_location"]["time_zone"] = json!("Europe/Amsterdam");
    let priced = app
        .post("/v1/pricing/cdrs", &json!({ "tariff": tariff, "cdr": cdr }))
        .await;
    assert_eq!(priced.status, StatusCode::OK, "{}", priced.body);
    assert_eq!(priced.body["totals"]["total_cost"]["excl_vat"], "5.50");
}
