//! The integrator plane (ADR 043) end to end: events published on the internal streams reach their
//! tenant's JSON stream on an operator-mode `nats-server`, where a user the api would sign for
//! that tenant reads them, in the webhook body's shape, and sees no other tenant's.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use joule_bus::tenant_streams::names;
use joule_testkit::{IntegratorPlane, TestEnv};

use crate::support;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn each_tenants_events_reach_its_own_stream_in_json() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let plane = IntegratorPlane::start().await;
    let server = &plane.server;
    let issuer = plane.issuer();
    let mut settings = support::settings(&env);
    plane.configure(&mut settings);
    let service = support::start(settings).await;

    let acme_event = support::session_completed(&bus, "acme", "s1").await;
    let globex_event = support::session_completed(&bus, "globex", "s2").await;
    let invoice_event = support::invoice_issued(&bus, "acme", "i1").await;

    let acme = issuer
        .tenant_user(bus.namespace(), "acme", "acme", now(), now() + 600)
        .unwrap();
    let client = async_nats::ConnectOptions::with_credentials(&acme.creds)
        .unwrap()
        .custom_inbox_prefix(names::inbox_prefix("acme"))
        .connect(&server.url)
        .await
        .expect("acme's user connects");
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(client);
    let stream_name = names::stream(bus.namespace(), "acme");
    let stream = joule_testkit::eventually("acme's stream holds two events", || {
        let (js, name) = (js.clone(), stream_name.clone());
        async move {
            let mut stream = js.get_stream(&name).await.ok()?;
            (stream.info().await.ok()?.state.messages >= 2).then_some(stream)
        }
    })
    .await;
    let reader = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("follow".into()),
            ..Default::default()
        })
        .await
        .expect("acme's consumer");
    let mut batch = reader
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(Ok(message)) = batch.next().await {
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["tenant_id"], "acme");
        assert_eq!(
            message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_owned()),
            body["id"].as_str().map(str::to_owned)
        );
        seen.push((
            message.subject.to_string(),
            body["id"].as_str().unwrap().to_owned(),
        ));
        message.ack().await.unwrap();
    }
    let ns = bus.namespace().as_str();
    // The two come from two streams, each through its own consumer: in either order.
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                format!("{ns}.tenant.acme.invoice.InvoiceIssued"),
                invoice_event
            ),
            (
                format!("{ns}.tenant.acme.session.SessionCompleted"),
                acme_event
            ),
        ]
    );
    assert!(
        js.get_stream(names::stream(bus.namespace(), "globex"))
            .await
            .is_err(),
        "globex's stream ({globex_event}) is not acme's to read"
    );
    service.running.stop().await.expect("stops cleanly");
}
