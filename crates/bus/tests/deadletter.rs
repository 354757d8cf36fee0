//! Poisoned messages are parked in the dead-letter stream and the consumer goes on; a held aggregate
//! waits for its parked head; a replay runs the handler and releases the hold. Real NATS JetStream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use joule_bus::{
    BoxFuture, Bus, ConsumerSpec, DeadLetterEntry, DeadLetterStatus, Domain, Envelope, Handler,
    HandlerError, OnPark, Outgoing, ParkReason, Received, RetryPolicy,
};
use joule_testkit::TestEnv;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy)]
enum Poison {
    Panic,
    Reject,
}

/// Records the event ids it processed; panics on or rejects the poisoned ones.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
    poison: Arc<Mutex<HashMap<String, Poison>>>,
    calls: Arc<Mutex<HashMap<String, u32>>>,
}

impl Recorder {
    fn poison(&self, event_id: &str, how: Poison) {
        self.poison.lock().unwrap().insert(event_id.into(), how);
    }
    fn cure(&self, event_id: &str) {
        self.poison.lock().unwrap().remove(event_id);
    }
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
    fn calls(&self, event_id: &str) -> u32 {
        self.calls
            .lock()
            .unwrap()
            .get(event_id)
            .copied()
            .unwrap_or(0)
    }
}

impl Handler for Recorder {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let id = message.envelope.event_id.clone();
            *self.calls.lock().unwrap().entry(id.clone()).or_default() += 1;
            let poison = self.poison.lock().unwrap().get(&id).copied();
            match poison {
                Some(Poison::Panic) => panic!("poisoned message {id}"),
                Some(Poison::Reject) => Err(HandlerError::Rejected(format!("{id} is poison"))),
                None => {
                    self.seen.lock().unwrap().push(id);
                    Ok(())
                }
            }
        })
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

async fn bus(env: &TestEnv) -> Bus {
    env.bus().await.with_retry(fast_retry())
}

fn spec(on_park: OnPark) -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Session,
        durable: "test-consumer".into(),
        filter: None,
        on_park,
    }
}

async fn publish(bus: &Bus, event_id: &str, aggregate_id: &str) {
    bus.publish(Outgoing {
        subject: format!("session.{aggregate_id}.sampled"),
        envelope: Envelope {
            event_id: event_id.into(),
            event_type: "test.Sampled".into(),
            schema_version: 1,
            aggregate_type: "session".into(),
            aggregate_id: aggregate_id.into(),
            payload: vec![1, 2, 3],
            ..Default::default()
        },
        trace_headers: HashMap::from([("traceparent".to_owned(), "00-abc-def-01".to_owned())]),
    })
    .await
    .expect("publish");
}

fn start(bus: &Bus, spec: ConsumerSpec, handler: Recorder) -> CancellationToken {
    let shutdown = CancellationToken::new();
    let (bus, stop) = (bus.clone(), shutdown.clone());
    tokio::spawn(async move { bus.run_consumer(spec, handler, stop).await });
    shutdown
}

/// Polls `check` until it holds; fails the test after a generous deadline.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn dead_letters(bus: &Bus) -> Vec<DeadLetterEntry> {
    bus.dead_letters().await.expect("read dead letters")
}

async fn entry(bus: &Bus, event_id: &str) -> Option<DeadLetterEntry> {
    dead_letters(bus)
        .await
        .into_iter()
        .find(|e| e.record.event_id == event_id)
}

#[tokio::test]
async fn a_panicking_message_is_parked_after_the_bounded_attempts_and_the_next_is_processed() {
    let env = TestEnv::new().await;
    let bus = bus(&env).await;
    let mut alarms = bus
        .client()
        .subscribe(format!("{}.deadletter.parked.>", env.namespace))
        .await
        .unwrap();
    let handler = Recorder::default();
    handler.poison("e1", Poison::Panic);
    let stop = start(&bus, spec(OnPark::Skip), handler.clone());
    publish(&bus, "e1", "s1").await;
    publish(&bus, "e2", "s1").await;

    eventually("e2 processed", || async { handler.seen() == ["e2"] }).await;
    assert_eq!(handler.calls("e1"), 3, "bounded attempts");
    let parked = entry(&bus, "e1").await.expect("e1 parked");
    assert_eq!(parked.status, DeadLetterStatus::Parked);
    let r = &parked.record;
    assert_eq!(r.reason, ParkReason::Panic);
    assert!(r.error.contains("poisoned message e1"), "{}", r.error);
    assert_eq!(r.attempts, 3);
    assert_eq!(r.consumer, "test-consumer");
    assert_eq!(
        r.stream,
        format!("{}_SESSION", env.namespace.to_uppercase())
    );
    assert_eq!(r.subject, format!("{}.session.s1.sampled", env.namespace));
    assert_eq!(r.stream_sequence, 1);
    assert_eq!(r.aggregate_id, "s1");
    assert_eq!(
        r.headers.get("traceparent").map(String::as_str),
        Some("00-abc-def-01")
    );
    let envelope = r
        .to_received()
        .expect("the payload is the envelope")
        .envelope;
    assert_eq!(envelope.event_id, "e1");
    assert_eq!(envelope.payload, vec![1, 2, 3]);
    // The alarm: the parked record on `<ns>.deadletter.parked.<consumer>`.
    let alarm = tokio::time::timeout(Duration::from_secs(10), alarms.next())
        .await
        .expect("an alarm")
        .expect("subscription open");
    assert_eq!(
        alarm.subject.as_str(),
        format!("{}.deadletter.parked.test-consumer", env.namespace)
    );
    assert_eq!(dead_letters(&bus).await.len(), 1);
    stop.cancel();
}

#[tokio::test]
async fn a_rejected_message_and_an_undecodable_one_are_parked_at_once() {
    let env = TestEnv::new().await;
    let bus = bus(&env).await;
    let handler = Recorder::default();
    handler.poison("bad", Poison::Reject);
    let stop = start(&bus, spec(OnPark::Skip), handler.clone());
    publish(&bus, "bad", "s1").await;
    // Not an envelope at all.
    let js = async_nats::jetstream::new(bus.client().clone());
    js.publish(
        format!("{}.session.s2.sampled", env.namespace),
        vec![0xff, 0xff, 0xff].into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    publish(&bus, "good", "s1").await;

    eventually("good processed", || async { handler.seen() == ["good"] }).await;
    assert_eq!(handler.calls("bad"), 1, "a rejection is not retried");
    let entries = dead_letters(&bus).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].record.reason, ParkReason::Rejected);
    assert_eq!(entries[0].record.error, "bad is poison");
    assert_eq!(entries[1].record.reason, ParkReason::Undecodable);
    assert_eq!(entries[1].record.payload, vec![0xff, 0xff, 0xff]);
    assert_eq!(entries[1].record.stream_sequence, 2);
    stop.cancel();
}

#[tokio::test]
async fn a_held_aggregate_waits_for_its_head_across_a_restart_and_a_replay_releases_it() {
    let env = TestEnv::new().await;
    let bus = bus(&env).await;
    let handler = Recorder::default();
    handler.poison("a1", Poison::Reject);
    let stop = start(&bus, spec(OnPark::HoldAggregate), handler.clone());
    publish(&bus, "a1", "agg-a").await;
    publish(&bus, "a2", "agg-a").await;
    publish(&bus, "b1", "agg-b").await;
    eventually("b1 processed", || async { handler.seen() == ["b1"] }).await;
    eventually("a2 parked", || async { entry(&bus, "a2").await.is_some() }).await;
    let a1 = entry(&bus, "a1").await.expect("a1 parked").record;
    let a2 = entry(&bus, "a2").await.unwrap().record;
    assert_eq!(a2.reason, ParkReason::Held);
    assert_eq!(a2.held_behind.as_deref(), Some(a1.id.as_str()));
    assert_eq!(handler.calls("a2"), 0, "a held message is not processed");

    // The hold survives a restart of the consumer: it is rebuilt from the dead-letter stream.
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stop = start(&bus, spec(OnPark::HoldAggregate), handler.clone());
    publish(&bus, "a3", "agg-a").await;
    publish(&bus, "b2", "agg-b").await;
    eventually("b2 processed", || async { handler.seen() == ["b1", "b2"] }).await;
    eventually("a3 parked", || async { entry(&bus, "a3").await.is_some() }).await;
    assert_eq!(handler.calls("a3"), 0);

    // A replay while a1 is still poisoned fails and changes nothing but the record.
    bus.request_replay(&a2).await.unwrap();
    eventually("failed replay recorded", || async {
        entry(&bus, "a1").await.unwrap().replay_attempts == 1
    })
    .await;
    let failed = entry(&bus, "a1").await.unwrap();
    assert_eq!(failed.status, DeadLetterStatus::Parked);
    assert_eq!(failed.last_replay_error.as_deref(), Some("a1 is poison"));
    assert_eq!(
        handler.calls("a2"),
        0,
        "the head failed: followers stay held"
    );

    // After the fix, replaying the follower replays the aggregate from its head, in order.
    handler.cure("a1");
    bus.request_replay(&a2).await.unwrap();
    eventually("aggregate replayed", || async {
        handler.seen() == ["b1", "b2", "a1", "a2", "a3"]
    })
    .await;
    eventually("statuses recorded", || async {
        dead_letters(&bus)
            .await
            .iter()
            .all(|e| e.status == DeadLetterStatus::Replayed)
    })
    .await;
    // The hold is released: the aggregate's next message is processed.
    publish(&bus, "a4", "agg-a").await;
    eventually("a4 processed", || async {
        handler.seen().last().map(String::as_str) == Some("a4")
    })
    .await;
    assert_eq!(dead_letters(&bus).await.len(), 3);
    stop.cancel();
}

#[tokio::test]
async fn skip_goes_on_with_the_aggregate_and_a_replay_runs_only_the_one_message() {
    let env = TestEnv::new().await;
    let bus = bus(&env).await;
    let handler = Recorder::default();
    handler.poison("m1", Poison::Panic);
    let stop = start(&bus, spec(OnPark::Skip), handler.clone());
    publish(&bus, "m1", "s1").await;
    publish(&bus, "m2", "s1").await;
    eventually("m2 processed", || async { handler.seen() == ["m2"] }).await;
    let m1 = entry(&bus, "m1").await.expect("m1 parked");

    handler.cure("m1");
    bus.request_replay(&m1.record).await.unwrap();
    eventually("m1 replayed", || async {
        entry(&bus, "m1").await.unwrap().status == DeadLetterStatus::Replayed
    })
    .await;
    assert_eq!(handler.seen(), ["m2", "m1"]);
    assert!(entry(&bus, "m1").await.unwrap().replayed_at.is_some());
    // Replaying a replayed dead letter does not run the handler again.
    let calls = handler.calls("m1");
    bus.request_replay(&m1.record).await.unwrap();
    let js = async_nats::jetstream::new(bus.client().clone());
    let replay_consumer = format!("{}_test-consumer-replay", env.namespace);
    eventually("the replay request served", || async {
        let stream = js
            .get_stream(format!("{}_DEADLETTER", env.namespace.to_uppercase()))
            .await
            .unwrap();
        let info = stream
            .consumer_info(replay_consumer.as_str())
            .await
            .unwrap();
        info.num_pending == 0 && info.num_ack_pending == 0
    })
    .await;
    assert_eq!(handler.calls("m1"), calls);
    stop.cancel();
}
