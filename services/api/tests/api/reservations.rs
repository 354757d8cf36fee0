//! Reservations: validation and tenant isolation without a charger, and the whole life of
//! reservations against a real OCPP connection (api, gateway, sessions and pricing in one process):
//! ReserveNow accepted, refused and unanswerable; CancelReservation; expiry; use by a session; the
//! fee priced from the tariff's RESERVATION element.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::charge_point::ChargePoint;
use crate::helpers::App;
use crate::identity::{PLATFORM, key, tenant_with_admin};

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn in_(seconds: i64) -> String {
    stamp(Utc::now() + TimeDelta::seconds(seconds))
}

/// A no-show fee of 5.00 EUR for a reservation that expires, and 2.00 EUR per started hour of any
/// reservation (+19 % VAT); energy 0.30 EUR per kWh.
fn reservation_tariff() -> Value {
    json!({
        "country_code": "DE",
        "party_id": "JOU",
        "id": "RESERVE-HOURLY",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "FLAT", "price": 5.00, "vat": 19.0, "step_size": 1}],
             "restrictions": {"reservation": "RESERVATION_EXPIRES"}},
            {"price_components": [{"type": "TIME", "price": 2.00, "vat": 19.0, "step_size": 3600}],
             "restrictions": {"reservation": "RESERVATION"}},
            {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 19.0, "step_size": 1}]}
        ],
        "last_updated": "2024-01-01T00:00:00Z"
    })
}

fn decimal(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a decimal string"))
        .parse()
        .unwrap()
}

/// The records a reservation needs, created with `token`: (charger id, token id) per charge point.
async fn records(app: &App, token: &str, cps: &[&str], tariff: &Value) -> (Vec<String>, String) {
    let id = |reply: crate::helpers::Reply| {
        assert!(reply.status.is_success(), "{}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    };
    let site = id(app
        .post_as(
            token,
            "/v1/sites",
            &json!({"name": "Depot", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await);
    let tariff = id(app.post_as(token, "/v1/tariffs", tariff).await);
    let mut chargers = Vec::new();
    for cp in cps {
        let body = json!({"charge_point_id": cp, "site_id": site, "tariff_id": tariff});
        chargers.push(id(app.post_as(token, "/v1/chargers", &body).await));
    }
    let account = id(app
        .post_as(
            token,
            "/v1/accounts",
            &json!({"name": "Fleet", "currency": "EUR"}),
        )
        .await);
    let card = id(app
        .post_as(
            token,
            "/v1/tokens",
            &json!({"uid": "CARD-RES-1", "account_id": account}),
        )
        .await);
    (chargers, card)
}

/// Polls the reservation until `done`, for 30 s at the most.
async fn until(app: &App, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let reply = app.get(&format!("/v1/reservations/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        if done(&reply.body) {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "reservation {id} never got there: {}",
        app.get(&format!("/v1/reservations/{id}")).await.body
    )
}

#[tokio::test]
async fn requests_are_checked_and_tenants_see_only_their_own_reservations() {
    let app = App::spawn_adjusted(&[joule_api::SERVICE, joule_pricing::SERVICE], |s| {
        s.platform_token = PLATFORM.into()
    })
    .await;
    let a = tenant_with_admin(&app, "tenant-a").await;
    let b = tenant_with_admin(&app, "tenant-b").await;
    let (chargers, card) = records(&app, &a, &["CP-A1"], &reservation_tariff()).await;
    let (_, b_card) = records(&app, &b, &["CP-B1"], &reservation_tariff()).await;
    let charger = &chargers[0];
    let events = app.stored_events().await;

    let refused = [
        (
            json!({"charger_id": charger, "token_id": card, "expires_at": in_(-60)}),
            "expires_at",
        ),
        (
            json!({"charger_id": charger, "token_id": card, "expires_at": in_(25 * 3600)}),
            "expires_at",
        ),
        (
            json!({"charger_id": charger, "token_id": card, "expires_at": "tomorrow"}),
            "expires_at",
        ),
        (
            json!({"charger_id": "CP-A1", "token_id": card, "expires_at": in_(600)}),
            "charger_id",
        ),
        (
            json!({"charger_id": charger, "expires_at": in_(600)}),
            "token_id",
        ),
        (
            json!({"charger_id": charger, "token_id": card, "expires_at": in_(600), "colour": "red"}),
            "colour",
        ),
        (
            json!({"charger_id": charger, "token_id": card, "expires_at": in_(600), "connector_id": -1}),
            "connector_id",
        ),
        (
            json!({"charger_id": charger, "token_id": card, "expires_at": in_(600), "connector_id": 2_147_483_648u64}),
            "connector_id",
        ),
    ];
    for (body, field) in refused {
        let reply = app.post_as(&a, "/v1/reservations", &body).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            vec![field],
            "{body}"
        );
    }
    // Another tenant's token, an unknown charger: not found, as if they did not exist.
    for body in [
        json!({"charger_id": charger, "token_id": b_card, "expires_at": in_(600)}),
        json!({"charger_id": uuid::Uuid::new_v4(), "token_id": card, "expires_at": in_(600)}),
    ] {
        let reply = app.post_as(&a, "/v1/reservations", &body).await;
        reply.problem(StatusCode::NOT_FOUND);
    }
    let reply = app
        .post_as(
            &b,
            "/v1/reservations",
            &json!({"charger_id": charger, "token_id": b_card, "expires_at": in_(600)}),
        )
        .await;
    reply.problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.stored_events().await,
        events,
        "a refused request writes nothing"
    );

    // No gateway runs here: the charger cannot be asked, and the reservation is recorded as failed.
    let body =
        json!({"charger_id": charger, "token_id": card, "connector_id": 2, "expires_at": in_(600)});
    let reply = app.post_as(&a, "/v1/reservations", &body).await;
    assert!(
        reply.status.is_server_error(),
        "{} {}",
        reply.status,
        reply.body
    );
    let listed = app
        .get_as(
            &a,
            &format!("/v1/reservations?status=failed&charger_id={charger}"),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let data = listed.body["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "{}", listed.body);
    let failed = &data[0];
    assert_eq!(failed["token_id"], json!(card));
    assert_eq!(failed["token_uid"], "CARD-RES-1");
    assert_eq!(failed["connector_id"], 2);
    assert!(
        failed["failure"].is_string() && failed["ended_at"].is_string(),
        "{failed}"
    );
    assert!(failed["fee"].is_null());
    let id = failed["id"].as_str().unwrap();
    assert_eq!(
        app.get_as(&a, &format!("/v1/reservations/{id}")).await.body,
        *failed
    );

    // Only an accepted reservation can be cancelled.
    let reply = app
        .post_as(&a, &format!("/v1/reservations/{id}/cancel"), &json!({}))
        .await;
    reply.problem(StatusCode::CONFLICT);
    assert!(
        reply.body["detail"].as_str().unwrap().contains("failed"),
        "{}",
        reply.body
    );

    // Tenant B learns nothing of it.
    app.get_as(&b, &format!("/v1/reservations/{id}"))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.post_as(&b, &format!("/v1/reservations/{id}/cancel"), &json!({}))
        .await
        .problem(StatusCode::NOT_FOUND);
    let b_list = app.get_as(&b, "/v1/reservations").await;
    assert_eq!(b_list.body["data"], json!([]), "{}", b_list.body);

    // Filters are checked, and filter.
    for (query, field) in [
        ("status=lost", "status"),
        ("created_after=yesterday", "created_after"),
        ("charger_id=CP-A1", "charger_id"),
        ("limit=0", "limit"),
        ("chrager_id=x", "chrager_id"),
    ] {
        let reply = app.get_as(&a, &format!("/v1/reservations?{query}")).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            vec![field],
            "{query}"
        );
    }
    let hour_ago = stamp(Utc::now() - TimeDelta::hours(1));
    for (query, n) in [
        (format!("token_id={card}"), 1),
        (format!("token_id={b_card}"), 0),
        ("status=accepted".to_owned(), 0),
        (format!("created_after={hour_ago}"), 1),
        (format!("created_before={hour_ago}"), 0),
    ] {
        let reply = app.get_as(&a, &format!("/v1/reservations?{query}")).await;
        assert_eq!(
            reply.body["data"].as_array().map(Vec::len),
            Some(n),
            "{query}: {}",
            reply.body
        );
    }

    // A replica that asked a charger and stopped before recording its answer: the sweep records the
    // reservation as failed once the answer is long overdue.
    let id = asked_and_crashed(&app, charger, &card).await;
    let mut closed = Value::Null;
    for _ in 0..100 {
        closed = app.get_as(&a, &format!("/v1/reservations/{id}")).await.body;
        if closed["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(closed["status"], "failed", "{closed}");
    assert!(
        closed["failure"].as_str().unwrap().contains("not recorded"),
        "{closed}"
    );

    // A read-only key reads; it does not reserve.
    let (_, reader) = key(&app, &a, &["read_only"]).await;
    assert_eq!(
        app.get_as(&reader, &format!("/v1/reservations/{id}"))
            .await
            .status,
        StatusCode::OK
    );
    let reply = app.post_as(&reader, "/v1/reservations", &body).await;
    reply.problem(StatusCode::FORBIDDEN);
    assert_eq!(reply.body["missing_scope"], "reservations:write");
}

/// Records, as tenant-a's replica would, a reservation requested ten minutes ago whose answer was
/// never recorded; returns its id.
async fn asked_and_crashed(app: &App, charger: &str, card: &str) -> String {
    use joule_api::domain::reservation::{Requested, ReservationCommand, ReservationId};
    let pool = app.env.pool().await;
    let tenant: joule_domain::TenantId = "tenant-a".parse().unwrap();
    let charger: uuid::Uuid = charger.parse().unwrap();
    let (cp, tariff, time_zone) =
        joule_api::projections::reservations::charger_pricing(&pool, &tenant, charger)
            .await
            .unwrap()
            .unwrap();
    let unused = joule_runtime::GrpcChannel::Remote(
        tonic::transport::Channel::from_static("http://127.0.0.1:1").connect_lazy(),
    );
    let pricing = joule_proto::v1::tariff_service_client::TariffServiceClient::with_interceptor(
        unused,
        joule_telemetry::TracePropagation,
    );
    let reservations = joule_api::reservations::Reservations::new(pool.clone(), pricing);
    let reservation = Requested {
        reservation_id: ReservationId::new(),
        ocpp_reservation_id: joule_api::projections::reservations::next_ocpp_id(&pool)
            .await
            .unwrap(),
        charger_id: charger.into(),
        charge_point_id: cp.parse().unwrap(),
        connector_id: 0,
        token_id: card.parse::<uuid::Uuid>().unwrap().into(),
        token_uid: "CARD-RES-1".parse().unwrap(),
        tariff_id: tariff.into(),
        time_zone,
        expires_at: Utc::now() + TimeDelta::hours(1),
    };
    let id = reservation.reservation_id;
    let command = ReservationCommand::Request {
        reservation,
        at: Utc::now() - TimeDelta::minutes(10),
    };
    let meta = joule_store::CommandMeta {
        tenant_id: tenant.to_string(),
        ..Default::default()
    };
    reservations.execute(id, command, meta).await.unwrap();
    pool.close().await;
    id.to_string()
}

/// api, gateway, sessions and pricing; the default tenant's admin token.
async fn whole_platform() -> App {
    App::spawn_adjusted(
        &[
            joule_api::SERVICE,
            joule_gateway::SERVICE,
            joule_sessions::SERVICE,
            joule_pricing::SERVICE,
        ],
        |_| {},
    )
    .await
}

async fn reserve(app: &App, charger: &str, card: &str, expires_at: &str) -> crate::helpers::Reply {
    let body = json!({"charger_id": charger, "token_id": card, "connector_id": 1, "expires_at": expires_at});
    app.post("/v1/reservations", &body).await
}

/// One started hour (2.00 + 19 %), and the no-show fee (5.00 + 19 %) when it expired.
fn assert_fee_of_one_started_hour(reservation: &Value, no_show: bool) {
    let fee = &reservation["fee"];
    let (excl, incl) = if no_show { (700, 833) } else { (200, 238) };
    assert_eq!(
        decimal(&fee["excl_vat"]),
        Decimal::new(excl, 2),
        "{reservation}"
    );
    assert_eq!(
        decimal(&fee["incl_vat"]),
        Decimal::new(incl, 2),
        "{reservation}"
    );
    assert_eq!(fee["currency"], "EUR");
    assert_eq!(fee["tariff_version"], 1);
}

#[tokio::test]
async fn a_charger_accepts_a_reservation_and_a_session_of_the_token_uses_it() {
    let app = whole_platform().await;
    let token = app.token.clone();
    let (chargers, card) = records(
        &app,
        &token,
        &["CP-RES-1", "CP-RES-BUSY", "CP-RES-OFF"],
        &reservation_tariff(),
    )
    .await;
    let ocpp = format!("ws://{}/ocpp", app.addr("ocpp"));
    let mut charger = ChargePoint::connect(&ocpp, "CP-RES-1", "Accepted").await;
    let busy = ChargePoint::connect(&ocpp, "CP-RES-BUSY", "Occupied").await;

    let expires_at = in_(3600);
    let reply = reserve(&app, &chargers[0], &card, &expires_at).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reservation = reply.body;
    let id = reservation["id"].as_str().unwrap().to_owned();
    assert_eq!(reservation["status"], "accepted");
    assert_eq!(
        reply.headers["location"],
        format!("/v1/reservations/{id}").as_str()
    );
    assert!(reservation["accepted_at"].is_string() && reservation["ended_at"].is_null());
    let sent = charger.next_received("ReserveNow").await;
    assert_eq!(sent["reservationId"], reservation["ocpp_reservation_id"]);
    assert_eq!(sent["idTag"], "CARD-RES-1");
    assert_eq!(sent["connectorId"], 1);
    assert_eq!(
        sent["expiryDate"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        expires_at.parse::<DateTime<Utc>>().unwrap()
    );

    // Sessions that are not the reservation's: another token on the reserved charger, the token
    // on another charger.
    let now = || Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    charger
        .call(
            "StartTransaction",
            json!({"connectorId": 2, "idTag": "CARD-OTHER", "meterStart": 0, "timestamp": now()}),
        )
        .await;
    busy.call(
        "StartTransaction",
        json!({"connectorId": 1, "idTag": "CARD-RES-1", "meterStart": 0, "timestamp": now()}),
    )
    .await;

    // The token's session starts on the reserved charger, a moment after the acceptance (the held
    // time is from the acceptance to the session's start).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = charger
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "CARD-RES-1", "meterStart": 0,
                   "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                   "reservationId": reservation["ocpp_reservation_id"]}),
        )
        .await;
    assert!(started["transactionId"].is_i64(), "{started}");
    let used = until(&app, &id, |r| r["status"] == "used" && !r["fee"].is_null()).await;
    assert!(used["session_id"].is_string(), "{used}");
    assert!(used["ended_at"].is_string());
    assert_fee_of_one_started_hour(&used, false);
    let sessions = app
        .get(&format!("/v1/sessions?charger_id={}", chargers[0]))
        .await;
    let of_the_token: Vec<&Value> = sessions.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["token_uid"] == "CARD-RES-1")
        .collect();
    assert_eq!(of_the_token.len(), 1, "{}", sessions.body);
    assert_eq!(
        used["session_id"], of_the_token[0]["id"],
        "{}",
        sessions.body
    );

    // A charger that refuses: 409 naming its status, and the refusal on record.
    let reply = reserve(&app, &chargers[1], &card, &in_(3600)).await;
    reply.problem(StatusCode::CONFLICT);
    assert!(
        reply.body["detail"].as_str().unwrap().contains("Occupied"),
        "{}",
        reply.body
    );
    let refused = app
        .get(&format!(
            "/v1/reservations?status=refused&charger_id={}",
            chargers[1]
        ))
        .await;
    let refused = &refused.body["data"][0];
    assert_eq!(refused["charger_status"], "Occupied", "{refused}");
    assert!(refused["ended_at"].is_string() && refused["fee"].is_null());

    // A charger that is not connected: 409, recorded as failed.
    let reply = reserve(&app, &chargers[2], &card, &in_(3600)).await;
    reply.problem(StatusCode::CONFLICT);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("not connected"),
        "{}",
        reply.body
    );
    let failed = app
        .get(&format!(
            "/v1/reservations?status=failed&charger_id={}",
            chargers[2]
        ))
        .await;
    assert_eq!(
        failed.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        failed.body
    );
}

#[tokio::test]
async fn a_reservation_is_cancelled_on_the_charger_or_expires_and_costs_its_fee() {
    let app = whole_platform().await;
    let token = app.token.clone();
    let (chargers, card) = records(&app, &token, &["CP-RES-2"], &reservation_tariff()).await;
    let ocpp = format!("ws://{}/ocpp", app.addr("ocpp"));
    let mut charger = ChargePoint::connect(&ocpp, "CP-RES-2", "Accepted").await;

    let reply = reserve(&app, &chargers[0], &card, &in_(3600)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let ocpp_id = reply.body["ocpp_reservation_id"].clone();
    let cancelled = app
        .post(&format!("/v1/reservations/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert!(cancelled.body["ended_at"].is_string());
    assert_fee_of_one_started_hour(&cancelled.body, false);
    assert_eq!(
        charger.next_received("CancelReservation").await["reservationId"],
        ocpp_id
    );
    let again = app
        .post(&format!("/v1/reservations/{id}/cancel"), &json!({}))
        .await;
    again.problem(StatusCode::CONFLICT);

    // A second api replica sweeps too: the expiry and its fee are still recorded once.
    let mut settings = app.env.settings();
    let grpc = format!("http://{}", app.addr("grpc"));
    settings.pricing_grpc_url = grpc.clone();
    settings.gateway_grpc_url = grpc;
    joule_testkit::absent_services(&mut settings, &["api", "pricing", "gateway"]);
    let replica = joule_runtime::spawn(settings, &[joule_api::SERVICE])
        .await
        .expect("a second api replica starts");

    // Each reservation has its own OCPP id.
    let expires_at = in_(2);
    let reply = reserve(&app, &chargers[0], &card, &expires_at).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_ne!(reply.body["ocpp_reservation_id"], ocpp_id);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let expired = until(&app, &id, |r| {
        r["status"] == "expired" && !r["fee"].is_null()
    })
    .await;
    assert_eq!(
        expired["ended_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        expires_at.parse::<DateTime<Utc>>().unwrap(),
        "an expiry is recorded at the expiry time: {expired}"
    );
    assert_fee_of_one_started_hour(&expired, true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pool = app.env.pool().await;
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM api.events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(
        events,
        [
            "ReservationRequested",
            "ReservationAccepted",
            "ReservationExpired",
            "ReservationFeeRecorded"
        ]
    );
    replica.shutdown.cancel();
    let listed = app
        .get(&format!("/v1/reservations?charger_id={}", chargers[0]))
        .await;
    let statuses: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["cancelled", "expired"]);
}

#[tokio::test]
async fn a_session_of_another_tenant_never_uses_a_reservation() {
    let app = App::spawn_adjusted(
        &[
            joule_api::SERVICE,
            joule_gateway::SERVICE,
            joule_sessions::SERVICE,
            joule_pricing::SERVICE,
        ],
        |s| s.platform_token = PLATFORM.into(),
    )
    .await;
    let a = tenant_with_admin(&app, "tenant-a").await;
    let b = tenant_with_admin(&app, "tenant-b").await;
    // The same charge point id and card uid in both tenants.
    let (a_chargers, a_card) = records(&app, &a, &["CP-SAME"], &reservation_tariff()).await;
    records(&app, &b, &["CP-SAME"], &reservation_tariff()).await;
    let ocpp = format!("ws://{}/ocpp", app.addr("ocpp"));
    let a_charger = ChargePoint::connect(&format!("{ocpp}/tenant-a"), "CP-SAME", "Accepted").await;
    let b_charger = ChargePoint::connect(&format!("{ocpp}/tenant-b"), "CP-SAME", "Accepted").await;

    let body = json!({"charger_id": a_chargers[0], "token_id": a_card, "expires_at": in_(3600)});
    let reply = app.post_as(&a, "/v1/reservations", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let now = || Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let start =
        json!({"connectorId": 1, "idTag": "CARD-RES-1", "meterStart": 0, "timestamp": now()});
    b_charger.call("StartTransaction", start).await;
    let start =
        json!({"connectorId": 1, "idTag": "CARD-RES-1", "meterStart": 0, "timestamp": now()});
    a_charger.call("StartTransaction", start).await;

    let mut used = Value::Null;
    for _ in 0..300 {
        used = app.get_as(&a, &format!("/v1/reservations/{id}")).await.body;
        if used["status"] == "used" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(used["status"], "used", "{used}");
    let a_sessions = app.get_as(&a, "/v1/sessions").await.body;
    let a_sessions = a_sessions["data"].as_array().unwrap();
    assert_eq!(a_sessions.len(), 1, "{a_sessions:?}");
    assert_eq!(used["session_id"], a_sessions[0]["id"]);
    let b_sessions = app.get_as(&b, "/v1/sessions").await.body;
    assert_eq!(
        b_sessions["data"].as_array().unwrap().len(),
        1,
        "{b_sessions}"
    );
    assert_ne!(used["session_id"], b_sessions["data"][0]["id"]);
}
