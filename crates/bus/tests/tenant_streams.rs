//! The integrator plane (ADR 043) against a real `nats-server` in operator mode: a tenant's user,
//! signed by the api's account signing key, reads its own stream through a durable pull consumer
//! and nothing else; the publisher stores each event once; expired and foreign JWTs are refused.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::StreamExt;
use joule_bus::Namespace;
use joule_bus::tenant_streams::{Plane, StreamLimits, TenantStreams, names};
use joule_testkit::NatsServer;

const LIMITS: StreamLimits = StreamLimits {
    max_age: Duration::from_secs(3600),
    max_bytes: -1,
    replicas: 1,
};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn plane_server(plane: &Plane) -> NatsServer {
    let config = plane
        .server_config(now(), -1)
        .expect("server configuration");
    NatsServer::with_config_text(&config).await
}

async fn connect_tenant(url: &str, creds: &str, tenant: &str) -> async_nats::Client {
    async_nats::ConnectOptions::with_credentials(creds)
        .expect("creds")
        .custom_inbox_prefix(names::inbox_prefix(tenant))
        .connect(url)
        .await
        .expect("the tenant's user connects")
}

#[tokio::test]
async fn a_tenant_reads_its_own_stream_and_nothing_else() {
    let plane = Plane::generate();
    let server = plane_server(&plane).await;
    let ns = Namespace::new("joule").unwrap();
    let issuer = plane.issuer();

    let publisher = issuer.publisher(&ns, now()).unwrap();
    let streams = TenantStreams::connect(&server.url, &publisher.creds, ns.clone(), LIMITS)
        .await
        .expect("the publisher connects");
    for (tenant, id) in [
        ("acme", "e1"),
        ("acme", "e2"),
        ("acme", "e1"),
        ("globex", "g1"),
    ] {
        let body = Bytes::from(format!(r#"{{"event_id":"{id}","tenant_id":"{tenant}"}}"#));
        streams
            .publish(tenant, "session", "joule.v1.SessionCompleted", id, body)
            .await
            .expect("published");
    }

    let acme = issuer
        .tenant_user(&ns, "acme", "acme reader", now(), now() + 3600)
        .unwrap();
    let client = connect_tenant(&server.url, &acme.creds, "acme").await;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(client.clone());
    let mut stream = js.get_stream("JOULE_T_acme").await.expect("its stream");
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        2,
        "e1 stored once"
    );
    let reader = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("follow".into()),
            filter_subject: "joule.tenant.acme.session.>".into(),
            ..Default::default()
        })
        .await
        .expect("a durable consumer of its stream");
    let mut batch = reader.fetch().max_messages(10).messages().await.unwrap();
    let mut ids = Vec::new();
    while let Some(Ok(message)) = batch.next().await {
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(
            message.subject.as_str(),
            "joule.tenant.acme.session.SessionCompleted"
        );
        ids.push(body["event_id"].as_str().unwrap().to_owned());
        message.ack().await.expect("ack");
    }
    assert_eq!(ids, ["e1", "e2"]);

    // Another tenant's stream is out of reach: no lookup, no consumer.
    assert!(js.get_stream("JOULE_T_globex").await.is_err());
    assert!(
        js.create_consumer_on_stream(
            consumer::pull::Config {
                durable_name: Some("steal".into()),
                ..Default::default()
            },
            "JOULE_T_globex",
        )
        .await
        .is_err()
    );
    // It cannot publish into its stream, nor read another tenant's inbox.
    let forged = tokio::time::timeout(
        Duration::from_secs(3),
        js.publish("joule.tenant.acme.session.SessionCompleted", "{}".into()),
    )
    .await;
    if let Ok(Ok(ack)) = forged {
        assert!(ack.await.is_err(), "a tenant's publish is never stored");
    }
    let _ = client.subscribe("_INBOX_globex.>").await;
    client.flush().await.ok();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stream.info().await.unwrap().state.messages, 2);
    let log = server.log();
    assert!(
        log.contains("Subscription Violation") && log.contains(r#"Subject "_INBOX_globex.>""#),
        "{log}"
    );
    assert!(
        log.contains(r#"Publish Violation - JWT User"#)
            && log.contains(r#"Subject "joule.tenant.acme.session.SessionCompleted""#),
        "{log}"
    );
}

#[tokio::test]
async fn expired_and_foreign_users_are_refused() {
    let plane = Plane::generate();
    let server = plane_server(&plane).await;
    let ns = Namespace::new("joule").unwrap();

    let expired = plane
        .issuer()
        .tenant_user(&ns, "acme", "old", now() - 7200, now() - 3600)
        .unwrap();
    let foreign = Plane::generate()
        .issuer()
        .tenant_user(&ns, "acme", "forged", now(), now() + 3600)
        .unwrap();
    for creds in [expired.creds, foreign.creds] {
        let connected = async_nats::ConnectOptions::with_credentials(&creds)
            .unwrap()
            .retry_on_initial_connect()
            .max_reconnects(1)
            .connect(&server.url);
        let refused = match tokio::time::timeout(Duration::from_secs(5), connected).await {
            Err(_) | Ok(Err(_)) => true,
            Ok(Ok(client)) => client.flush().await.is_err(),
        };
        assert!(refused);
    }
    let log = server.log();
    assert_eq!(log.matches("authentication error").count(), 2, "{log}");

    // The same user, not expired and signed by this plane, is let in.
    let valid = plane
        .issuer()
        .tenant_user(&ns, "acme", "current", now(), now() + 3600)
        .unwrap();
    let client = connect_tenant(&server.url, &valid.creds, "acme").await;
    client.flush().await.expect("a valid user is let in");
}
