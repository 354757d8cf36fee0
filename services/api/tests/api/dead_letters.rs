//! `/v1/dead-letters`: a message a consumer parked is listed a page at a time, read, replayed
//! through the consumer's handler after a fix, or discarded by an operator (unless its consumer
//! holds its aggregate behind it).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use joule_bus::{
    BoxFuture, ConsumerSpec, Domain, Envelope, Handler, HandlerError, OnPark, Outgoing, Received,
};
use joule_runtime::CancellationToken;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{App, PROBLEM_JSON, Reply};

/// Rejects the event ids in `poison`; records the others.
#[derive(Clone, Default)]
struct Picky {
    poison: Arc<Mutex<HashSet<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Handler for Picky {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let id = message.envelope.event_id.clone();
            if self.poison.lock().unwrap().contains(&id) {
                return Err(HandlerError::Rejected(format!("cannot take {id}")));
            }
            self.seen.lock().unwrap().push(id);
            Ok(())
        })
    }
}

/// Runs a consumer `test-ledger` on the app's namespace and parks two poisoned events behind one
/// good one; returns the handler and the consumer's stop.
async fn park_two(app: &App) -> (Picky, CancellationToken) {
    park(
        app,
        OnPark::Skip,
        &[("p1", "j1"), ("p2", "j2"), ("ok", "j3")],
        &["p1", "p2"],
    )
    .await
}

/// Runs a consumer `test-ledger` with `on_park` on the app's namespace, publishes `events` (event
/// id, journal entry) and waits until at least as many messages as `poison` names are parked.
async fn park(
    app: &App,
    on_park: OnPark,
    events: &[(&str, &str)],
    poison: &[&str],
) -> (Picky, CancellationToken) {
    let bus = app.env.bus().await;
    let handler = Picky::default();
    handler
        .poison
        .lock()
        .unwrap()
        .extend(poison.iter().map(|p| (*p).to_owned()));
    let stop = CancellationToken::new();
    let spec = ConsumerSpec {
        domain: Domain::Ledger,
        durable: "test-ledger".into(),
        filter: None,
        on_park,
    };
    let (b, h, s) = (bus.clone(), handler.clone(), stop.clone());
    tokio::spawn(async move { b.run_consumer(spec, h, s).await });
    for &(id, entry) in events {
        bus.publish(Outgoing {
            subject: format!("ledger.{entry}.posted"),
            envelope: Envelope {
                event_id: id.into(),
                event_type: "joule.v1.JournalEntryPosted".into(),
                aggregate_type: "journal".into(),
                aggregate_id: entry.into(),
                ..Default::default()
            },
            trace_headers: Default::default(),
        })
        .await
        .unwrap();
    }
    eventually_at(app, "/v1/dead-letters?limit=500", "all parked", |r| {
        r.body["data"]
            .as_array()
            .is_some_and(|d| d.len() >= poison.len())
    })
    .await;
    (handler, stop)
}

/// The answer to `GET path` once `check` accepts it.
async fn eventually_at(app: &App, path: &str, what: &str, check: impl Fn(&Reply) -> bool) -> Reply {
    joule_testkit::eventually(what, || async {
        let reply = app.get(path).await;
        check(&reply).then_some(reply)
    })
    .await
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn parked_messages_are_listed_paged_filtered_and_read() {
    let app = App::spawn().await;
    let empty = app.get("/v1/dead-letters").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(
        empty.body,
        serde_json::json!({"data": [], "next_cursor": null})
    );

    let (handler, stop) = park_two(&app).await;
    let all = app.get("/v1/dead-letters").await;
    assert_eq!(ids(&all), ["p1", "p2"]);
    let first = &all.body["data"][0];
    assert_eq!(first["consumer"], "test-ledger");
    assert_eq!(first["status"], "parked");
    assert_eq!(first["reason"], "rejected");
    assert_eq!(first["error"], "cannot take p1");
    assert_eq!(
        first["subject"],
        format!("{}.ledger.j1.posted", app.env.namespace)
    );
    assert_eq!(first["aggregate_id"], "j1");
    assert!(
        first["payload_base64"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
    assert_eq!(
        *handler.seen.lock().unwrap(),
        ["ok"],
        "the consumer went on"
    );

    // Pages.
    let page = app.get("/v1/dead-letters?limit=1").await;
    assert_eq!(ids(&page), ["p1"]);
    let cursor = page.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = app
        .get(&format!("/v1/dead-letters?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(ids(&next), ["p2"]);
    assert_eq!(next.body["next_cursor"], Value::Null);

    // Filters.
    let by_consumer = app
        .get("/v1/dead-letters?consumer=test-ledger&status=parked")
        .await;
    assert_eq!(ids(&by_consumer), ["p1", "p2"]);
    assert!(ids(&app.get("/v1/dead-letters?consumer=other").await).is_empty());
    assert!(ids(&app.get("/v1/dead-letters?status=replayed").await).is_empty());
    let bad = app
        .get("/v1/dead-letters?status=gone&cursor=x&limit=0")
        .await;
    let fields = bad.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(fields.contains(&"limit".to_owned()), "{fields:?}");
    let bad = app.get("/v1/dead-letters?status=gone&cursor=x").await;
    assert_eq!(
        bad.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["status", "cursor"]
    );

    // One by id.
    let id = first["id"].as_str().unwrap();
    let one = app.get(&format!("/v1/dead-letters/{id}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body, *first);
    let unknown = app.get("/v1/dead-letters/no-such-id").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.content_type, PROBLEM_JSON);
    stop.cancel();
}

#[tokio::test]
async fn a_replay_after_the_fix_runs_the_handler_and_is_recorded() {
    let app = App::spawn().await;
    let (handler, stop) = park_two(&app).await;
    let list = app.get("/v1/dead-letters").await;
    let id = list.body["data"][0]["id"].as_str().unwrap().to_owned();

    let unknown = app
        .post("/v1/dead-letters/no-such-id/replay", &Value::Null)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.content_type, PROBLEM_JSON);

    // Still poisoned: the replay runs and fails; the dead letter stays parked with the error.
    let replay = app
        .post(&format!("/v1/dead-letters/{id}/replay"), &Value::Null)
        .await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
    assert_eq!(replay.body["id"], id.as_str());
    let path = format!("/v1/dead-letters/{id}");
    let failed = eventually_at(&app, &path, "replay recorded", |r| {
        r.body["replay_attempts"] == 1
    })
    .await;
    assert_eq!(failed.body["status"], "parked");
    assert_eq!(failed.body["last_replay_error"], "cannot take p1");

    // Fixed: the replay goes through the consumer's handler.
    handler.poison.lock().unwrap().remove("p1");
    let replay = app
        .post(&format!("/v1/dead-letters/{id}/replay"), &Value::Null)
        .await;
    assert_eq!(replay.status, StatusCode::ACCEPTED);
    let done = eventually_at(&app, &path, "replayed", |r| r.body["status"] == "replayed").await;
    assert!(done.body["replayed_at"].is_string());
    assert_eq!(*handler.seen.lock().unwrap(), ["ok", "p1"]);
    assert_eq!(
        ids(&app.get("/v1/dead-letters?status=replayed").await),
        ["p1"]
    );
    assert_eq!(
        ids(&app.get("/v1/dead-letters?status=parked").await),
        ["p2"]
    );

    let again = app
        .post(&format!("/v1/dead-letters/{id}/replay"), &Value::Null)
        .await;
    again.problem(StatusCode::CONFLICT);
    stop.cancel();
}

#[tokio::test]
async fn dead_letters_need_the_admin_token() {
    let app = App::spawn().await;
    let cases = [
        app.client.get(app.url("/v1/dead-letters")),
        app.client
            .get(app.url("/v1/dead-letters/x"))
            .bearer_auth("wrong-token"),
        app.client.post(app.url("/v1/dead-letters/x/replay")),
        app.client.post(app.url("/v1/dead-letters/x/discard")),
    ];
    for request in cases {
        let reply = Reply::from(request.send().await.unwrap()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.content_type, PROBLEM_JSON);
    }
}

#[tokio::test]
async fn more_parked_messages_than_a_page_are_walked_page_by_page() {
    let app = App::spawn().await;
    let events: Vec<(String, String)> = (1..=7)
        .map(|i| (format!("p{i}"), format!("j{i}")))
        .collect();
    let events: Vec<(&str, &str)> = events
        .iter()
        .map(|(e, j)| (e.as_str(), j.as_str()))
        .collect();
    let poison: Vec<&str> = events.iter().map(|(e, _)| *e).collect();
    let (_handler, stop) = park(&app, OnPark::Skip, &events, &poison).await;

    let mut pages = Vec::new();
    let mut path = "/v1/dead-letters?limit=3".to_owned();
    loop {
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages.push(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/dead-letters?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        pages,
        [vec!["p1", "p2", "p3"], vec!["p4", "p5", "p6"], vec!["p7"]]
    );
    // The default page holds them all; a consumer filter pages the same way.
    assert_eq!(ids(&app.get("/v1/dead-letters").await).len(), 7);
    let first = app
        .get("/v1/dead-letters?consumer=test-ledger&limit=5")
        .await;
    assert_eq!(ids(&first), ["p1", "p2", "p3", "p4", "p5"]);
    assert!(first.body["next_cursor"].is_string());

    // Bad limits and consumers are 422 naming the parameter.
    for bad in ["limit=0", "limit=501", "limit=ten", "limit=-1"] {
        let reply = app.get(&format!("/v1/dead-letters?{bad}")).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
            ["limit"],
            "{bad}"
        );
    }
    let reply = app.get("/v1/dead-letters?consumer=test.ledger").await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["consumer"]
    );
    stop.cancel();
}

#[tokio::test]
async fn a_discarded_message_is_recorded_and_never_replayed() {
    let app = App::spawn().await;
    let (handler, stop) = park_two(&app).await;
    let list = app.get("/v1/dead-letters").await;
    let id = list.body["data"][0]["id"].as_str().unwrap().to_owned();
    let discard = format!("/v1/dead-letters/{id}/discard");

    // A reason is required.
    let missing = app.post(&discard, &serde_json::json!({})).await;
    assert_eq!(
        missing.problem(StatusCode::UNPROCESSABLE_ENTITY),
        ["reason"]
    );
    let blank = app
        .post(&discard, &serde_json::json!({"reason": "  "}))
        .await;
    assert_eq!(blank.problem(StatusCode::UNPROCESSABLE_ENTITY), ["reason"]);
    let unknown = app
        .post(
            "/v1/dead-letters/3b1a3e1c-3f1e-5a44-9a43-3b4f1a3e1c00/discard",
            &serde_json::json!({"reason": "gone"}),
        )
        .await;
    unknown.problem(StatusCode::NOT_FOUND);
    let malformed = app
        .post(
            "/v1/dead-letters/no.such/discard",
            &serde_json::json!({"reason": "gone"}),
        )
        .await;
    malformed.problem(StatusCode::NOT_FOUND);

    let done = app
        .post(
            &discard,
            &serde_json::json!({"reason": "a test posting, never to reach the ledger"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "discarded");
    assert_eq!(done.body["discarded_by"], "admin/default");
    assert_eq!(
        done.body["discard_reason"],
        "a test posting, never to reach the ledger"
    );
    assert!(done.body["discarded_at"].is_string());
    // Recorded on the stream: the read and the filters see it.
    let read = app.get(&format!("/v1/dead-letters/{id}")).await;
    assert_eq!(read.body, done.body);
    assert_eq!(
        ids(&app.get("/v1/dead-letters?status=discarded").await),
        ["p1"]
    );
    assert_eq!(
        ids(&app.get("/v1/dead-letters?status=parked").await),
        ["p2"]
    );

    // Never replayed, never discarded twice.
    handler.poison.lock().unwrap().remove("p1");
    let replay = app
        .post(&format!("/v1/dead-letters/{id}/replay"), &Value::Null)
        .await;
    replay.problem(StatusCode::CONFLICT);
    assert!(
        replay.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("discarded")),
        "{}",
        replay.body
    );
    let again = app
        .post(&discard, &serde_json::json!({"reason": "again"}))
        .await;
    again.problem(StatusCode::CONFLICT);
    assert_eq!(*handler.seen.lock().unwrap(), ["ok"]);
    stop.cancel();
}

#[tokio::test]
async fn a_message_that_holds_its_aggregate_is_replayed_not_discarded() {
    let app = App::spawn().await;
    let (handler, stop) = park(
        &app,
        OnPark::HoldAggregate,
        &[("m1", "j1"), ("m2", "j1")],
        &["m1"],
    )
    .await;
    // m2 is held behind m1: both parked.
    eventually_at(&app, "/v1/dead-letters", "m2 held", |r| ids(r).len() == 2).await;
    let list = app.get("/v1/dead-letters").await;
    let head = list.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list.body["data"][0]["on_park"], "hold_aggregate");

    let refused = app
        .post(
            &format!("/v1/dead-letters/{head}/discard"),
            &serde_json::json!({"reason": "bad posting"}),
        )
        .await;
    refused.problem(StatusCode::CONFLICT);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("journal/j1") && detail.contains("replay"),
        "{detail}"
    );
    let still = app.get(&format!("/v1/dead-letters/{head}")).await;
    assert_eq!(still.body["status"], "parked");
    assert!(handler.seen.lock().unwrap().is_empty());
    stop.cancel();
}
