//! The aggregates, one module each: [`intent::PaymentIntent`] (the money movements of one session or
//! order), [`methods::AccountMethods`] (an account's saved methods), [`wallet::Wallet`] (a prepaid
//! balance) and [`settlement::SettlementRecord`] (a provider's settlement line).
//!
//! Events that carried an amount as a bare decimal beside a currency code carry `Money` from their
//! version 2.0 (ADR 030); each aggregate's `UPCASTERS` rewrite the older shape as it loads, and
//! [`UPCASTERS`] (all of them) is what the relay reads the event store with.

/// The cqrs-es `Aggregate` of a payments aggregate, and its stored shapes: a command records the
/// events the state's `decide` returns for it, an event changes the state by its `evolve`.
macro_rules! aggregate {
    ($state:ty {
        type: $type:literal,
        command: $command:ty,
        event: $event:ty,
        error: $error:ty,
        upcasters: $upcasters:expr $(,)?
    }) => {
        impl crate::store::EventShapes for $state {
            const UPCASTERS: &'static [joule_store::Upcaster] = $upcasters;
        }

        impl cqrs_es::Aggregate for $state {
            const TYPE: &'static str = $type;
            type Command = $command;
            type Event = $event;
            type Error = $error;
            type Services = ();

            async fn handle(
                &mut self,
                command: $command,
                _: &(),
                sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), $error> {
                for event in self.decide(command)? {
                    sink.write(event, self).await;
                }
                Ok(())
            }

            fn apply(&mut self, event: $event) {
                self.evolve(event)
            }
        }
    };
}

pub mod intent;
pub mod methods;
pub mod settlement;
pub mod wallet;

use std::sync::LazyLock;

use joule_store::Upcaster;
use serde_json::{Map, Value, json};

/// Every aggregate's upcasters (event types are distinct across the aggregates), for the relay.
pub static UPCASTERS: LazyLock<Vec<Upcaster>> = LazyLock::new(|| {
    [
        intent::UPCASTERS,
        methods::UPCASTERS,
        wallet::UPCASTERS,
        settlement::UPCASTERS,
    ]
    .concat()
});

/// Runs `rewrite` on the variant's object of a stored payload (`{"<Variant>": {...}}`).
fn in_variant(mut payload: Value, rewrite: impl FnOnce(&mut Map<String, Value>)) -> Value {
    if let Some(inner) = payload
        .as_object_mut()
        .and_then(|o| o.values_mut().next())
        .and_then(Value::as_object_mut)
    {
        rewrite(inner);
    }
    payload
}

/// Wraps each of `fields` of `object` (a bare decimal, as stored before 2.0) into `Money`'s shape
/// with `currency`: `"12.30"` becomes `{"amount": "12.30", "currency": "EUR"}`, the decimal as it
/// was stored. A field already in that shape, or absent, is left as it is.
fn wrap_money(object: &mut Map<String, Value>, fields: &[&str], currency: &Value) {
    for field in fields {
        if let Some(value) = object.get_mut(*field)
            && !value.is_object()
        {
            *value = json!({ "amount": value.take(), "currency": currency });
        }
    }
}

/// The object under `key` of `object`, if it is one.
fn object_at<'a>(
    object: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    object.get_mut(key).and_then(Value::as_object_mut)
}
