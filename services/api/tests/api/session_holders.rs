//! A session records who held its token when it started (issue 13): the fleet, driver and cost
//! centre of the token's assignment then, whatever the token is reassigned to later; a fleet
//! manager follows her fleets' sessions and their transactions, and no others. A real OCPP 1.6
//! charger, and api, gateway, sessions, pricing, invoicing and the ledger in one process.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::charge_point::ChargePoint;
use crate::helpers::App;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

async fn created(app: &App, path: &str, body: Value) -> Value {
    let reply = app.post(path, &body).await;
    assert!(reply.status.is_success(), "{path}: {}", reply.body);
    reply.body
}

async fn assign(app: &App, card: &Value, driver: &Value) {
    let path = format!("/v1/tokens/{}/assignment", id(card));
    let reply = app
        .send_as(
            &app.token,
            Method::PUT,
            &path,
            &json!({"driver_id": id(driver)}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// The sessions `token` lists at `query`, once at least `want` are there.
async fn sessions(app: &App, token: &str, query: &str, want: usize) -> Vec<Value> {
    listed(app, token, &format!("/v1/sessions{query}"), want).await
}

#[tokio::test]
async fn a_session_keeps_who_held_its_token_and_fleet_managers_see_their_fleets_only() {
    let app = App::spawn_adjusted(
        &[
            joule_api::SERVICE,
            joule_gateway::SERVICE,
            joule_sessions::SERVICE,
            joule_pricing::SERVICE,
            joule_invoicing::SERVICE,
            joule_ledger::SERVICE,
        ],
        |_| {},
    )
    .await;
    let account = created(
        &app,
        "/v1/accounts",
        json!({"name": "Logistics", "currency": "EUR"}),
    )
    .await;
    let vans = created(
        &app,
        "/v1/fleets",
        json!({"account_id": id(&account), "name": "Vans"}),
    )
    .await;
    let trucks = created(
        &app,
        "/v1/fleets",
        json!({"account_id": id(&account), "name": "Trucks"}),
    )
    .await;
    let managers: Vec<String> = {
        let mut secrets = Vec::new();
        for fleet in [&vans, &trucks] {
            let key = created(
                &app,
                "/v1/api-keys",
                json!({"name": "manager", "roles": ["fleet_manager"], "fleets": [id(fleet)]}),
            )
            .await;
            secrets.push(key["secret"].as_str().unwrap().to_owned());
        }
        secrets
    };
    // The Vans manager sets up her cost centre (of the account that holds her fleet).
    let reply = app
        .post_as(
            &managers[0],
            "/v1/cost-centres",
            &json!({"account_id": id(&account), "code": "4711-SALES", "name": "Sales"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let sales = reply.body;
    let ana = created(
        &app,
        "/v1/drivers",
        json!({"fleet_id": id(&vans), "name": "Ana", "cost_centre_id": id(&sales)}),
    )
    .await;
    let bo = created(
        &app,
        "/v1/drivers",
        json!({"fleet_id": id(&trucks), "name": "Bo"}),
    )
    .await;
    let card = created(
        &app,
        "/v1/tokens",
        json!({"uid": "CARD-FLEET-1", "account_id": id(&account)}),
    )
    .await;
    assign(&app, &card, &ana).await;

    // Registered after the assignment: once the gateway lets the charger in, it has read the
    // registry up to the assignment (one stream, in order).
    let site = created(
        &app,
        "/v1/sites",
        json!({"name": "Depot", "country": "DE", "time_zone": "Europe/Berlin"}),
    )
    .await;
    let tariff = created(&app, "/v1/tariffs", crate::tariffs::ocpi_tariff()).await;
    let charger = created(
        &app,
        "/v1/chargers",
        json!({"charge_point_id": "CP-FLEET-1", "site_id": id(&site), "tariff_id": id(&tariff)}),
    )
    .await;
    let ocpp = format!("ws://{}/ocpp", app.addr("ocpp"));
    let cp = ChargePoint::connect(&ocpp, "CP-FLEET-1", "Accepted").await;
    let now = || Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);

    // She reserves the charger for Ana's card; the Trucks manager can neither see nor make it.
    let (vans_manager, trucks_manager) = (&managers[0], &managers[1]);
    let in_an_hour = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let reservation = json!({"charger_id": id(&charger), "token_id": id(&card),
                             "connector_id": 1, "expires_at": in_an_hour});
    let reserved = app
        .post_as(vans_manager, "/v1/reservations", &reservation)
        .await;
    assert_eq!(reserved.status, StatusCode::CREATED, "{}", reserved.body);
    let path = format!("/v1/reservations/{}", id(&reserved.body));
    app.get_as(trucks_manager, &path)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.post_as(trucks_manager, "/v1/reservations", &reservation)
        .await
        .problem(StatusCode::NOT_FOUND);
    let theirs = app.get_as(trucks_manager, "/v1/reservations").await;
    assert_eq!(theirs.body["data"], json!([]), "{}", theirs.body);

    let started = cp
        .call(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "CARD-FLEET-1", "meterStart": 0, "timestamp": now(),
                   "reservationId": reserved.body["ocpp_reservation_id"]}),
        )
        .await;
    assert_eq!(started["idTagInfo"]["status"], "Accepted", "{started}");
    for _ in 0..300 {
        let used = app.get_as(vans_manager, &path).await;
        if used.body["status"] == "used" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let used = app.get_as(vans_manager, &path).await;
    assert_eq!(used.body["status"], "used", "{}", used.body);

    let charger_query = format!("?charger_id={}", id(&charger));
    let first = sessions(&app, &app.token, &charger_query, 1).await;
    let session = first[0].clone();
    assert_eq!(session["fleet_id"], id(&vans).as_str(), "{session}");
    assert_eq!(session["driver_id"], id(&ana).as_str());
    assert_eq!(session["cost_centre_id"], id(&sales).as_str());
    assert_eq!(session["vehicle_id"], Value::Null);

    // The card moves to Bo's truck fleet: the started session keeps Ana, Vans and Sales.
    assign(&app, &card, &bo).await;
    let again = app
        .get(&format!("/v1/sessions/{}", id(&session)))
        .await
        .body;
    assert_eq!(again["driver_id"], id(&ana).as_str(), "{again}");
    assert_eq!(again["fleet_id"], id(&vans).as_str());

    // Filters, and each manager's reach.
    let by_driver = sessions(&app, &app.token, &format!("?driver_id={}", id(&ana)), 1).await;
    assert_eq!(by_driver.len(), 1);
    let none = app
        .get(&format!(
            "/v1/sessions?driver_id={}&status=completed",
            id(&ana)
        ))
        .await;
    assert_eq!(none.body["data"], json!([]), "{}", none.body);
    let hers = sessions(&app, vans_manager, "", 1).await;
    assert_eq!(hers.len(), 1);
    assert_eq!(hers[0]["id"], session["id"]);
    let theirs = app.get_as(trucks_manager, "/v1/sessions").await;
    assert_eq!(theirs.body["data"], json!([]), "{}", theirs.body);
    app.get_as(trucks_manager, &format!("/v1/sessions/{}", id(&session)))
        .await
        .problem(StatusCode::NOT_FOUND);
    let own = app
        .get_as(vans_manager, &format!("/v1/sessions/{}", id(&session)))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let bad = app
        .get("/v1/sessions?fleet_id=vans&started_after=soon")
        .await;
    assert_eq!(
        bad.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["fleet_id", "started_after"]
    );

    // The session ends and is invoiced: the charge is Vans' and Sales', for her and not for them.
    let stopped = cp
        .call(
            "StopTransaction",
            json!({"transactionId": started["transactionId"], "meterStop": 12000,
                   "timestamp": now(), "reason": "Local"}),
        )
        .await;
    assert!(stopped.is_object(), "{stopped}");
    let charges = listed(&app, vans_manager, "/v1/transactions", 1).await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["type"], "charge");
    assert_eq!(charges[0]["session_id"], session["id"]);
    let by_cost_centre = app
        .get(&format!("/v1/transactions?cost_centre_id={}", id(&sales)))
        .await;
    assert_eq!(by_cost_centre.body["data"], json!(charges));
    let theirs = app.get_as(trucks_manager, "/v1/transactions").await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.body);
    assert_eq!(theirs.body["data"], json!([]));

    // The receipt: hers to read, by fleet and driver too; not theirs.
    let receipts = listed(&app, vans_manager, "/v1/invoices", 1).await;
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let receipt = format!("/v1/invoices/{}", id(&receipts[0]));
    assert_eq!(receipts[0]["session_ids"], json!([session["id"]]));
    let by_fleet = app
        .get(&format!(
            "/v1/invoices?fleet_id={}&driver_id={}",
            id(&vans),
            id(&ana)
        ))
        .await;
    assert_eq!(by_fleet.body["data"], json!(receipts), "{}", by_fleet.body);
    let by_other = app
        .get(&format!("/v1/invoices?fleet_id={}", id(&trucks)))
        .await;
    assert_eq!(by_other.body["data"], json!([]), "{}", by_other.body);
    let theirs = app.get_as(trucks_manager, "/v1/invoices").await;
    assert_eq!(theirs.body["data"], json!([]), "{}", theirs.body);
    app.get_as(trucks_manager, &receipt)
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_as(vans_manager, &receipt).await.status,
        StatusCode::OK
    );

    // Drivers: Ana's key reads her session and receipt, Bo's reads neither, and neither more.
    let ana_key = driver_key(&app, &ana).await;
    let bo_key = driver_key(&app, &bo).await;
    let hers = app.get_as(&ana_key, "/v1/sessions").await;
    assert_eq!(
        hers.body["data"].as_array().map(Vec::len),
        Some(1),
        "{}",
        hers.body
    );
    assert_eq!(hers.body["data"][0]["id"], session["id"]);
    let session_path = format!("/v1/sessions/{}", id(&session));
    assert_eq!(
        app.get_as(&ana_key, &session_path).await.status,
        StatusCode::OK
    );
    assert_eq!(listed(&app, &ana_key, "/v1/invoices", 1).await, receipts);
    assert_eq!(app.get_as(&ana_key, &receipt).await.status, StatusCode::OK);
    for path in ["/v1/sessions", "/v1/invoices"] {
        let none = app.get_as(&bo_key, path).await;
        assert_eq!(none.body["data"], json!([]), "{path}: {}", none.body);
    }
    for path in [&session_path, &receipt] {
        app.get_as(&bo_key, path)
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    let refused = app.get_as(&ana_key, "/v1/transactions").await;
    refused.problem(StatusCode::FORBIDDEN);
    assert_eq!(refused.body["missing_scope"], "transactions:read");

    // A driver key names an existing driver; no other key names one.
    let no_driver = app
        .post("/v1/api-keys", &json!({"name": "d", "roles": ["driver"]}))
        .await;
    assert_eq!(
        no_driver.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["driver_id"]
    );
    let not_a_driver = app
        .post(
            "/v1/api-keys",
            &json!({"name": "d", "roles": ["finance"], "driver_id": id(&ana)}),
        )
        .await;
    assert_eq!(
        not_a_driver.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["driver_id"]
    );
    let unknown = app
        .post(
            "/v1/api-keys",
            &json!({"name": "d", "roles": ["driver"], "driver_id": id(&vans)}),
        )
        .await;
    assert_eq!(unknown.problem(StatusCode::NOT_FOUND), ["driver_id"]);
}

/// The records `token` lists at `path`, once there are at least `want`.
async fn listed(app: &App, token: &str, path: &str, want: usize) -> Vec<Value> {
    for _ in 0..300 {
        let reply = app.get_as(token, path).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let data = reply.body["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= want {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {want} at {path}");
}

/// A new key that acts for `driver`.
async fn driver_key(app: &App, driver: &Value) -> String {
    let key = created(
        app,
        "/v1/api-keys",
        json!({"name": driver["name"], "roles": ["driver"], "driver_id": id(driver)}),
    )
    .await;
    assert_eq!(key["driver_id"], driver["id"], "{key}");
    key["secret"].as_str().expect("a secret").to_owned()
}
