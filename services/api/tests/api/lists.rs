//! One list shape (issue 14): every list answers `data` and `next_cursor`, pages by cursor, applies
//! the filters it accepts and refuses the parameters it does not know.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::App;

fn ids(list: &Value) -> Vec<Value> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|r| r["id"].clone())
        .collect()
}

#[tokio::test]
async fn payment_methods_wallets_and_wallet_lines_page_by_cursor() {
    let app = App::spawn_with_pricing_and_payments().await;
    let account = app.create_account().await;
    let a = account["id"].as_str().unwrap();
    let mut saved = Vec::new();
    for (i, token) in [
        "tok_sandbox_ok",
        "tok_sandbox_no_incremental",
        "tok_sandbox_decline",
    ]
    .iter()
    .enumerate()
    {
        let card = json!({"account_id": a, "provider": "sandbox", "provider_token": token});
        let reply = app
            .post_idempotent("/v1/payment_methods", &format!("card-{i}"), &card)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        saved.push(reply.body["id"].clone());
    }
    let methods = format!("/v1/payment_methods?account_id={a}");
    // Saved methods are projected after the saves answered.
    joule_testkit::eventually("three saved methods", || async {
        let all = app.get(&methods).await.body;
        (all["data"].as_array().map(Vec::len) == Some(3)).then_some(())
    })
    .await;
    let first = app
        .get(&format!("/v1/payment_methods?account_id={a}&limit=2"))
        .await
        .body;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get(&format!(
            "/v1/payment_methods?account_id={a}&limit=2&cursor={cursor}"
        ))
        .await
        .body;
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!([ids(&first), ids(&second)].concat(), saved);

    let wallet = app
        .post_idempotent(
            "/v1/wallets",
            "wallet",
            &json!({"account_id": a, "currency": "EUR"}),
        )
        .await
        .body;
    let by_account = joule_testkit::eventually("the account's wallet listed", || async {
        let list = app.get(&format!("/v1/wallets?account_id={a}")).await.body;
        (list["data"].as_array().map(Vec::len) == Some(1)).then_some(list)
    })
    .await;
    assert_eq!(by_account["data"], json!([wallet]), "{by_account}");
    assert_eq!(by_account["next_cursor"], Value::Null);
    let other = uuid::Uuid::new_v4();
    let none = app.get(&format!("/v1/wallets?account_id={other}")).await;
    assert_eq!(none.body, json!({"data": [], "next_cursor": null}));

    let w = wallet["id"].as_str().unwrap();
    for i in 0..3 {
        let top_up = json!({"amount": "10.00", "reference": format!("transfer {i}")});
        let reply = app
            .post_idempotent(
                &format!("/v1/wallets/{w}/top_ups"),
                &format!("t{i}"),
                &top_up,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let lines = format!("/v1/wallets/{w}/transactions");
    // The history is projected after the top-ups answered.
    joule_testkit::eventually("three top-ups in the history", || async {
        let all = app.get(&lines).await.body;
        (all["data"].as_array().map(Vec::len) == Some(3)).then_some(())
    })
    .await;
    let first = app.get(&format!("{lines}?limit=2")).await.body;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get(&format!("{lines}?limit=2&cursor={cursor}"))
        .await
        .body;
    assert_eq!(second["next_cursor"], Value::Null);
    let references: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|page| page["data"].as_array().unwrap().clone())
        .map(|line| line["reference"].clone())
        .collect();
    assert_eq!(
        references,
        ["transfer 0", "transfer 1", "transfer 2"].map(Value::from)
    );

    for (path, field) in [
        (
            format!("/v1/payment_methods?account_id={a}&acount=1"),
            "acount",
        ),
        ("/v1/payment_methods".to_owned(), "account_id"),
        ("/v1/wallets?account_id=nope".to_owned(), "account_id"),
        (format!("{lines}?since=2026"), "since"),
        (format!("{lines}?cursor=abc"), "cursor"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{path}"
        );
    }
}

#[tokio::test]
async fn chargers_and_tokens_are_found_by_their_filters() {
    let app = App::spawn_with_pricing().await;
    let tariff = app
        .create("/v1/tariffs", &crate::tariffs::ocpi_tariff())
        .await;
    let north = app.create_site().await;
    let south = app
        .create(
            "/v1/sites",
            &json!({"name": "Depot Süd", "country": "DE", "time_zone": "Europe/Berlin"}),
        )
        .await;
    let charger = |cp: &str, site: &Value| json!({"charge_point_id": cp, "site_id": site["id"], "tariff_id": tariff["id"]});
    let n1 = app.create("/v1/chargers", &charger("CP-N1", &north)).await;
    let s1 = app.create("/v1/chargers", &charger("CP-S1", &south)).await;
    let n2 = app.create("/v1/chargers", &charger("CP-N2", &north)).await;
    let south_id = south["id"].as_str().unwrap();
    let north_id = north["id"].as_str().unwrap();
    let app = &app;
    let at = |path: String| async move { app.get(&path).await.body };
    assert_eq!(
        ids(&at(format!("/v1/chargers?site_id={north_id}")).await),
        [n1["id"].clone(), n2["id"].clone()]
    );
    assert_eq!(
        ids(&at(format!("/v1/chargers?site_id={south_id}")).await),
        [s1["id"].clone()]
    );
    assert_eq!(
        at("/v1/chargers?charge_point_id=CP-S1".to_owned()).await["data"],
        json!([s1])
    );

    let account = app.create_account().await;
    let token = app
        .create(
            "/v1/tokens",
            &json!({"uid": "04A1B2C3", "account_id": account["id"]}),
        )
        .await;
    app.create(
        "/v1/tokens",
        &json!({"uid": "04FFFFFF", "account_id": account["id"]}),
    )
    .await;
    assert_eq!(
        at("/v1/tokens?uid=04A1B2C3".to_owned()).await,
        json!({"data": [token], "next_cursor": null})
    );
    let unknown = app.get("/v1/tokens?card=04A1B2C3").await;
    assert_eq!(unknown.problem(StatusCode::UNPROCESSABLE_ENTITY), ["card"]);
}

#[tokio::test]
async fn tariffs_are_listed_by_cursor_at_once_after_their_creation_and_per_tenant() {
    use crate::identity::{PLATFORM, tenant_with_admin};

    let app = App::spawn_adjusted(&[joule_api::SERVICE, joule_pricing::SERVICE], |s| {
        s.platform_token = PLATFORM.into()
    })
    .await;
    let tariff = |id: &str| {
        let mut t = crate::tariffs::ocpi_tariff();
        t["id"] = json!(id);
        t
    };
    let mut created = Vec::new();
    for ocpi_id in ["AC-1", "AC-2", "DC-1"] {
        let tariff = app.create("/v1/tariffs", &tariff(ocpi_id)).await;
        // Listed as soon as the creation answered, with what a read shows.
        let list = app.get("/v1/tariffs?limit=500").await.body;
        assert_eq!(
            list["data"].as_array().unwrap().last(),
            Some(&tariff),
            "{list}"
        );
        created.push(tariff);
    }
    let first = app.get("/v1/tariffs?limit=2").await.body;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get(&format!("/v1/tariffs?limit=2&cursor={cursor}"))
        .await
        .body;
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    let all: Vec<Value> = created.iter().map(|t| t["id"].clone()).collect();
    assert_eq!([ids(&first), ids(&second)].concat(), all);

    // Filters on the creation time, strictly.
    let at = |t: &Value| t["created_at"].as_str().expect("created_at").to_owned();
    let after = app
        .get(&format!("/v1/tariffs?created_after={}", at(&created[0])))
        .await
        .body;
    assert_eq!(ids(&after), all[1..]);
    let before = app
        .get(&format!("/v1/tariffs?created_before={}", at(&created[2])))
        .await
        .body;
    assert_eq!(ids(&before), all[..2]);

    // A retired tariff is listed as retired at once.
    let id = created[1]["id"].as_str().unwrap();
    let retired = app
        .send_as(
            &app.token,
            reqwest::Method::DELETE,
            &format!("/v1/tariffs/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!(retired.status, StatusCode::NO_CONTENT, "{}", retired.body);
    let list = app.get("/v1/tariffs").await.body;
    assert_eq!(list["data"][1]["retired"], true, "{list}");
    assert!(list["data"][1]["retired_at"].is_string(), "{list}");

    // Another tenant lists none of them.
    let other = tenant_with_admin(&app, "other-cpo").await;
    let theirs = app.get_as(&other, "/v1/tariffs").await;
    assert_eq!(theirs.body, json!({"data": [], "next_cursor": null}));

    for (path, field) in [
        ("/v1/tariffs?currency=EUR", "currency"),
        ("/v1/tariffs?cursor=abc", "cursor"),
        ("/v1/tariffs?limit=0", "limit"),
        ("/v1/tariffs?created_after=yesterday", "created_after"),
    ] {
        let reply = app.get(path).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            [field],
            "{path}"
        );
    }
}
