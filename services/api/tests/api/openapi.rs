//! `GET /v1/openapi.json` and `GET /docs`: the generated contract, served without credentials.

use reqwest::StatusCode;

use crate::helpers::App;

#[tokio::test]
async fn the_contract_and_its_reference_page_are_served_without_credentials() {
    let app = App::spawn().await;

    let reply = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.headers()["content-type"], "application/json");
    let document: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    // The same document as `joule openapi` prints, route for route.
    let generated = serde_json::to_value(joule_api::routes::openapi()).unwrap();
    assert_eq!(document, generated);
    let sessions = &document["paths"]["/v1/sessions/{id}"]["get"];
    assert_eq!(sessions["security"][0]["bearer"][0], "sessions:read");
    assert_eq!(
        sessions["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SessionView"
    );

    let page = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Redoc.init(\"/v1/openapi.json\""),
        "{}",
        &html[..200]
    );
}
