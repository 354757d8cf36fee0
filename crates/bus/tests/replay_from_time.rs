//! Replay from a point in time, as an integrator does it: a durable pull consumer on a domain's
//! stream whose deliver policy is a start time receives every event published from that time on,
//! and, being durable, resumes after what it acknowledged. Plain async-nats, the client an
//! integrator uses; the envelopes rendered as the JSON webhooks deliver. Real NATS JetStream.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use futures::StreamExt;
use joule_bus::{Bus, Domain, Envelope, Namespace, Outgoing};
use joule_proto::v1;
use joule_testkit::TestEnv;
use prost::Message;

async fn publish_completed(bus: &Bus, session: &str) -> String {
    let event_id = format!("event-of-{session}");
    let payload = v1::SessionCompleted {
        session_id: session.into(),
        charge_point_id: "CP-1".into(),
        energy_wh: "7300".into(),
        ..Default::default()
    };
    bus.publish(Outgoing {
        subject: format!("session.{session}.completed"),
        envelope: Envelope {
            event_id: event_id.clone(),
            event_type: "joule.v1.SessionCompleted".into(),
            schema_version: 1,
            tenant_id: "acme".into(),
            aggregate_type: "ChargingSession".into(),
            aggregate_id: session.into(),
            sequence: 3,
            occurred_at: Some(joule_proto::time::to_proto(chrono::Utc::now())),
            payload: payload.encode_to_vec(),
            ..Default::default()
        },
        trace_headers: HashMap::new(),
    })
    .await
    .expect("publish");
    event_id
}

/// The event ids the consumer gets within a second, acknowledged.
async fn fetch(
    consumer: &async_nats::jetstream::consumer::Consumer<pull::Config>,
) -> Vec<Envelope> {
    let mut batch = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .expect("fetch");
    let mut got = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.expect("a message");
        got.push(Envelope::decode(message.payload.as_ref()).expect("an envelope"));
        message.ack().await.expect("ack");
    }
    got
}

#[tokio::test]
async fn a_durable_consumer_with_a_start_time_replays_from_then_and_resumes() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let namespace = Namespace::new(&env.namespace).expect("namespace");
    publish_completed(&bus, "s1").await;
    publish_completed(&bus, "s2").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let from = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s3 = publish_completed(&bus, "s3").await;
    let s4 = publish_completed(&bus, "s4").await;

    let js = async_nats::jetstream::new(bus.client().clone());
    let stream = js
        .get_stream(namespace.stream_name(Domain::Session))
        .await
        .expect("the SESSION stream");
    let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(
        from.timestamp_nanos_opt().expect("a time in range"),
    ))
    .expect("a start time");
    let config = pull::Config {
        durable_name: Some("integrator-replay".into()),
        deliver_policy: DeliverPolicy::ByStartTime { start_time },
        filter_subject: namespace.subject("session.*.completed"),
        ..Default::default()
    };
    let consumer = stream
        .create_consumer(config)
        .await
        .expect("a durable consumer");
    let replayed = fetch(&consumer).await;
    let ids: Vec<&str> = replayed.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        ids,
        [s3.as_str(), s4.as_str()],
        "only what was published from then on"
    );
    let json = joule_proto::json::event_json(&replayed[0]).expect("JSON");
    assert_eq!(json["type"], "joule.v1.SessionCompleted");
    assert_eq!(json["data"]["session_id"], "s3");

    // Durable: the consumer, found again by its name, resumes after what it acknowledged.
    let s5 = publish_completed(&bus, "s5").await;
    let again: async_nats::jetstream::consumer::Consumer<pull::Config> = stream
        .get_consumer("integrator-replay")
        .await
        .expect("the same consumer");
    let resumed = fetch(&again).await;
    let ids: Vec<&str> = resumed.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, [s5.as_str()]);
}
