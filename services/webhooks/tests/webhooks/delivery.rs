//! Events reach the endpoints of their tenant that take their type, once each, signed.

use std::sync::Arc;

use joule_bus::{Handler, Received};
use joule_testkit::TestEnv;
use joule_webhooks::consumers::integration_events::EventHandler;

use crate::support::{self, Receiver};

const COMPLETED: &str = "joule.v1.SessionCompleted";
const INVOICE: &str = "joule.v1.InvoiceIssued";

#[tokio::test]
async fn an_event_reaches_its_tenants_endpoints_that_take_its_type_signed() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let mut service = support::start(support::settings(&env)).await;
    let client = &mut service.client;
    let (sessions, invoices, other, off) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let (a, secret) = support::create(client, "acme", &sessions.url, &[COMPLETED]).await;
    let (b, b_secret) = support::create(client, "acme", &invoices.url, &[INVOICE]).await;
    let (c, _) = support::create(client, "globex", &other.url, &["*"]).await;
    let (d, _) = support::create(client, "acme", &off.url, &["*"]).await;
    client
        .update_endpoint(joule_proto::v1::UpdateWebhookEndpointRequest {
            tenant_id: "acme".into(),
            id: d.id.clone(),
            enabled: Some(false),
            ..Default::default()
        })
        .await
        .expect("disable d");

    let event_id = support::session_completed(&bus, "acme", "s1").await;
    let hit = sessions.wait_for(1).await.remove(0);
    assert_eq!(hit.header("Content-Type"), "application/json");
    assert_eq!(hit.header("Joule-Event-Id"), event_id);
    assert_eq!(hit.header("Joule-Event-Type"), COMPLETED);
    assert!(
        hit.signed_by(&secret),
        "signature: {}",
        hit.header("Joule-Signature")
    );
    assert!(
        !hit.signed_by(&b_secret),
        "another endpoint's secret does not verify"
    );
    assert_eq!(hit.signatures().len(), 1);
    let body = hit.json();
    assert_eq!(body["id"], event_id);
    assert_eq!(body["type"], COMPLETED);
    assert_eq!(body["tenant_id"], "acme");
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["aggregate_type"], "ChargingSession");
    assert_eq!(body["data"]["energy_wh"], "7300");
    assert_eq!(body["data"]["charge_point_id"], "CP-1");
    assert!(
        body["occurred_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // Later events of other types and tenants are barriers: once they arrived, the first event
    // would have reached every endpoint it was going to.
    let invoice_id = support::invoice_issued(&bus, "acme", "i1").await;
    let globex_id = support::session_completed(&bus, "globex", "s2").await;
    let invoice_hit = invoices.wait_for(1).await.remove(0);
    assert_eq!(invoice_hit.header("Joule-Event-Id"), invoice_id);
    let other_hits = other.wait_for(1).await;
    assert_eq!(other_hits[0].header("Joule-Event-Id"), globex_id);
    assert_eq!(other_hits[0].json()["tenant_id"], "globex");

    let delivered = support::wait_delivery(client, "acme", &a.id, "a delivered", |d| {
        d.status == "succeeded"
    })
    .await;
    assert_eq!(delivered.event_id, event_id);
    assert_eq!(delivered.attempts, 1);
    assert_eq!(delivered.last_status_code, 200);
    assert!(delivered.next_attempt_at.is_none());
    assert_eq!(
        sessions.hits().len(),
        1,
        "the invoice is not a session event"
    );
    assert_eq!(invoices.hits().len(), 1);
    assert_eq!(other.hits().len(), 1, "acme's events are not globex's");
    assert!(off.hits().is_empty(), "a disabled endpoint gets nothing");
    assert!(support::deliveries(client, "acme", &d.id).await.is_empty());
    assert_eq!(support::deliveries(client, "globex", &c.id).await.len(), 1);
    assert_eq!(support::deliveries(client, "acme", &b.id).await.len(), 1);
    service.running.stop().await.expect("stops");
}

#[tokio::test]
async fn the_same_event_handled_twice_is_delivered_once() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let mut service = support::start(support::settings(&env)).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = support::create(&mut service.client, "acme", &receiver.url, &["*"]).await;

    support::session_completed(&bus, "acme", "twice").await;
    receiver.wait_for(1).await;
    // A redelivered message (JetStream redelivers when an ack is lost) goes through the handler
    // again: it finds the delivery made and adds none.
    let (subject, envelope) = bus
        .read_stream(joule_bus::Domain::Session)
        .await
        .expect("read the stream")
        .remove(0);
    let handler = EventHandler {
        pool: env.pool().await,
        schema: joule_webhooks::SCHEMA.into(),
        default_tenant: "default".into(),
        wake: Arc::new(tokio::sync::Notify::new()),
    };
    let received = Received {
        subject,
        envelope,
        stream_sequence: 1,
        delivered: 2,
    };
    handler.handle(&received).await.expect("handled");
    handler.handle(&received).await.expect("handled again");
    support::session_completed(&bus, "acme", "barrier").await;
    receiver.wait_for(2).await;
    let list = support::deliveries(&mut service.client, "acme", &endpoint.id).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_ne!(list[0].event_id, list[1].event_id);
    assert_eq!(receiver.hits().len(), 2);
    service.running.stop().await.expect("stops");
}
