//! The registry records that are created once and never change (a site, an account, a tenant): one
//! aggregate shape, [`Registration`], for each [`Record`] kind. The first command records the
//! record's one event; a second is refused, since a record's id is new or derives from its business
//! key (a tenant's id). Tokens were one until they could be assigned (issue 13): now a decider, under
//! the same aggregate type and with the same stored events.

use std::fmt::Debug;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A kind of record created once.
pub trait Record: Send + Sync + 'static {
    /// The aggregate type events are stored under.
    const TYPE: &'static str;
    type Command: Send;
    type Event: DomainEvent;
    type Error: std::error::Error + Send;
    /// What the refusal of a second creation names (the id, or the business key).
    type Key: Clone + Debug + Serialize + DeserializeOwned + Send + Sync;

    /// The event that records the creation.
    fn created(command: Self::Command) -> Self::Event;
    /// The key the creation event records.
    fn key(event: &Self::Event) -> Self::Key;
    /// The refusal of a second creation.
    fn exists(key: Self::Key) -> Self::Error;
}

/// The aggregate of a [`Record`]: whether it was created, and under which key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Registration<R: Record> {
    key: Option<R::Key>,
}

impl<R: Record> Default for Registration<R> {
    fn default() -> Self {
        Self { key: None }
    }
}

impl<R: Record> Aggregate for Registration<R> {
    const TYPE: &'static str = R::TYPE;
    type Command = R::Command;
    type Event = R::Event;
    type Error = R::Error;
    type Services = ();

    async fn handle(
        &mut self,
        command: R::Command,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), R::Error> {
        if let Some(key) = &self.key {
            return Err(R::exists(key.clone()));
        }
        sink.write(R::created(command), self).await;
        Ok(())
    }

    fn apply(&mut self, event: R::Event) {
        self.key = Some(R::key(&event));
    }
}

/// Given/when/then for a [`Record`]: with no earlier events, `command` records `event`.
#[cfg(test)]
pub(crate) fn records<R: Record>(command: R::Command, event: R::Event) {
    cqrs_es::test::TestFramework::<Registration<R>>::with(())
        .given_no_previous_events()
        .when(command)
        .then_expect_events(vec![event]);
}

/// Given/when/then for a [`Record`]: once `earlier` is recorded, `command` is refused with `message`.
#[cfg(test)]
pub(crate) fn refuses<R: Record>(earlier: R::Event, command: R::Command, message: &str) {
    cqrs_es::test::TestFramework::<Registration<R>>::with(())
        .given(vec![earlier])
        .when(command)
        .then_expect_error_message(message);
}
