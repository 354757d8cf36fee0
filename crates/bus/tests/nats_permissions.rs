//! The NATS users and permissions of `deploy/nats/joule.conf` (ADR 028), on a private nats-server
//! started with that file: no connection without credentials, and a service publishes only its own
//! domain's events and reads only the streams it consumes.

use std::collections::HashMap;

use async_nats::jetstream::{self, consumer};
use joule_bus::{Bus, Domain, Envelope, Namespace, NatsUser, Outgoing};
use joule_testkit::{NatsServer, dev_nats_password};

/// The namespace the deploy configuration's subjects are written for.
fn namespace() -> Namespace {
    Namespace::new("joule").unwrap()
}

async fn connect_as(server: &NatsServer, user: &str) -> Bus {
    let password = dev_nats_password(user);
    Bus::connect_as(
        &server.url,
        namespace(),
        Some(NatsUser {
            name: user,
            password: &password,
        }),
    )
    .await
    .unwrap_or_else(|e| panic!("{user} connects: {e}"))
}

fn message(subject: &str) -> Outgoing {
    Outgoing {
        subject: subject.into(),
        envelope: Envelope {
            event_id: uuid::Uuid::new_v4().to_string(),
            event_type: "Test".into(),
            ..Default::default()
        },
        trace_headers: HashMap::new(),
    }
}

/// How many messages a stream holds (stream info is allowed to every user).
async fn stored(bus: &Bus, domain: Domain) -> u64 {
    let js = jetstream::new(bus.client().clone());
    let mut stream = js
        .get_stream(bus.namespace().stream_name(domain))
        .await
        .expect("stream");
    stream.info().await.expect("stream info").state.messages
}

#[tokio::test]
async fn a_connection_without_valid_credentials_is_refused() {
    let server = NatsServer::with_deploy_config().await;
    let anonymous = Bus::connect(&server.url, namespace()).await;
    let error = anonymous.err().expect("refused without credentials");
    assert!(
        error.to_string().to_lowercase().contains("authoriz"),
        "{error}"
    );
    let wrong = Bus::connect_as(
        &server.url,
        namespace(),
        Some(NatsUser {
            name: "pricing",
            password: "not-the-password",
        }),
    )
    .await;
    assert!(wrong.is_err(), "a wrong password is refused");
    // The right password is let in (so the refusals above are about the credentials).
    connect_as(&server, "pricing").await;
}

#[tokio::test]
async fn only_the_api_publishes_registry_events() {
    let server = NatsServer::with_deploy_config().await;
    let api = connect_as(&server, "api").await;
    api.ensure_streams()
        .await
        .expect("the api creates the streams");
    let sessions = connect_as(&server, "sessions").await;
    sessions
        .ensure_streams()
        .await
        .expect("sessions looks the streams up");

    // sessions publishes its own events...
    let own = sessions.publish(message("session.s-1.started")).await;
    assert!(own.is_ok(), "sessions publishes SESSION: {own:?}");
    assert_eq!(stored(&sessions, Domain::Session).await, 1);
    // ...but nothing on REGISTRY: the server drops the message, no ack comes.
    let foreign = sessions.publish(message("registry.site.s-1")).await;
    assert!(foreign.is_err(), "sessions published to REGISTRY");
    assert_eq!(stored(&api, Domain::Registry).await, 0);
    assert!(
        server
            .log()
            .contains(r#"Publish Violation - User "sessions", Subject "joule.registry.site.s-1""#),
        "{}",
        server.log()
    );

    let registered = api.publish(message("registry.site.s-1")).await;
    assert!(
        registered.is_ok(),
        "the api publishes REGISTRY: {registered:?}"
    );
    assert_eq!(stored(&api, Domain::Registry).await, 1);
    // The one violation was the foreign publish: the rest was within the users' permissions.
    assert_eq!(
        server.log().matches("Violation").count(),
        1,
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn a_service_reads_only_the_streams_it_consumes() {
    let server = NatsServer::with_deploy_config().await;
    let api = connect_as(&server, "api").await;
    api.ensure_streams().await.expect("streams");
    api.publish(message("registry.site.s-1"))
        .await
        .expect("registry event");

    let durable = |name: &str| consumer::pull::Config {
        durable_name: Some(name.into()),
        ..Default::default()
    };
    // pricing consumes REGISTRY.
    let pricing = connect_as(&server, "pricing").await;
    let js = jetstream::new(pricing.client().clone());
    let stream = js.get_stream("JOULE_REGISTRY").await.expect("stream");
    let consumer: consumer::PullConsumer = stream
        .get_or_create_consumer("joule_pricing-test", durable("joule_pricing-test"))
        .await
        .expect("pricing creates a REGISTRY consumer");
    let mut batch = consumer.fetch().max_messages(1).messages().await.unwrap();
    use futures::StreamExt;
    let first = batch.next().await.expect("a message").expect("delivered");
    assert_eq!(first.subject.as_str(), "joule.registry.site.s-1");
    first.double_ack().await.expect("pricing acks");

    // invoicing does not: it can neither create a consumer there nor read its replies elsewhere.
    let invoicing = connect_as(&server, "invoicing").await;
    let js = jetstream::new(invoicing.client().clone());
    let stream = js.get_stream("JOULE_REGISTRY").await.expect("stream info");
    let refused = stream
        .get_or_create_consumer::<consumer::pull::Config>(
            "joule_invoicing-test",
            durable("joule_invoicing-test"),
        )
        .await;
    assert!(refused.is_err(), "invoicing created a REGISTRY consumer");
    let snoop = invoicing.client().subscribe("_INBOX_pricing.>").await;
    // The subscription is refused by the server asynchronously; it never sees a message.
    if let Ok(mut snoop) = snoop {
        pricing
            .client()
            .publish("_INBOX_pricing.x", "hello".into())
            .await
            .ok();
        pricing.client().flush().await.ok();
        let seen = tokio::time::timeout(std::time::Duration::from_secs(1), snoop.next()).await;
        assert!(
            !matches!(seen, Ok(Some(_))),
            "invoicing read pricing's inbox"
        );
    }
}

/// Rejects everything: each message it gets is parked.
struct RejectAll;

impl joule_bus::Handler for RejectAll {
    fn handle<'a>(
        &'a self,
        _message: &'a joule_bus::Received,
    ) -> joule_bus::BoxFuture<'a, Result<(), joule_bus::HandlerError>> {
        Box::pin(async { Err(joule_bus::HandlerError::Rejected("no".into())) })
    }
}

#[tokio::test]
async fn the_api_reads_and_discards_dead_letters_and_a_service_parks_but_cannot_discard() {
    let server = NatsServer::with_deploy_config().await;
    let api = connect_as(&server, "api").await;
    api.ensure_streams().await.expect("streams");
    // The ledger consumes INVOICE; a message it rejects is parked under its own user.
    let ledger = connect_as(&server, "ledger").await;
    let stop = tokio_util::sync::CancellationToken::new();
    let (bus, shutdown) = (ledger.clone(), stop.clone());
    let spec = joule_bus::ConsumerSpec {
        domain: Domain::Invoice,
        durable: "ledger-test".into(),
        filter: None,
        on_park: joule_bus::OnPark::Skip,
    };
    tokio::spawn(async move { bus.run_consumer(spec, RejectAll, shutdown).await });
    let invoicing = connect_as(&server, "invoicing").await;
    invoicing
        .publish(message("invoice.i-1.issued"))
        .await
        .expect("invoicing publishes INVOICE");

    let mut parked = None;
    for _ in 0..100 {
        let page = api
            .dead_letters(&joule_bus::DeadLetterQuery::default())
            .await
            .expect("the api lists dead letters");
        if let Some(entry) = page.entries.into_iter().next() {
            parked = Some(entry);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let parked = parked.expect("the ledger parked the message");
    let one = api
        .dead_letter(&parked.record.id)
        .await
        .expect("the api reads one by id")
        .expect("found");
    assert_eq!(one.record.consumer, "ledger-test");

    // Only the api records a discard.
    let refused = ledger
        .discard_dead_letter(&one, "ledger", "not mine to decide")
        .await;
    assert!(refused.is_err(), "the ledger discarded a dead letter");
    let discarded = api
        .discard_dead_letter(&one, "admin/default", "a test invoice")
        .await
        .expect("the api discards");
    assert_eq!(discarded.status, joule_bus::DeadLetterStatus::Discarded);
    let stored = api.dead_letter(&one.record.id).await.unwrap().unwrap();
    assert_eq!(stored.status, joule_bus::DeadLetterStatus::Discarded);
    stop.cancel();
    // The one violation was the ledger's discard.
    assert_eq!(
        server.log().matches("Violation").count(),
        1,
        "{}",
        server.log()
    );
    assert!(
        server
            .log()
            .contains(r#"User "ledger", Subject "joule.deadletter.discarded."#),
        "{}",
        server.log()
    );
}
