//! Aggregates that need no services, written as deciders: [`Decider::decide`] is pure and
//! synchronous (the events a command records, from the state alone; none for a command already
//! applied, an error for one the state refuses) and [`Decider::evolve`] is the state an event leaves.
//! [`Decided`] runs a decider as a cqrs-es [`Aggregate`], the one place that writes decided events
//! to the event sink.
//!
//! Stored events, the aggregate type name and the state's serialised shape (snapshots) are the
//! decider's own: `Decided` adds nothing to them.

use std::ops::Deref;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// An aggregate's rules, with no I/O: what a command records and what an event changes.
pub trait Decider: Default + Serialize + DeserializeOwned + Send + Sync {
    /// The aggregate type its events are stored under.
    const TYPE: &'static str;
    type Command: Send;
    type Event: DomainEvent;
    type Error: std::error::Error + Send;

    /// The events `command` records, decided from the state as it is.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// The state once `event` happened.
    fn evolve(&mut self, event: Self::Event);
}

/// The cqrs-es aggregate of a [`Decider`]: what frameworks, event stores and tests are typed with
/// (`PostgresCqrs<Decided<Invoice>>`). It reads as the decider's state ([`Deref`]).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Decided<D>(D);

impl<D> Decided<D> {
    /// The decider's state.
    pub fn into_inner(self) -> D {
        self.0
    }
}

impl<D> Deref for Decided<D> {
    type Target = D;

    fn deref(&self) -> &D {
        &self.0
    }
}

impl<D: Decider> Aggregate for Decided<D> {
    const TYPE: &'static str = D::TYPE;
    type Command = D::Command;
    type Event = D::Event;
    type Error = D::Error;
    type Services = ();

    async fn handle(
        &mut self,
        command: D::Command,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), D::Error> {
        for event in self.0.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: D::Event) {
        self.0.evolve(event)
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    /// Counts up to a limit, and ignores a count it already has.
    #[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    struct Counter {
        count: u32,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    enum Counted {
        Counted(u32),
    }

    impl DomainEvent for Counted {
        fn event_type(&self) -> String {
            "Counted".into()
        }
        fn event_version(&self) -> String {
            "1.0".into()
        }
    }

    #[derive(Debug, PartialEq, Eq, thiserror::Error)]
    #[error("{0} is beyond the limit")]
    struct Beyond(u32);

    impl Decider for Counter {
        const TYPE: &'static str = "Counter";
        type Command = u32;
        type Event = Counted;
        type Error = Beyond;

        fn decide(&self, up_to: u32) -> Result<Vec<Counted>, Beyond> {
            if up_to > 3 {
                return Err(Beyond(up_to));
            }
            Ok((self.count + 1..=up_to).map(Counted::Counted).collect())
        }

        fn evolve(&mut self, Counted::Counted(n): Counted) {
            self.count = n;
        }
    }

    #[test]
    fn the_aggregate_records_what_the_decider_decides() {
        TestFramework::<Decided<Counter>>::with(())
            .given(vec![Counted::Counted(1)])
            .when(3)
            .then_expect_events(vec![Counted::Counted(2), Counted::Counted(3)]);
        TestFramework::<Decided<Counter>>::with(())
            .given(vec![Counted::Counted(1), Counted::Counted(2)])
            .when(2)
            .then_expect_events(vec![]);
        TestFramework::<Decided<Counter>>::with(())
            .given_no_previous_events()
            .when(4)
            .then_expect_error(Beyond(4));
    }

    #[test]
    fn the_aggregate_is_stored_as_its_decider() {
        let mut counter = Decided::<Counter>::default();
        counter.apply(Counted::Counted(2));
        assert_eq!(<Decided<Counter> as Aggregate>::TYPE, "Counter");
        assert_eq!(counter.count, 2);
        assert_eq!(
            serde_json::to_value(&counter).unwrap(),
            serde_json::json!({"count": 2})
        );
        assert_eq!(counter.into_inner(), Counter { count: 2 });
    }
}
