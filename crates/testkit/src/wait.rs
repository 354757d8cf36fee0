//! Waiting in tests for what a service does asynchronously: a condition, or published events.
//! One deadline for every test ([`DEADLINE`]), generous for a loaded CI machine.

use std::future::Future;
use std::time::Duration;

use joule_bus::{Bus, Domain};
use joule_proto::{EventName, Message};

/// How long a test waits for something asynchronous before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`, and returns that; panics naming `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting until {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The messages of type `M` on `domain`'s stream, with their subjects, once there are at least
/// `want` of them (all of them, in stream order); panics after [`DEADLINE`].
pub async fn wait_for_events<M>(bus: &Bus, domain: Domain, want: usize) -> Vec<(String, M)>
where
    M: Message + Default + EventName,
{
    let what = format!("{want} {} on {domain:?}", M::NAME);
    eventually(&what, || async {
        let events: Vec<(String, M)> = bus
            .read_stream(domain)
            .await
            .expect("read the stream")
            .into_iter()
            .filter(|(_, e)| e.event_type == M::NAME)
            .map(|(subject, e)| {
                let m = joule_bus::decode_payload(&e).expect("a decodable message");
                (subject, m)
            })
            .collect();
        (events.len() >= want).then_some(events)
    })
    .await
}
