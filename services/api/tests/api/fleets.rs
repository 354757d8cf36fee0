//! Fleets, cost centres, drivers, vehicles and token assignments (issue 13), end to end over HTTP:
//! an admin sets up an account's fleets, a fleet manager runs hers and sees nothing beyond it, and
//! another tenant sees none of it.

use joule_proto::Message;
use joule_proto::v1;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{App, Reply};
use crate::identity::{app_with, tenant_with_admin};

/// A North American VIN with its check digit (the textbook example: the digit is 10, written X).
const VIN: &str = "1M8GDM9AXKP042788";
/// A European VIN: no check digit to verify.
const EU_VIN: &str = "WVWZZZ1JZXW000001";

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

/// POSTs as `token`, asserting the 201; returns the body.
async fn created(app: &App, token: &str, path: &str, body: Value) -> Value {
    let reply = app.post_as(token, path, &body).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "POST {path} {body}: {}",
        reply.body
    );
    reply.body
}

async fn patch(app: &App, token: &str, path: &str, body: Value) -> Reply {
    app.send_as(token, Method::PATCH, path, &body).await
}

async fn put(app: &App, token: &str, path: &str, body: Value) -> Reply {
    app.send_as(token, Method::PUT, path, &body).await
}

/// The ids of a list's page.
fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(id)
        .collect()
}

/// An admin's account with two fleets and a cost centre, and a fleet manager for the first.
struct Setup {
    admin: String,
    manager: String,
    account: String,
    vans: String,
    trucks: String,
    cost_centre: String,
}

async fn setup(app: &App, tenant: &str) -> Setup {
    let admin = tenant_with_admin(app, tenant).await;
    let account = id(&created(
        app,
        &admin,
        "/v1/accounts",
        json!({"name": "Logistics GmbH", "currency": "EUR"}),
    )
    .await);
    let vans = created(
        app,
        &admin,
        "/v1/fleets",
        json!({"account_id": account, "name": "Vans"}),
    )
    .await;
    assert_eq!(vans["status"], "active");
    assert_eq!(vans["account_id"], account.as_str());
    let trucks = id(&created(
        app,
        &admin,
        "/v1/fleets",
        json!({"account_id": account, "name": "Trucks"}),
    )
    .await);
    let cost_centre = created(
        app,
        &admin,
        "/v1/cost-centres",
        json!({"account_id": account, "code": "4711-SALES", "name": "Sales"}),
    )
    .await;
    assert_eq!(cost_centre["code"], "4711-SALES");
    let key = created(
        app,
        &admin,
        "/v1/api-keys",
        json!({"name": "vans manager", "roles": ["fleet_manager"], "fleets": [id(&vans)]}),
    )
    .await;
    Setup {
        manager: key["secret"].as_str().unwrap().to_owned(),
        admin,
        account,
        vans: id(&vans),
        trucks,
        cost_centre: id(&cost_centre),
    }
}

#[tokio::test]
async fn a_fleet_manager_runs_her_fleet_and_sees_nothing_beyond_it() {
    let app = app_with(|_| {}).await;
    let s = setup(&app, "acme").await;
    let fm = s.manager.as_str();

    // Drivers and a vehicle in her fleet.
    let ana = created(
        &app,
        fm,
        "/v1/drivers",
        json!({"fleet_id": s.vans, "name": "Ana Silva", "email": "ana@example.com",
               "cost_centre_id": s.cost_centre}),
    )
    .await;
    assert_eq!(ana["fleet_id"], s.vans.as_str());
    assert_eq!(ana["cost_centre_id"], s.cost_centre.as_str());
    assert_eq!(ana["status"], "active");
    let mut drivers = vec![id(&ana)];
    for name in ["Ben", "Chloé", "Dev"] {
        let d = created(
            &app,
            fm,
            "/v1/drivers",
            json!({"fleet_id": s.vans, "name": name}),
        )
        .await;
        assert!(d["email"].is_null() && d["cost_centre_id"].is_null(), "{d}");
        drivers.push(id(&d));
    }
    let van = created(
        &app,
        fm,
        "/v1/vehicles",
        json!({"fleet_id": s.vans, "vin": VIN, "make": "Ford", "model": "E-Transit",
               "battery_capacity_kwh": "68.000"}),
    )
    .await;
    assert_eq!(van["battery_capacity_kwh"], "68");
    assert_eq!(van["vin"], VIN);
    assert_eq!(
        app.get_as(fm, &format!("/v1/vehicles/{}", id(&van)))
            .await
            .body,
        van
    );
    // The same VIN twice in her fleet is a conflict; nothing more is written.
    let again = app
        .post_as(
            fm,
            "/v1/vehicles",
            &json!({"fleet_id": s.vans, "vin": VIN, "make": "Ford", "model": "E-Transit",
                    "battery_capacity_kwh": 68}),
        )
        .await;
    again.problem(StatusCode::CONFLICT);

    // What she may not do writes nothing.
    let events = app.stored_events().await;
    let bad_vin = app
        .post_as(
            fm,
            "/v1/vehicles",
            &json!({"fleet_id": s.vans, "vin": "1M8GDM9A1KP042788", "make": "Ford",
                    "model": "E-Transit", "battery_capacity_kwh": "68"}),
        )
        .await;
    assert_eq!(bad_vin.problem(StatusCode::UNPROCESSABLE_ENTITY), ["vin"]);
    assert!(
        bad_vin.body["detail"]
            .as_str()
            .unwrap()
            .contains("check digit"),
        "{}",
        bad_vin.body
    );
    let short = app
        .post_as(
            fm,
            "/v1/vehicles",
            &json!({"fleet_id": s.vans, "vin": "WVWZZZ1JZXW00001O", "make": "VW",
                    "model": "ID. Buzz", "battery_capacity_kwh": "0"}),
        )
        .await;
    assert_eq!(
        short.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["vin", "battery_capacity_kwh"]
    );
    let elsewhere = app
        .post_as(
            fm,
            "/v1/drivers",
            &json!({"fleet_id": s.trucks, "name": "Eve"}),
        )
        .await;
    assert_eq!(elsewhere.problem(StatusCode::NOT_FOUND), ["fleet_id"]);
    let elsewhere = app
        .post_as(
            fm,
            "/v1/vehicles",
            &json!({"fleet_id": s.trucks, "vin": EU_VIN, "make": "VW",
                    "model": "ID. Buzz", "battery_capacity_kwh": "77"}),
        )
        .await;
    assert_eq!(elsewhere.problem(StatusCode::NOT_FOUND), ["fleet_id"]);
    let fleet = app
        .post_as(
            fm,
            "/v1/fleets",
            &json!({"account_id": s.account, "name": "Mine"}),
        )
        .await;
    fleet.problem(StatusCode::FORBIDDEN);
    assert_eq!(fleet.body["missing_scope"], "fleets:write");
    // Cost centres she creates for the account that holds her fleet only: another reads as none.
    let cost_centre = app
        .post_as(
            fm,
            "/v1/cost-centres",
            &json!({"account_id": uuid::Uuid::new_v4(), "code": "X", "name": "X"}),
        )
        .await;
    assert_eq!(cost_centre.problem(StatusCode::NOT_FOUND), ["account_id"]);
    let rename = patch(
        &app,
        fm,
        &format!("/v1/fleets/{}", s.vans),
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(rename.body["missing_scope"], "fleets:write");
    assert_eq!(app.stored_events().await, events, "refusals write nothing");

    // The other fleet's records are none of hers.
    let eve = created(
        &app,
        &s.admin,
        "/v1/drivers",
        json!({"fleet_id": s.trucks, "name": "Eve"}),
    )
    .await;
    let truck = created(
        &app,
        &s.admin,
        "/v1/vehicles",
        json!({"fleet_id": s.trucks, "vin": EU_VIN, "make": "MAN", "model": "eTGM",
               "battery_capacity_kwh": 264}),
    )
    .await;
    for path in [
        format!("/v1/drivers/{}", id(&eve)),
        format!("/v1/vehicles/{}", id(&truck)),
        format!("/v1/fleets/{}", s.trucks),
    ] {
        app.get_as(fm, &path).await.problem(StatusCode::NOT_FOUND);
        assert_eq!(app.get_as(&s.admin, &path).await.status, StatusCode::OK);
    }
    patch(
        &app,
        fm,
        &format!("/v1/drivers/{}", id(&eve)),
        json!({"name": "Mallory"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    assert_eq!(ids(&app.get_as(fm, "/v1/drivers").await), drivers);
    assert_eq!(ids(&app.get_as(fm, "/v1/vehicles").await), [id(&van)]);
    assert_eq!(ids(&app.get_as(fm, "/v1/fleets").await), [s.vans.as_str()]);
    assert!(
        ids(&app
            .get_as(fm, &format!("/v1/drivers?fleet_id={}", s.trucks))
            .await)
        .is_empty()
    );
    assert_eq!(
        ids(&app.get_as(&s.admin, "/v1/drivers").await).len(),
        5,
        "the admin sees both fleets"
    );
    // Cost centres of the account that holds her fleet: she reads them.
    assert_eq!(
        ids(&app.get_as(fm, "/v1/cost-centres").await),
        [s.cost_centre.as_str()]
    );

    // Cards of the account: unassigned ones are hers to hand out.
    let card = |uid: &str| json!({"uid": uid, "account_id": s.account});
    let card1 = created(&app, &s.admin, "/v1/tokens", card("CARD-1")).await;
    let card2 = created(&app, &s.admin, "/v1/tokens", card("CARD-2")).await;
    assert!(card1["fleet_id"].is_null() && card1["driver_id"].is_null());
    assert_eq!(
        ids(&app.get_as(fm, "/v1/tokens").await),
        [id(&card1), id(&card2)]
    );
    let assignment = |token: &Value| format!("/v1/tokens/{}/assignment", id(token));
    let assigned = put(
        &app,
        fm,
        &assignment(&card1),
        json!({"driver_id": id(&ana), "vehicle_id": id(&van)}),
    )
    .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    assert_eq!(assigned.body["fleet_id"], s.vans.as_str());
    assert_eq!(assigned.body["driver_id"], id(&ana).as_str());
    assert_eq!(assigned.body["vehicle_id"], id(&van).as_str());
    assert!(assigned.body["assigned_at"].is_string());
    assert_eq!(
        app.get_as(fm, &format!("/v1/tokens/{}", id(&card1)))
            .await
            .body,
        assigned.body
    );
    // Repeating it changes nothing.
    let events = app.stored_events().await;
    let again = put(
        &app,
        fm,
        &assignment(&card1),
        json!({"driver_id": id(&ana), "vehicle_id": id(&van)}),
    )
    .await;
    assert_eq!(again.body, assigned.body);
    // Not to the other fleet's driver, and not a driver and vehicle of two fleets.
    put(
        &app,
        fm,
        &assignment(&card2),
        json!({"driver_id": id(&eve)}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    let mixed = put(
        &app,
        &s.admin,
        &assignment(&card2),
        json!({"driver_id": id(&ana), "vehicle_id": id(&truck)}),
    )
    .await;
    assert_eq!(
        mixed.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["vehicle_id"]
    );
    assert_eq!(app.stored_events().await, events);

    // Once the admin hands card 2 to the other fleet, she no longer sees it.
    let to_trucks = put(
        &app,
        &s.admin,
        &assignment(&card2),
        json!({"driver_id": id(&eve)}),
    )
    .await;
    assert_eq!(to_trucks.body["fleet_id"], s.trucks.as_str());
    app.get_as(fm, &format!("/v1/tokens/{}", id(&card2)))
        .await
        .problem(StatusCode::NOT_FOUND);
    put(&app, fm, &assignment(&card2), json!({}))
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(ids(&app.get_as(fm, "/v1/tokens").await), [id(&card1)]);
    assert_eq!(
        ids(&app
            .get_as(fm, &format!("/v1/tokens?driver_id={}", id(&ana)))
            .await),
        [id(&card1)]
    );
    assert!(
        ids(&app
            .get_as(fm, &format!("/v1/tokens?vehicle_id={}", id(&truck)))
            .await)
        .is_empty()
    );

    // The assignments are on REGISTRY, beside the issues.
    // Account, two issues, two assignments: fleet records are not published.
    let messages = app.registry_messages(5).await;
    let published: Vec<v1::TokenAssigned> = messages
        .iter()
        .filter(|(subject, _, _)| subject.contains(".registry.assignment."))
        .map(|(subject, envelope, _)| {
            assert_eq!(envelope.event_type, "joule.v1.TokenAssigned");
            assert_eq!(envelope.tenant_id, "acme");
            let message = v1::TokenAssigned::decode(envelope.payload.as_slice()).unwrap();
            assert!(subject.ends_with(&message.token_id), "{subject}");
            message
        })
        .collect();
    assert_eq!(
        published,
        [
            v1::TokenAssigned {
                token_id: id(&card1),
                account_id: s.account.clone(),
                fleet_id: s.vans.clone(),
                driver_id: id(&ana),
                vehicle_id: id(&van),
                // Ana's: the driver's cost centre is what her card's sessions are booked to.
                cost_centre_id: s.cost_centre.clone(),
            },
            v1::TokenAssigned {
                token_id: id(&card2),
                account_id: s.account.clone(),
                fleet_id: s.trucks.clone(),
                driver_id: id(&eve),
                vehicle_id: String::new(),
                cost_centre_id: String::new(),
            }
        ]
    );

    // Her lists page, filter by status and by time.
    let first = app.get_as(fm, "/v1/drivers?limit=3").await;
    assert_eq!(ids(&first), drivers[..3]);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let rest = app
        .get_as(fm, &format!("/v1/drivers?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(ids(&rest), drivers[3..]);
    assert!(rest.body["next_cursor"].is_null());
    let dev = format!("/v1/drivers/{}", drivers[3]);
    let archived = patch(&app, fm, &dev, json!({"status": "archived"})).await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    assert_eq!(archived.body["status"], "archived");
    assert_ne!(archived.body["updated_at"], archived.body["created_at"]);
    assert_eq!(
        ids(&app.get_as(fm, "/v1/drivers?status=active").await),
        drivers[..3]
    );
    assert_eq!(
        ids(&app.get_as(fm, "/v1/drivers?status=archived").await),
        drivers[3..]
    );
    let after = ana["created_at"].as_str().unwrap();
    let after = urlencode(after);
    assert_eq!(
        ids(&app
            .get_as(fm, &format!("/v1/drivers?created_after={after}"))
            .await),
        drivers[1..]
    );
    assert_eq!(
        ids(&app
            .get_as(fm, &format!("/v1/drivers?created_before={after}"))
            .await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&app
            .get_as(fm, &format!("/v1/drivers?cost_centre_id={}", s.cost_centre))
            .await),
        [id(&ana)]
    );
    // An archived driver takes no card.
    put(
        &app,
        fm,
        &assignment(&card1),
        json!({"driver_id": drivers[3]}),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);

    // She issues cards to the account that holds her fleet, and to no other.
    let own = created(&app, fm, "/v1/tokens", card("CARD-3")).await;
    assert_eq!(own["account_id"], s.account.as_str());
    let other = id(&created(
        &app,
        &s.admin,
        "/v1/accounts",
        json!({"name": "Someone else", "currency": "EUR"}),
    )
    .await);
    let refused = app
        .post_as(
            fm,
            "/v1/tokens",
            &json!({"uid": "CARD-4", "account_id": other}),
        )
        .await;
    assert_eq!(
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["account_id"]
    );
    let admins_card = created(
        &app,
        &s.admin,
        "/v1/tokens",
        json!({"uid": "CARD-5", "account_id": other}),
    )
    .await;
    app.get_as(fm, &format!("/v1/tokens/{}", id(&admins_card)))
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        ids(&app.get_as(fm, "/v1/tokens").await),
        [id(&card1), id(&own)]
    );
}

/// `+` in an RFC 3339 offset must not read as a space.
fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn changes_keep_what_they_do_not_name_and_check_what_they_name() {
    let app = app_with(|_| {}).await;
    let s = setup(&app, "acme").await;
    let admin = s.admin.as_str();
    let ana = created(
        &app,
        admin,
        "/v1/drivers",
        json!({"fleet_id": s.vans, "name": "Ana", "email": "ana@example.com",
               "cost_centre_id": s.cost_centre}),
    )
    .await;
    let path = format!("/v1/drivers/{}", id(&ana));
    let changed = patch(
        &app,
        admin,
        &path,
        json!({"email": null, "name": "Ana Silva"}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(changed.body["email"].is_null());
    assert_eq!(changed.body["name"], "Ana Silva");
    assert_eq!(changed.body["cost_centre_id"], s.cost_centre.as_str());
    assert_eq!(app.get_as(admin, &path).await.body, changed.body);

    // A cost centre of another account is refused; so are bad values, all named at once.
    let other_account = id(&created(
        &app,
        admin,
        "/v1/accounts",
        json!({"name": "Other", "currency": "EUR"}),
    )
    .await);
    let foreign = id(&created(
        &app,
        admin,
        "/v1/cost-centres",
        json!({"account_id": other_account, "code": "4711-SALES", "name": "Sales"}),
    )
    .await);
    assert_ne!(foreign, s.cost_centre, "codes are per account");
    let events = app.stored_events().await;
    let refused = patch(&app, admin, &path, json!({"cost_centre_id": foreign})).await;
    assert_eq!(
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["cost_centre_id"]
    );
    let refused = patch(
        &app,
        admin,
        &path,
        json!({"name": " ", "email": "ana", "status": "retired"}),
    )
    .await;
    assert_eq!(
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["name", "email", "status"]
    );
    let refused = patch(&app, admin, &path, json!({"fleet_id": s.trucks})).await;
    assert_eq!(
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["fleet_id"]
    );
    let duplicate = app
        .post_as(
            admin,
            "/v1/cost-centres",
            &json!({"account_id": s.account, "code": "4711-SALES", "name": "Again"}),
        )
        .await;
    duplicate.problem(StatusCode::CONFLICT);
    assert_eq!(app.stored_events().await, events);

    // Vehicles: capacity as a decimal, archived fleets take no members.
    let van = created(
        &app,
        admin,
        "/v1/vehicles",
        json!({"fleet_id": s.vans, "vin": EU_VIN, "make": "VW", "model": "ID. Buzz Cargo",
               "battery_capacity_kwh": "77"}),
    )
    .await;
    let van_path = format!("/v1/vehicles/{}", id(&van));
    let changed = patch(
        &app,
        admin,
        &van_path,
        json!({"battery_capacity_kwh": "79.125", "cost_centre_id": s.cost_centre}),
    )
    .await;
    assert_eq!(changed.body["battery_capacity_kwh"], "79.125");
    assert_eq!(changed.body["make"], "VW");
    let vin_change = patch(&app, admin, &van_path, json!({"vin": VIN})).await;
    assert_eq!(
        vin_change.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["vin"]
    );
    let too_precise = patch(
        &app,
        admin,
        &van_path,
        json!({"battery_capacity_kwh": "79.1255"}),
    )
    .await;
    assert_eq!(
        too_precise.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["battery_capacity_kwh"]
    );
    let fleet = patch(
        &app,
        admin,
        &format!("/v1/fleets/{}", s.trucks),
        json!({"status": "archived", "name": "Old trucks"}),
    )
    .await;
    assert_eq!(fleet.body["status"], "archived");
    assert_eq!(fleet.body["name"], "Old trucks");
    let refused = app
        .post_as(
            admin,
            "/v1/drivers",
            &json!({"fleet_id": s.trucks, "name": "Late"}),
        )
        .await;
    assert_eq!(
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["fleet_id"]
    );
    assert_eq!(
        ids(&app.get_as(admin, "/v1/fleets?status=archived").await),
        [s.trucks.as_str()]
    );

    // A card for the van alone, then for no one: back in the account's pool.
    let card = created(
        &app,
        admin,
        "/v1/tokens",
        json!({"uid": "VAN-CARD", "account_id": s.account}),
    )
    .await;
    let path = format!("/v1/tokens/{}/assignment", id(&card));
    let to_van = put(&app, admin, &path, json!({"vehicle_id": id(&van)})).await;
    assert_eq!(to_van.body["fleet_id"], s.vans.as_str());
    assert!(to_van.body["driver_id"].is_null());
    let to_none = put(&app, admin, &path, json!({"driver_id": null})).await;
    assert_eq!(to_none.status, StatusCode::OK, "{}", to_none.body);
    assert!(to_none.body["fleet_id"].is_null() && to_none.body["vehicle_id"].is_null());
    assert!(to_none.body["assigned_at"].is_string());
    assert_eq!(
        ids(&app.get_as(&s.manager, "/v1/tokens").await),
        [id(&card)],
        "her fleet's manager sees the card in the pool"
    );

    // List parameters are checked, all at once.
    let bad = app
        .get_as(
            admin,
            "/v1/vehicles?fleet_id=nope&status=gone&created_after=yesterday&colour=red",
        )
        .await;
    assert_eq!(
        bad.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["colour", "fleet_id", "status", "created_after"]
    );
}

#[tokio::test]
async fn another_tenants_fleet_records_are_not_found() {
    let app = app_with(|_| {}).await;
    let a = setup(&app, "tenant-a").await;
    let driver = created(
        &app,
        &a.admin,
        "/v1/drivers",
        json!({"fleet_id": a.vans, "name": "Ana"}),
    )
    .await;
    let vehicle = created(
        &app,
        &a.admin,
        "/v1/vehicles",
        json!({"fleet_id": a.vans, "vin": VIN, "make": "Ford", "model": "E-Transit",
               "battery_capacity_kwh": "68"}),
    )
    .await;
    let b = setup(&app, "tenant-b").await;
    let events = app.stored_events().await;
    for path in [
        format!("/v1/fleets/{}", a.vans),
        format!("/v1/cost-centres/{}", a.cost_centre),
        format!("/v1/drivers/{}", id(&driver)),
        format!("/v1/vehicles/{}", id(&vehicle)),
    ] {
        for token in [&b.admin, &b.manager] {
            app.get_as(token, &path)
                .await
                .problem(StatusCode::NOT_FOUND);
        }
        patch(&app, &b.admin, &path, json!({"status": "archived"}))
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    let foreign = app
        .post_as(
            &b.admin,
            "/v1/drivers",
            &json!({"fleet_id": a.vans, "name": "Mallory"}),
        )
        .await;
    assert_eq!(foreign.problem(StatusCode::NOT_FOUND), ["fleet_id"]);
    let foreign = app
        .post_as(
            &b.admin,
            "/v1/fleets",
            &json!({"account_id": a.account, "name": "Stolen"}),
        )
        .await;
    assert_eq!(foreign.problem(StatusCode::NOT_FOUND), ["account_id"]);
    let b_card = created(
        &app,
        &b.admin,
        "/v1/tokens",
        json!({"uid": "B-CARD", "account_id": b.account}),
    )
    .await;
    let foreign = put(
        &app,
        &b.admin,
        &format!("/v1/tokens/{}/assignment", id(&b_card)),
        json!({"driver_id": id(&driver)}),
    )
    .await;
    assert_eq!(foreign.problem(StatusCode::NOT_FOUND), ["driver_id"]);
    for list in [
        "/v1/fleets",
        "/v1/cost-centres",
        "/v1/drivers",
        "/v1/vehicles",
    ] {
        let page = app.get_as(&b.admin, list).await;
        for a_id in [
            &a.vans,
            &a.trucks,
            &a.cost_centre,
            &id(&driver),
            &id(&vehicle),
        ] {
            assert!(
                !page.body.to_string().contains(a_id.as_str()),
                "{list}: {}",
                page.body
            );
        }
    }
    // Only B's own card was written meanwhile.
    assert_eq!(app.stored_events().await, events + 1);
}
