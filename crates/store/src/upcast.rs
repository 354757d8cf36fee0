//! Versioned stored events. An event stored in a shape the code no longer reads is rewritten on
//! the way in: by the aggregate's event store (cqrs-es `EventUpcaster`) when the aggregate loads, and
//! by the relay before projections and mappers see it, so every reader sees the current shape.
//!
//! The rule: a change to a stored event's shape bumps that event type's `event_version` (from
//! `DomainEvent::event_version`) and adds an [`Upcaster`] from the older versions; a test loads an
//! event of the old version. Adding an optional field is a change too: the upcaster writes its
//! default explicitly, so the field needs no `#[serde(default)]` and the history says when it came.

use cqrs_es::persist::{EventUpcaster, SerializedEvent};

/// Implements `cqrs_es::DomainEvent` for an event enum from its variants and their versions, so
/// that each event type's version stands in one visible list next to the enum:
///
/// ```ignore
/// joule_store::event_versions!(SiteEvent {
///     SiteRegistered => "1.0",
///     SiteRenamed => "1.1", // gained `reason`: see UPCASTERS
/// });
/// ```
/// `event_type` is the variant's name (what cqrs-es and the relay key on); a variant missing from the
/// list does not compile.
#[macro_export]
macro_rules! event_versions {
    ($event:ident { $($variant:ident => $version:literal),+ $(,)? }) => {
        impl $crate::cqrs_es::DomainEvent for $event {
            fn event_type(&self) -> String {
                match self {
                    $($event::$variant { .. } => stringify!($variant),)+
                }
                .to_owned()
            }

            fn event_version(&self) -> String {
                match self {
                    $($event::$variant { .. } => $version,)+
                }
                .to_owned()
            }
        }
    };
}
use serde_json::Value;

/// Rewrites events of `event_type` stored with a version below `version` into that version's shape.
#[derive(Debug, Clone, Copy)]
pub struct Upcaster {
    pub event_type: &'static str,
    /// The version this upcaster produces, `major.minor` (as `event_version` returns it).
    pub version: &'static str,
    /// Receives the payload as cqrs-es stores it (`{"<Variant>": {...}}`) and returns it rewritten.
    pub upcast: fn(Value) -> Value,
}

/// `major.minor[.patch]` as numbers; an unreadable version counts as the oldest.
fn version(v: &str) -> (u32, u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

impl Upcaster {
    /// Whether an event of `event_type` stored at `event_version` needs this upcaster.
    pub fn applies(&self, event_type: &str, event_version: &str) -> bool {
        event_type == self.event_type && version(event_version) < version(self.version)
    }
}

/// Applies every upcaster of `upcasters` (in their order, oldest first) that `event_type` at
/// `event_version` needs; returns the payload and the version it now has.
pub fn upcast(
    upcasters: &[Upcaster],
    event_type: &str,
    event_version: &str,
    mut payload: Value,
) -> (Value, String) {
    let mut current = event_version.to_owned();
    for u in upcasters {
        if u.applies(event_type, &current) {
            payload = (u.upcast)(payload);
            current = u.version.to_owned();
        }
    }
    (payload, current)
}

/// Adds `value` under `field` in the variant's object of a stored payload (`{"<Variant>": {...}}`)
/// unless it is there: the usual upcast for a field added with a default.
pub fn with_field(mut payload: Value, field: &str, value: Value) -> Value {
    if let Some(inner) = payload
        .as_object_mut()
        .and_then(|o| o.values_mut().next())
        .and_then(Value::as_object_mut)
    {
        inner.entry(field.to_owned()).or_insert(value);
    }
    payload
}

/// The cqrs-es view of one [`Upcaster`], for the aggregate's event store.
struct ForEventStore(Upcaster);

impl EventUpcaster for ForEventStore {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        self.0.applies(event_type, event_version)
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        event.payload = (self.0.upcast)(event.payload);
        event.event_version = self.0.version.to_owned();
        event
    }
}

/// `upcasters` as the event store takes them.
pub(crate) fn for_event_store(upcasters: &[Upcaster]) -> Vec<Box<dyn EventUpcaster>> {
    upcasters
        .iter()
        .map(|u| Box::new(ForEventStore(*u)) as Box<dyn EventUpcaster>)
        .collect()
}

#[cfg(test)]
mod tests {
    use cqrs_es::DomainEvent;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Sample {
        Started { at: u32 },
        Sampled(u32),
        Stopped,
    }

    crate::event_versions!(Sample {
        Started => "1.1",
        Sampled => "1.0",
        Stopped => "2.0",
    });

    #[test]
    fn each_variant_has_its_name_and_version() {
        let names: Vec<(String, String)> = [
            Sample::Started { at: 1 },
            Sample::Sampled(2),
            Sample::Stopped,
        ]
        .iter()
        .map(|e| (e.event_type(), e.event_version()))
        .collect();
        assert_eq!(
            names,
            [("Started", "1.1"), ("Sampled", "1.0"), ("Stopped", "2.0")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    const ADD_FLAGS: Upcaster = Upcaster {
        event_type: "Started",
        version: "1.1",
        upcast: |p| with_field(p, "flags", json!([])),
    };
    const RENAME: Upcaster = Upcaster {
        event_type: "Started",
        version: "2.0",
        upcast: |mut p| {
            if let Some(inner) = p.get_mut("Started").and_then(Value::as_object_mut)
                && let Some(v) = inner.remove("old")
            {
                inner.insert("new".into(), v);
            }
            p
        },
    };

    #[test]
    fn an_old_event_passes_every_later_upcaster_in_order() {
        let (payload, v) = upcast(
            &[ADD_FLAGS, RENAME],
            "Started",
            "1.0",
            json!({"Started": {"old": 1}}),
        );
        assert_eq!(payload, json!({"Started": {"new": 1, "flags": []}}));
        assert_eq!(v, "2.0");
    }

    #[test]
    fn a_current_or_other_event_is_left_alone() {
        let p = json!({"Started": {"old": 1}});
        assert_eq!(upcast(&[ADD_FLAGS], "Started", "1.1", p.clone()).0, p);
        assert_eq!(upcast(&[ADD_FLAGS], "Stopped", "1.0", p.clone()).0, p);
        let (q, v) = upcast(&[ADD_FLAGS, RENAME], "Started", "1.1", p);
        assert_eq!((q, v.as_str()), (json!({"Started": {"new": 1}}), "2.0"));
    }

    #[test]
    fn a_field_already_there_is_kept() {
        let p = json!({"Started": {"flags": ["x"]}});
        assert_eq!(with_field(p.clone(), "flags", json!([])), p);
        assert!(version("1.10") > version("1.9"));
    }
}
