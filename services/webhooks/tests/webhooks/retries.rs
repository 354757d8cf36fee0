//! Failed attempts: retried with backoff and logged, timeouts, manual redelivery, and the endpoint
//! that keeps failing, disabled and re-enabled.

use std::time::Duration;

use joule_proto::v1;
use joule_testkit::{TestEnv, eventually};

use crate::support::{self, Mode, Receiver};

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_recovers_and_every_attempt_is_logged() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let mut service = support::start(support::settings(&env)).await;
    let receiver = Receiver::start().await;
    receiver.fail_first(2);
    let (endpoint, secret) =
        support::create(&mut service.client, "acme", &receiver.url, &["*"]).await;

    let event_id = support::session_completed(&bus, "acme", "retry").await;
    let delivery =
        support::wait_delivery(&service.client, "acme", &endpoint.id, "delivered", |d| {
            d.status == "succeeded"
        })
        .await;
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.last_status_code, 200);
    assert_eq!(delivery.last_error, "");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    for hit in &hits {
        assert_eq!(hit.header("Joule-Event-Id"), event_id);
        assert!(hit.signed_by(&secret));
        assert_eq!(hit.body, hits[0].body, "every attempt sends the same body");
    }

    let attempts: Vec<(Option<i32>, String)> = sqlx::query_as(
        "SELECT status_code, error FROM webhooks.attempts a \
         JOIN webhooks.deliveries d ON d.id = a.delivery_id ORDER BY a.id",
    )
    .fetch_all(&env.pool().await)
    .await
    .expect("attempts");
    assert_eq!(
        attempts,
        vec![
            (Some(500), "HTTP 500 Internal Server Error".to_owned()),
            (Some(500), "HTTP 500 Internal Server Error".to_owned()),
            (Some(200), String::new()),
        ]
    );
    service.running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_is_an_attempt_that_timed_out() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let mut service = support::start(support::settings(&env)).await;
    let receiver = Receiver::start().await;
    receiver.set_mode(Mode::Hang(Duration::from_secs(5)));
    let (endpoint, _) = support::create(&mut service.client, "acme", &receiver.url, &["*"]).await;

    support::session_completed(&bus, "acme", "slow").await;
    let timed_out =
        support::wait_delivery(&service.client, "acme", &endpoint.id, "timed out", |d| {
            d.attempts >= 1
        })
        .await;
    assert_eq!(timed_out.status, "pending");
    assert_eq!(timed_out.last_status_code, 0);
    assert!(
        timed_out.last_error.contains("timed out"),
        "{}",
        timed_out.last_error
    );
    assert!(timed_out.next_attempt_at.is_some());

    receiver.set_mode(Mode::Ok);
    let delivered =
        support::wait_delivery(&service.client, "acme", &endpoint.id, "delivered", |d| {
            d.status == "succeeded"
        })
        .await;
    assert!(delivered.attempts >= 2);
    service.running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_delivery_is_sent_again_on_request() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let mut service = support::start(support::settings(&env)).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = support::create(&mut service.client, "acme", &receiver.url, &["*"]).await;
    let event_id = support::session_completed(&bus, "acme", "again").await;
    let first = support::wait_delivery(&service.client, "acme", &endpoint.id, "delivered", |d| {
        d.status == "succeeded"
    })
    .await;

    let not_theirs = service
        .client
        .redeliver(v1::RedeliverWebhookRequest {
            tenant_id: "globex".into(),
            delivery_id: first.id.clone(),
        })
        .await
        .expect_err("another tenant's delivery");
    assert_eq!(not_theirs.code(), tonic::Code::NotFound);
    let queued = service
        .client
        .redeliver(v1::RedeliverWebhookRequest {
            tenant_id: "acme".into(),
            delivery_id: first.id.clone(),
        })
        .await
        .expect("redeliver")
        .into_inner();
    assert_eq!(queued.id, first.id);
    let hits = receiver.wait_for(2).await;
    assert_eq!(hits[1].header("Joule-Event-Id"), event_id);
    assert_eq!(hits[1].body, hits[0].body);
    support::wait_delivery(&service.client, "acme", &endpoint.id, "redelivered", |d| {
        d.status == "succeeded" && d.attempts == 2
    })
    .await;
    service.running.stop().await.expect("stops");
}

#[tokio::test]
async fn an_endpoint_failing_longer_than_the_window_is_disabled_until_re_enabled() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let settings = joule_config::Settings {
        webhooks_disable_after_secs: 2,
        ..support::settings(&env)
    };
    let mut service = support::start(settings).await;
    let receiver = Receiver::start().await;
    receiver.set_mode(Mode::Status(503));
    let (endpoint, _) = support::create(&mut service.client, "acme", &receiver.url, &["*"]).await;
    support::session_completed(&bus, "acme", "down").await;

    let disabled = eventually("the endpoint is disabled", || {
        let mut client = service.client.clone();
        let id = endpoint.id.clone();
        async move {
            let e = client
                .get_endpoint(v1::GetWebhookEndpointRequest {
                    tenant_id: "acme".into(),
                    id,
                })
                .await
                .expect("get")
                .into_inner();
            (!e.enabled).then_some(e)
        }
    })
    .await;
    assert!(
        disabled.disabled_reason.contains("failed since"),
        "{}",
        disabled.disabled_reason
    );
    assert!(disabled.disabled_at.is_some());
    let pending = support::deliveries(&mut service.client, "acme", &endpoint.id).await;
    assert_eq!(
        pending[0].status, "pending",
        "its delivery waits for the endpoint"
    );
    let attempts = pending[0].attempts;
    assert!(attempts >= 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = support::deliveries(&mut service.client, "acme", &endpoint.id).await;
    assert_eq!(
        still[0].attempts, attempts,
        "a disabled endpoint is not called"
    );

    receiver.set_mode(Mode::Ok);
    let enabled = service
        .client
        .update_endpoint(v1::UpdateWebhookEndpointRequest {
            tenant_id: "acme".into(),
            id: endpoint.id.clone(),
            enabled: Some(true),
            ..Default::default()
        })
        .await
        .expect("re-enable")
        .into_inner();
    assert!(enabled.enabled);
    assert_eq!(enabled.disabled_reason, "");
    assert!(enabled.disabled_at.is_none());
    support::wait_delivery(
        &service.client,
        "acme",
        &endpoint.id,
        "delivered after re-enabling",
        |d| d.status == "succeeded",
    )
    .await;
    service.running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_delivery_failing_for_the_whole_retry_window_fails() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let settings = joule_config::Settings {
        webhooks_retry_window_secs: 1,
        ..support::settings(&env)
    };
    let mut service = support::start(settings).await;
    let receiver = Receiver::start().await;
    receiver.set_mode(Mode::Status(500));
    let (endpoint, _) = support::create(&mut service.client, "acme", &receiver.url, &["*"]).await;
    support::session_completed(&bus, "acme", "gone").await;
    let failed = support::wait_delivery(&service.client, "acme", &endpoint.id, "failed", |d| {
        d.status == "failed"
    })
    .await;
    assert!(failed.attempts >= 2, "{failed:?}");
    assert_eq!(failed.last_status_code, 500);
    assert!(failed.next_attempt_at.is_none());
    service.running.stop().await.expect("stops");
}
