use joule_proto::Message;
use joule_proto::v1;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;

#[tokio::test]
async fn creates_a_site_and_reads_it_back() {
    let app = App::spawn().await;
    let reply = app
        .post(
            "/v1/sites",
            &json!({"name": "  Depot Nord ", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let site = reply.body;
    let id = site["id"].as_str().unwrap();
    assert_eq!(
        reply.headers.get("location").unwrap().to_str().unwrap(),
        format!("/v1/sites/{id}")
    );
    assert_eq!(site["name"], "Depot Nord");
    assert_eq!(site["country"], "DE");
    assert_eq!(site["time_zone"], "Europe/Berlin");
    let created_at = site["created_at"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "{created_at}");
    chrono::DateTime::parse_from_rfc3339(created_at).unwrap();

    // Read right after the 201: the same record.
    let got = app.get(&format!("/v1/sites/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, site);
    let list = app.get("/v1/sites").await;
    assert_eq!(list.body, json!({"data": [site], "next_cursor": null}));
}

#[tokio::test]
async fn creates_an_account_and_a_token() {
    let app = App::spawn().await;
    let account = app.create_account().await;
    assert_eq!(account["name"], "Fleet GmbH");
    assert_eq!(account["currency"], "EUR");
    let account_id = account["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/accounts/{account_id}")).await.body,
        account
    );

    let token = app
        .create(
            "/v1/tokens",
            &json!({"uid": "04A1B2C3", "account_id": account_id}),
        )
        .await;
    assert_eq!(token["uid"], "04A1B2C3");
    assert_eq!(token["account_id"], account_id);
    let token_id = token["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/tokens/{token_id}")).await.body, token);
    assert_eq!(app.get("/v1/tokens").await.body["data"], json!([token]));
}

#[tokio::test]
async fn a_token_uid_is_issued_once() {
    let app = App::spawn().await;
    let first = app.create_account().await;
    let second = app.create_account().await;
    app.create(
        "/v1/tokens",
        &json!({"uid": "CARD-1", "account_id": first["id"]}),
    )
    .await;
    let events = app.stored_events().await;

    let again = app
        .post(
            "/v1/tokens",
            &json!({"uid": "CARD-1", "account_id": second["id"]}),
        )
        .await;
    again.problem(StatusCode::CONFLICT);
    assert!(
        again.body["detail"].as_str().unwrap().contains("CARD-1"),
        "{}",
        again.body
    );
    assert_eq!(app.stored_events().await, events);
    let tokens = app.get("/v1/tokens").await.body;
    assert_eq!(tokens["data"].as_array().unwrap().len(), 1);
    assert_eq!(tokens["data"][0]["account_id"], first["id"]);
}

/// Each case: body, expected status, fields the problem must name.
async fn assert_rejected(app: &App, path: &str, cases: &[(Value, StatusCode, &[&str])]) {
    for (body, status, fields) in cases {
        let reply = app.post(path, body).await;
        let named = reply.problem(*status);
        for field in *fields {
            assert!(
                named.iter().any(|n| n == field),
                "{path} {body}: expected {field} in {}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn invalid_sites_are_refused_naming_the_field_and_nothing_is_written() {
    let app = App::spawn().await;
    let ok = json!({"name": "Depot", "country": "DE", "time_zone": "Europe/Berlin"});
    let with = |field: &str, value: Value| {
        let mut body = ok.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = ok.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    assert_rejected(
        &app,
        "/v1/sites",
        &[
            (
                with("time_zone", json!("Europe/Atlantis")),
                unprocessable,
                &["time_zone"],
            ),
            (with("country", json!("de")), unprocessable, &["country"]),
            (with("country", json!("DEU")), unprocessable, &["country"]),
            (with("name", json!("   ")), unprocessable, &["name"]),
            (with("name", json!(42)), unprocessable, &["name"]),
            (with("extra", json!(1)), unprocessable, &["extra"]),
            (without("time_zone"), unprocessable, &["time_zone"]),
            (without("name"), unprocessable, &["name"]),
            // Every bad field at once.
            (
                json!({"name": "", "country": "XX", "time_zone": "Nowhere"}),
                unprocessable,
                &["name", "country", "time_zone"],
            ),
        ],
    )
    .await;
    app.post_raw("/v1/sites", "application/json", r#"{"name": "Depot", "#)
        .await
        .problem(StatusCode::BAD_REQUEST);
    app.post_raw("/v1/sites", "text/plain", &ok.to_string())
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(app.stored_events().await, 0);
    assert_eq!(app.get("/v1/sites").await.body["data"], json!([]));
}

#[tokio::test]
async fn invalid_accounts_and_tokens_are_refused_naming_the_field() {
    let app = App::spawn().await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    assert_rejected(
        &app,
        "/v1/accounts",
        &[
            (
                json!({"name": "Fleet", "currency": "XYZ"}),
                unprocessable,
                &["currency"],
            ),
            (
                json!({"name": "Fleet", "currency": "eur"}),
                unprocessable,
                &["currency"],
            ),
            (json!({"name": "Fleet"}), unprocessable, &["currency"]),
        ],
    )
    .await;
    assert_rejected(
        &app,
        "/v1/tokens",
        &[
            (
                json!({"uid": "CARD-1", "account_id": uuid::Uuid::new_v4().to_string()}),
                unprocessable,
                &["account_id"],
            ),
            (
                json!({"uid": "CARD-1", "account_id": "not-a-uuid"}),
                unprocessable,
                &["account_id"],
            ),
            (
                json!({"uid": "", "account_id": uuid::Uuid::new_v4().to_string()}),
                unprocessable,
                &["uid"],
            ),
            (
                json!({"uid": "x".repeat(37), "account_id": uuid::Uuid::new_v4().to_string()}),
                unprocessable,
                &["uid"],
            ),
            (
                json!({"account_id": uuid::Uuid::new_v4().to_string()}),
                unprocessable,
                &["uid"],
            ),
        ],
    )
    .await;
    assert_eq!(app.stored_events().await, 0);
    assert_eq!(app.get("/v1/accounts").await.body["data"], json!([]));
    assert_eq!(app.get("/v1/tokens").await.body["data"], json!([]));
}

#[tokio::test]
async fn unknown_ids_are_404_problems() {
    let app = App::spawn().await;
    for kind in ["sites", "chargers", "accounts", "tokens"] {
        app.get(&format!("/v1/{kind}/{}", uuid::Uuid::new_v4()))
            .await
            .problem(StatusCode::NOT_FOUND);
        app.get(&format!("/v1/{kind}/not-an-id"))
            .await
            .problem(StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn lists_page_with_a_cursor() {
    let app = App::spawn().await;
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(app.create_account().await);
    }
    let first = app.get("/v1/accounts?limit=2").await.body;
    assert_eq!(first["data"], json!(created[..2]));
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get(&format!("/v1/accounts?limit=2&cursor={cursor}"))
        .await
        .body;
    assert_eq!(second, json!({"data": [created[2]], "next_cursor": null}));

    for bad in ["limit=0", "limit=501", "limit=many"] {
        let named = app
            .get(&format!("/v1/accounts?{bad}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(named, ["limit"]);
    }
    let named = app
        .get("/v1/accounts?cursor=abc")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(named, ["cursor"]);
}

#[tokio::test]
async fn registry_lists_filter_by_their_fields_and_creation_time() {
    let app = App::spawn().await;
    let eur = app.create_account().await;
    let chf = app
        .create(
            "/v1/accounts",
            &json!({"name": "Zurich", "currency": "CHF"}),
        )
        .await;
    let by_currency = app.get("/v1/accounts?currency=CHF").await.body;
    assert_eq!(by_currency["data"], json!([chf]));
    let since = eur["created_at"].as_str().unwrap();
    let after_first = app
        .get(&format!("/v1/accounts?created_after={since}"))
        .await
        .body;
    assert_eq!(after_first["data"], json!([chf]));
    let before = app
        .get("/v1/sites?created_before=2000-01-01T00:00:00Z")
        .await
        .body;
    assert_eq!(before["data"], json!([]));
    let named = app
        .get("/v1/chargers?site=1&site_id=nope&created_after=today")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(named, ["site", "site_id", "created_after"]);
}

#[tokio::test]
async fn the_registry_stream_receives_the_events() {
    let app = App::spawn().await;
    let site = app.create_site().await;
    let account = app.create_account().await;
    let token = app
        .create(
            "/v1/tokens",
            &json!({"uid": "CARD-9", "account_id": account["id"]}),
        )
        .await;

    let messages = app.registry_messages(3).await;
    assert_eq!(messages.len(), 3);
    let ns = &app.env.namespace;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();

    let (subject, envelope, msg_id) = &messages[0];
    assert_eq!(subject, &format!("{ns}.registry.site.{}", id(&site)));
    assert_eq!(envelope.event_type, "joule.v1.SiteRegistered");
    assert_eq!(envelope.tenant_id, "default");
    assert_eq!(envelope.aggregate_id, id(&site));
    assert_eq!(msg_id, &envelope.event_id);
    let registered = v1::SiteRegistered::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(
        registered,
        v1::SiteRegistered {
            site_id: id(&site),
            name: "Depot Nord".into(),
            country: "DE".into(),
            time_zone: "Europe/Berlin".into()
        }
    );

    let (subject, envelope, _) = &messages[1];
    assert_eq!(subject, &format!("{ns}.registry.account.{}", id(&account)));
    let opened = v1::AccountOpened::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(
        opened,
        v1::AccountOpened {
            account_id: id(&account),
            name: "Fleet GmbH".into(),
            currency: "EUR".into()
        }
    );

    let (subject, envelope, _) = &messages[2];
    assert_eq!(subject, &format!("{ns}.registry.token.{}", id(&token)));
    assert_eq!(envelope.event_type, "joule.v1.TokenIssued");
    let issued = v1::TokenIssued::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(
        issued,
        v1::TokenIssued {
            token_id: id(&token),
            uid: "CARD-9".into(),
            account_id: id(&account)
        }
    );
}
