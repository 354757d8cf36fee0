//! The endpoint API: what it refuses, what one tenant sees of another's, paging, and secret
//! rotation with its overlap.

use joule_proto::v1;
use joule_testkit::TestEnv;
use tonic::Code;

use crate::support::{self, Receiver};

fn request(tenant: &str, url: &str, types: &[&str]) -> v1::CreateWebhookEndpointRequest {
    v1::CreateWebhookEndpointRequest {
        tenant_id: tenant.into(),
        url: url.into(),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        description: String::new(),
        enabled: None,
    }
}

#[tokio::test]
async fn bad_endpoints_are_refused_naming_the_field() {
    let env = TestEnv::new().await;
    let settings = joule_config::Settings {
        api_addr: "0.0.0.0:18080".into(),
        webhooks_refused_addrs: "joule-api:8080".into(),
        ..support::settings(&env)
    };
    let mut service = support::start(settings).await;
    let cases = [
        (request("acme", "ftp://example.com/in", &["*"]), "url"),
        (request("acme", "https://u:p@example.com/in", &["*"]), "url"),
        (request("acme", "not a url", &["*"]), "url"),
        (
            request("acme", "http://localhost:18080/hooks", &["*"]),
            "url",
        ),
        (request("acme", "http://joule-api:8080/x", &["*"]), "url"),
        (
            request("acme", "https://example.com/in", &["joule.v1.Nope"]),
            "event_types",
        ),
        (
            request("acme", "https://example.com/in", &[]),
            "event_types",
        ),
        (request("", "https://example.com/in", &["*"]), "tenant_id"),
    ];
    for (bad, field) in cases {
        let url = bad.url.clone();
        let status = service.client.create_endpoint(bad).await.expect_err(&url);
        assert_eq!(status.code(), Code::InvalidArgument, "{url}: {status:?}");
        assert!(
            status.message().starts_with(&format!("{field}:")),
            "{url}: {}",
            status.message()
        );
    }
    let (endpoint, _) = support::create(
        &mut service.client,
        "acme",
        "https://example.com/in",
        &["*"],
    )
    .await;
    let update = service
        .client
        .update_endpoint(v1::UpdateWebhookEndpointRequest {
            tenant_id: "acme".into(),
            id: endpoint.id,
            url: Some("ftp://example.com".into()),
            ..Default::default()
        })
        .await
        .expect_err("ftp");
    assert_eq!(update.code(), Code::InvalidArgument);
    service.running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_endpoints() {
    let env = TestEnv::new().await;
    let mut service = support::start(support::settings(&env)).await;
    let client = &mut service.client;
    let mut ids = Vec::new();
    for n in 0..3 {
        let (e, _) =
            support::create(client, "acme", &format!("https://example.com/{n}"), &["*"]).await;
        ids.push(e.id);
    }
    let (theirs, _) = support::create(client, "globex", "https://example.org/in", &["*"]).await;

    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client
            .list_endpoints(v1::ListWebhookEndpointsRequest {
                tenant_id: "acme".into(),
                page_size: 2,
                cursor,
            })
            .await
            .expect("list")
            .into_inner();
        assert!(page.endpoints.len() <= 2);
        listed.extend(page.endpoints.into_iter().map(|e| e.id));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(listed, ids);

    let get = client
        .get_endpoint(v1::GetWebhookEndpointRequest {
            tenant_id: "acme".into(),
            id: theirs.id.clone(),
        })
        .await
        .expect_err("globex's endpoint");
    assert_eq!(get.code(), Code::NotFound);
    let update = client
        .update_endpoint(v1::UpdateWebhookEndpointRequest {
            tenant_id: "acme".into(),
            id: theirs.id.clone(),
            enabled: Some(false),
            ..Default::default()
        })
        .await
        .expect_err("globex's endpoint");
    assert_eq!(update.code(), Code::NotFound);
    let rotate = client
        .rotate_secret(v1::RotateWebhookSecretRequest {
            tenant_id: "acme".into(),
            id: theirs.id.clone(),
            overlap_secs: None,
        })
        .await
        .expect_err("globex's endpoint");
    assert_eq!(rotate.code(), Code::NotFound);
    let deliveries = client
        .list_deliveries(v1::ListWebhookDeliveriesRequest {
            tenant_id: "acme".into(),
            endpoint_id: theirs.id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("globex's endpoint");
    assert_eq!(deliveries.code(), Code::NotFound);
    let delete = client
        .delete_endpoint(v1::DeleteWebhookEndpointRequest {
            tenant_id: "acme".into(),
            id: theirs.id.clone(),
        })
        .await
        .expect_err("globex's endpoint");
    assert_eq!(delete.code(), Code::NotFound);

    // Globex's is still there; acme's own goes.
    let still = client
        .get_endpoint(v1::GetWebhookEndpointRequest {
            tenant_id: "globex".into(),
            id: theirs.id,
        })
        .await
        .expect("globex reads its own")
        .into_inner();
    assert!(still.enabled);
    client
        .delete_endpoint(v1::DeleteWebhookEndpointRequest {
            tenant_id: "acme".into(),
            id: ids[0].clone(),
        })
        .await
        .expect("delete");
    let gone = client
        .get_endpoint(v1::GetWebhookEndpointRequest {
            tenant_id: "acme".into(),
            id: ids[0].clone(),
        })
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
    service.running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_during_the_overlap_only() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let mut service = support::start(support::settings(&env)).await;
    let receiver = Receiver::start().await;
    let (endpoint, first) =
        support::create(&mut service.client, "acme", &receiver.url, &["*"]).await;

    let rotated = service
        .client
        .rotate_secret(v1::RotateWebhookSecretRequest {
            tenant_id: "acme".into(),
            id: endpoint.id.clone(),
            overlap_secs: None,
        })
        .await
        .expect("rotate")
        .into_inner();
    let second = rotated.secret;
    assert!(second.starts_with("whsec_"));
    assert_ne!(second, first);
    assert!(
        rotated
            .endpoint
            .expect("endpoint")
            .previous_secret_expires_at
            .is_some()
    );

    support::session_completed(&bus, "acme", "during").await;
    let during = receiver.wait_for(1).await.remove(0);
    assert_eq!(during.signatures().len(), 2);
    assert!(during.signed_by(&first), "the old secret still verifies");
    assert!(during.signed_by(&second), "the new one too");

    let too_long = service
        .client
        .rotate_secret(v1::RotateWebhookSecretRequest {
            tenant_id: "acme".into(),
            id: endpoint.id.clone(),
            overlap_secs: Some(10 * 24 * 3600),
        })
        .await
        .expect_err("longer than the default overlap");
    assert_eq!(too_long.code(), Code::InvalidArgument);
    let third = service
        .client
        .rotate_secret(v1::RotateWebhookSecretRequest {
            tenant_id: "acme".into(),
            id: endpoint.id.clone(),
            overlap_secs: Some(0),
        })
        .await
        .expect("rotate without overlap")
        .into_inner();
    assert!(
        third
            .endpoint
            .expect("endpoint")
            .previous_secret_expires_at
            .is_none()
    );
    support::session_completed(&bus, "acme", "after").await;
    let after = receiver.wait_for(2).await.remove(1);
    assert_eq!(after.signatures().len(), 1);
    assert!(after.signed_by(&third.secret));
    assert!(
        !after.signed_by(&second),
        "the previous secret no longer signs"
    );
    assert!(!after.signed_by(&first));
    service.running.stop().await.expect("stops");
}
