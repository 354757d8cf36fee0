//! The webhooks service as its NATS user of `deploy/nats/joule.conf` (ADR 028): it creates its
//! durable consumers on every stream it reads and delivers what sessions publishes.

use joule_bus::{Bus, Namespace, NatsUser};
use joule_testkit::{NatsServer, TestEnv, dev_nats_password};

use crate::support::{self, Receiver};

async fn connect_as(nats: &NatsServer, user: &str) -> Bus {
    let password = dev_nats_password(user);
    Bus::connect_as(
        &nats.url,
        Namespace::new("joule").expect("namespace"),
        Some(NatsUser {
            name: user,
            password: &password,
        }),
    )
    .await
    .unwrap_or_else(|e| panic!("{user} connects: {e}"))
}

#[tokio::test]
async fn webhooks_consumes_every_stream_as_its_nats_user() {
    let env = TestEnv::new().await;
    let nats = NatsServer::with_deploy_config().await;
    let mut settings = support::settings(&env);
    settings.nats_url = nats.url.clone();
    settings.namespace = "joule".into();
    settings.nats_user = "webhooks".into();
    settings.nats_password = dev_nats_password("webhooks").into();
    let mut service = support::start(settings).await;
    let receiver = Receiver::start().await;
    let (_, secret) = support::create(&mut service.client, "acme", &receiver.url, &["*"]).await;

    let sessions = connect_as(&nats, "sessions").await;
    let event_id = support::session_completed(&sessions, "acme", "plane").await;
    let hit = receiver.wait_for(1).await.remove(0);
    assert_eq!(hit.header("Joule-Event-Id"), event_id);
    assert!(hit.signed_by(&secret));

    // Every stream it reads has its durable consumer, which the user was allowed to create.
    let webhooks = connect_as(&nats, "webhooks").await;
    let js = async_nats::jetstream::new(webhooks.client().clone());
    for domain in joule_webhooks::events::STREAMS {
        let stream = webhooks.namespace().stream_name(domain);
        let durable = format!("joule_webhooks-{}", domain.subject_root());
        joule_testkit::eventually(&format!("{durable} on {stream}"), || {
            let js = js.clone();
            let (stream, durable) = (stream.clone(), durable.clone());
            async move {
                let stream = js.get_stream(&stream).await.ok()?;
                stream.consumer_info(&durable).await.ok().map(|_| ())
            }
        })
        .await;
    }
    service.running.stop().await.expect("stops cleanly");
}
