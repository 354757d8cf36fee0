//! Poisoned messages are parked in the dead-letter stream and the consumer goes on; a held aggregate
//! waits for its parked head; a replay runs the handler and releases the hold; dead letters are read
//! a page or one at a time, and a discarded one is never replayed. Real NATS JetStream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use joule_bus::{
    BoxFuture, Bus, ConsumerSpec, DeadLetterEntry, DeadLetterQuery, DeadLetterStatus,
    DiscardRefused, Domain, Envelope, Handler, HandlerError, OnPark, Outgoing, ParkReason,
    Received, RetryPolicy,
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
    let all = DeadLetterQuery {
        limit: 500,
        ..Default::default()
    };
    let page = bus.dead_letters(&all).await.expect("read dead letters");
    assert_eq!(page.next, None, "more than one page");
    page.entries
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
    // The alarm: the parked record on `<ns>.deadletter.parked.<consumer>.<id>`.
    let alarm = tokio::time::timeout(Duration::from_secs(10), alarms.next())
        .await
        .expect("an alarm")
        .expect("subscription open");
    assert_eq!(
        alarm.subject.as_str(),
        format!("{}.deadletter.parked.test-consumer.{}", env.namespace, r.id)
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
    replays_served(&bus, &env).await;
    assert_eq!(handler.calls("m1"), calls);
    stop.cancel();
}

/// Waits until the consumer's replay requests are all served.
async fn replays_served(bus: &Bus, env: &TestEnv) {
    let js = async_nats::jetstream::new(bus.client().clone());
    let replay_consumer = format!("{}_test-consumer-replay", env.namespace);
    eventually("the replay requests served", || async {
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
}

#[tokio::test]
async fn dead_letters_are_read_a_page_at_a_time_and_one_by_id() {
    let env = TestEnv::new().await;
    let bus = bus(&env).await;
    let handler = Recorder::default();
    let ids: Vec<String> = (1..=7).map(|i| format!("m{i}")).collect();
    for id in &ids {
        handler.poison(id, Poison::Reject);
    }
    let stop = start(&bus, spec(OnPark::Skip), handler.clone());
    for (i, id) in ids.iter().enumerate() {
        publish(&bus, id, &format!("s{i}")).await;
    }
    eventually("seven parked", || async {
        dead_letters(&bus).await.len() == 7
    })
    .await;

    // Pages of three, in parking order, each starting after the last.
    let mut query = DeadLetterQuery {
        limit: 3,
        ..Default::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = bus.dead_letters(&query).await.unwrap();
        pages.push(
            page.entries
                .iter()
                .map(|e| e.record.event_id.clone())
                .collect::<Vec<_>>(),
        );
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        pages,
        [vec!["m1", "m2", "m3"], vec!["m4", "m5", "m6"], vec!["m7"]]
    );

    // Filters: by consumer (none for another) and by status.
    let other = DeadLetterQuery {
        consumer: Some("other-consumer".into()),
        ..Default::default()
    };
    assert!(bus.dead_letters(&other).await.unwrap().entries.is_empty());
    let m3 = entry(&bus, "m3").await.unwrap();
    handler.cure("m3");
    bus.request_replay(&m3.record).await.unwrap();
    eventually("m3 replayed", || async {
        entry(&bus, "m3").await.unwrap().status == DeadLetterStatus::Replayed
    })
    .await;
    let replayed = DeadLetterQuery {
        status: Some(DeadLetterStatus::Replayed),
        consumer: Some("test-consumer".into()),
        limit: 1,
        ..Default::default()
    };
    let page = bus.dead_letters(&replayed).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].record.event_id, "m3");
    assert_eq!(page.entries[0].replay_attempts, 1);

    // One by id, with its state; an unknown or malformed id is none.
    let one = bus
        .dead_letter(&m3.record.id)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(one.status, DeadLetterStatus::Replayed);
    assert_eq!(one.position, m3.position);
    assert_eq!(one.record, m3.record);
    assert!(
        bus.dead_letter(&uuid::Uuid::new_v4().to_string())
            .await
            .unwrap()
            .is_none()
    );
    assert!(bus.dead_letter("no.such.>").await.unwrap().is_none());
    stop.cancel();
}

#[tokio::test]
async fn a_discarded_dead_letter_is_never_replayed_and_a_held_one_cannot_be_discarded() {
    let env = TestEnv::new().await;
    let bus = bus(&env).await;
    let handler = Recorder::default();
    handler.poison("m1", Poison::Reject);
    let stop = start(&bus, spec(OnPark::Skip), handler.clone());
    publish(&bus, "m1", "s1").await;
    eventually("m1 parked", || async { entry(&bus, "m1").await.is_some() }).await;
    let m1 = entry(&bus, "m1").await.unwrap();
    assert_eq!(m1.check_discard(), Ok(()));

    let discarded = bus
        .discard_dead_letter(&m1, "admin/default", "a test message, never to be billed")
        .await
        .unwrap();
    assert_eq!(discarded.status, DeadLetterStatus::Discarded);
    let stored = bus.dead_letter(&m1.record.id).await.unwrap().unwrap();
    assert_eq!(stored.status, DeadLetterStatus::Discarded);
    let record = stored.discarded.as_ref().expect("who, why, when");
    assert_eq!(record.by, "admin/default");
    assert_eq!(record.reason, "a test message, never to be billed");
    assert_eq!(
        stored.check_discard(),
        Err(DiscardRefused::Discarded(m1.record.id.clone()))
    );

    // Cured or not, a replay request does not run the handler on it.
    handler.cure("m1");
    let calls = handler.calls("m1");
    bus.request_replay(&m1.record).await.unwrap();
    replays_served(&bus, &env).await;
    assert_eq!(handler.calls("m1"), calls);
    assert_eq!(
        entry(&bus, "m1").await.unwrap().status,
        DeadLetterStatus::Discarded
    );
    stop.cancel();

    // Under HoldAggregate, a parked message holds its aggregate back: replay, not discard.
    let env = TestEnv::new().await;
    let bus = self::bus(&env).await;
    let handler = Recorder::default();
    handler.poison("h1", Poison::Reject);
    let stop = start(&bus, spec(OnPark::HoldAggregate), handler.clone());
    publish(&bus, "h1", "s9").await;
    eventually("h1 parked", || async { entry(&bus, "h1").await.is_some() }).await;
    let h1 = entry(&bus, "h1").await.unwrap();
    match h1.check_discard() {
        Err(DiscardRefused::HoldsAggregate { aggregate, .. }) => {
            assert_eq!(aggregate, "session/s9")
        }
        other => panic!("{other:?}"),
    }
    stop.cancel();
}
