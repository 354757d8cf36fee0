//! Dead letters: messages a consumer could not process, parked in the `<NS>_DEADLETTER` stream so that
//! the consumer goes on with the next message (ADR 022).
//!
//! The stream holds three kinds of message, each on its own subject under `<ns>.deadletter.`:
//! - `parked.<durable>`: a [`DeadLetter`], the parked message with why it was parked. It is also the
//!   alarm: subscribe to `<ns>.deadletter.parked.>` to hear of every parking.
//! - `outcome.<durable>`: a [`ReplayOutcome`], what a replay of a dead letter did.
//! - `replay.<durable>`: a [`ReplayRequest`], read by the owning consumer's runner.
//!
//! A dead letter's status is the last outcome recorded for its id ([`DeadLetterStatus::Parked`] until
//! a replay succeeds).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Bus, BusError, Received};

/// The root of the dead-letter subjects, relative to the namespace.
pub const DEADLETTER_ROOT: &str = "deadletter";

/// What parking a message means for the messages after it (ADR 022).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnPark {
    /// The consumer goes on with every later message: the parked one is skipped (and listed).
    Skip,
    /// Later messages of the parked message's aggregate (envelope `aggregate_type` and
    /// `aggregate_id`) are parked behind it, unprocessed, until it is replayed successfully; other
    /// aggregates go on.
    HoldAggregate,
}

/// Why a message was parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParkReason {
    /// The handler panicked on every one of the bounded attempts.
    Panic,
    /// The handler rejected the message ([`crate::HandlerError::Rejected`]).
    Rejected,
    /// The bytes are not an envelope.
    Undecodable,
    /// An earlier message of the same aggregate is parked and the consumer holds its aggregate.
    Held,
}

/// A parked message: where it came from, what it was, and why it was parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Derived from the consumer and the original stream position, so parking the same delivery
    /// twice (a crash between parking and acknowledging) gives the same id.
    pub id: String,
    /// The consumer's durable name, without the namespace.
    pub consumer: String,
    /// The original stream and subject (full, with the namespace) and position.
    pub stream: String,
    pub subject: String,
    pub stream_sequence: u64,
    /// JetStream's delivery count of the message when it was parked.
    pub delivered: i64,
    /// Handler attempts made before parking (0 for undecodable and held messages).
    pub attempts: u32,
    pub reason: ParkReason,
    pub error: String,
    /// Envelope fields, empty when the payload is not an envelope.
    pub event_id: String,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// For a held message, the dead letter it waits behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_behind: Option<String>,
    /// The original message's headers.
    pub headers: BTreeMap<String, String>,
    /// The original message's bytes (the envelope), base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub payload: Vec<u8>,
    pub parked_at: DateTime<Utc>,
}

impl DeadLetter {
    /// The id of the dead letter for a delivery of `stream`'s message `stream_sequence` to `consumer`.
    pub fn id_for(namespace: &str, consumer: &str, stream: &str, stream_sequence: u64) -> String {
        uuid::Uuid::new_v5(
            &joule_domain::ids::JOULE_NAMESPACE,
            format!("deadletter:{namespace}/{consumer}/{stream}/{stream_sequence}").as_bytes(),
        )
        .to_string()
    }

    /// The key of the aggregate a hold applies to; `None` when the envelope names none.
    pub fn aggregate_key(&self) -> Option<String> {
        aggregate_key(&self.aggregate_type, &self.aggregate_id)
    }

    /// The message as a consumer receives it, for a replay.
    pub fn to_received(&self) -> Result<Received, BusError> {
        use joule_proto::Message;
        let envelope = crate::Envelope::decode(self.payload.as_slice())
            .map_err(|e| BusError::Decode(e.to_string()))?;
        Ok(Received {
            subject: self.subject.clone(),
            envelope,
            stream_sequence: self.stream_sequence,
            delivered: self.delivered,
        })
    }
}

pub(crate) fn aggregate_key(aggregate_type: &str, aggregate_id: &str) -> Option<String> {
    (!aggregate_id.is_empty()).then(|| format!("{aggregate_type}/{aggregate_id}"))
}

/// Where a dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStatus {
    /// Not processed (never replayed, or every replay failed).
    Parked,
    /// A replay ran the handler successfully.
    Replayed,
}

impl DeadLetterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterStatus::Parked => "parked",
            DeadLetterStatus::Replayed => "replayed",
        }
    }
}

impl std::str::FromStr for DeadLetterStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "parked" => Ok(Self::Parked),
            "replayed" => Ok(Self::Replayed),
            other => Err(format!("unknown status {other:?}: use parked or replayed")),
        }
    }
}

/// What one replay of a dead letter did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayOutcome {
    pub id: String,
    pub status: DeadLetterStatus,
    /// Why the replay failed, for [`DeadLetterStatus::Parked`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A request to replay a dead letter through its consumer's handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    pub id: String,
    pub requested_at: DateTime<Utc>,
}

/// A dead letter with its current status, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterEntry {
    /// The position of the parked record in the dead-letter stream (list order and cursor).
    pub position: u64,
    pub record: DeadLetter,
    pub status: DeadLetterStatus,
    pub replay_attempts: u32,
    pub last_replay_error: Option<String>,
    pub replayed_at: Option<DateTime<Utc>>,
}

/// The records of the dead-letter stream folded into entries, in parking order.
pub(crate) fn fold(messages: Vec<crate::RawMessage>, namespace: &str) -> Vec<DeadLetterEntry> {
    let parked_prefix = format!("{namespace}.{DEADLETTER_ROOT}.parked.");
    let outcome_prefix = format!("{namespace}.{DEADLETTER_ROOT}.outcome.");
    let mut entries: Vec<DeadLetterEntry> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for m in messages {
        if m.subject.starts_with(&parked_prefix) {
            let Ok(record) = serde_json::from_slice::<DeadLetter>(&m.payload) else {
                tracing::warn!(sequence = m.sequence, "unreadable dead letter; ignored");
                continue;
            };
            // The same delivery parked twice after the duplicate window: keep the first.
            if index.contains_key(&record.id) {
                continue;
            }
            index.insert(record.id.clone(), entries.len());
            entries.push(DeadLetterEntry {
                position: m.sequence,
                record,
                status: DeadLetterStatus::Parked,
                replay_attempts: 0,
                last_replay_error: None,
                replayed_at: None,
            });
        } else if m.subject.starts_with(&outcome_prefix) {
            let Ok(outcome) = serde_json::from_slice::<ReplayOutcome>(&m.payload) else {
                tracing::warn!(sequence = m.sequence, "unreadable replay outcome; ignored");
                continue;
            };
            if let Some(entry) = index.get(&outcome.id).map(|&i| &mut entries[i]) {
                entry.replay_attempts += 1;
                entry.status = outcome.status;
                match outcome.status {
                    DeadLetterStatus::Replayed => entry.replayed_at = Some(outcome.at),
                    DeadLetterStatus::Parked => entry.last_replay_error = outcome.error,
                }
            }
        }
    }
    entries
}

/// The parked (not replayed) dead letters of one consumer, and the aggregates they hold.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    /// Ids of this consumer's dead letters that are still parked.
    parked: HashSet<String>,
    /// Aggregate key → its parked dead letters in parking order (only for [`OnPark::HoldAggregate`]).
    held: HashMap<String, Vec<String>>,
}

impl Holds {
    pub(crate) fn rebuild(entries: &[DeadLetterEntry], consumer: &str, on_park: OnPark) -> Self {
        let mut holds = Holds::default();
        for e in entries {
            if e.record.consumer == consumer && e.status == DeadLetterStatus::Parked {
                holds.add(&e.record, on_park);
            }
        }
        holds
    }

    pub(crate) fn add(&mut self, record: &DeadLetter, on_park: OnPark) {
        self.parked.insert(record.id.clone());
        if on_park == OnPark::HoldAggregate
            && let Some(key) = record.aggregate_key()
        {
            let list = self.held.entry(key).or_default();
            if !list.contains(&record.id) {
                list.push(record.id.clone());
            }
        }
    }

    /// A replayed dead letter: no longer parked, and no longer holding its aggregate.
    pub(crate) fn release(&mut self, id: &str) {
        self.parked.remove(id);
        self.held.retain(|_, list| {
            list.retain(|i| i != id);
            !list.is_empty()
        });
    }

    pub(crate) fn is_parked(&self, id: &str) -> bool {
        self.parked.contains(id)
    }

    /// The dead letter that holds `key`'s aggregate back, if any.
    pub(crate) fn head(&self, key: &str) -> Option<&str> {
        self.held
            .get(key)
            .and_then(|l| l.first())
            .map(String::as_str)
    }

    pub(crate) fn held_count(&self) -> usize {
        self.held.len()
    }
}

impl Bus {
    /// The full subject of a dead-letter record kind for a consumer: `<ns>.deadletter.<kind>.<durable>`.
    pub(crate) fn deadletter_subject(&self, kind: &str, consumer: &str) -> String {
        self.namespace
            .subject(&format!("{DEADLETTER_ROOT}.{kind}.{consumer}"))
    }

    /// Every dead letter of this namespace with its status, in parking order.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetterEntry>, BusError> {
        let messages = self.read_raw(&self.namespace.deadletter_stream()).await?;
        Ok(fold(messages, self.namespace.as_str()))
    }

    /// One dead letter by id.
    pub async fn dead_letter(&self, id: &str) -> Result<Option<DeadLetterEntry>, BusError> {
        Ok(self
            .dead_letters()
            .await?
            .into_iter()
            .find(|e| e.record.id == id))
    }

    /// Asks the dead letter's consumer to replay it through its handler. The consumer records the
    /// outcome ([`ReplayOutcome`]); this returns once the request is stored.
    pub async fn request_replay(&self, record: &DeadLetter) -> Result<(), BusError> {
        let request = ReplayRequest {
            id: record.id.clone(),
            requested_at: Utc::now(),
        };
        let body = serde_json::to_vec(&request).map_err(|e| BusError::Decode(e.to_string()))?;
        self.js
            .publish(
                self.deadletter_subject("replay", &record.consumer),
                body.into(),
            )
            .await
            .map_err(|e| BusError::js("publish", e))?
            .await
            .map_err(|e| BusError::js("publish ack", e))?;
        Ok(())
    }

    /// Stores a dead letter (the alarm subscribers hear), de-duplicated by its id.
    pub(crate) async fn park_record(&self, record: &DeadLetter) -> Result<(), BusError> {
        let body = serde_json::to_vec(record).map_err(|e| BusError::Decode(e.to_string()))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", record.id.as_str());
        self.js
            .publish_with_headers(
                self.deadletter_subject("parked", &record.consumer),
                headers,
                body.into(),
            )
            .await
            .map_err(|e| BusError::js("publish", e))?
            .await
            .map_err(|e| BusError::js("publish ack", e))?;
        Ok(())
    }

    pub(crate) async fn record_outcome(
        &self,
        consumer: &str,
        outcome: &ReplayOutcome,
    ) -> Result<(), BusError> {
        let body = serde_json::to_vec(outcome).map_err(|e| BusError::Decode(e.to_string()))?;
        self.js
            .publish(self.deadletter_subject("outcome", consumer), body.into())
            .await
            .map_err(|e| BusError::js("publish", e))?
            .await
            .map_err(|e| BusError::js("publish ack", e))?;
        Ok(())
    }
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, aggregate_id: &str) -> DeadLetter {
        DeadLetter {
            id: id.into(),
            consumer: "c".into(),
            stream: "T_SESSION".into(),
            subject: "t.session.x.started".into(),
            stream_sequence: 1,
            delivered: 1,
            attempts: 1,
            reason: ParkReason::Rejected,
            error: "no".into(),
            event_id: "e".into(),
            event_type: "x".into(),
            aggregate_type: "session".into(),
            aggregate_id: aggregate_id.into(),
            held_behind: None,
            headers: BTreeMap::new(),
            payload: vec![0, 159, 146, 150],
            parked_at: Utc::now(),
        }
    }

    fn raw(sequence: u64, subject: &str, body: &impl Serialize) -> crate::RawMessage {
        crate::RawMessage {
            sequence,
            subject: subject.into(),
            headers: HashMap::new(),
            payload: serde_json::to_vec(body).unwrap().into(),
        }
    }

    #[test]
    fn a_record_round_trips_with_binary_payload() {
        let r = record("a", "s1");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<DeadLetter>(&json).unwrap(), r);
    }

    #[test]
    fn the_last_outcome_is_the_status() {
        let at = Utc::now();
        let failed = ReplayOutcome {
            id: "a".into(),
            status: DeadLetterStatus::Parked,
            error: Some("still bad".into()),
            at,
        };
        let done = ReplayOutcome {
            id: "a".into(),
            status: DeadLetterStatus::Replayed,
            error: None,
            at,
        };
        let entries = fold(
            vec![
                raw(1, "t.deadletter.parked.c", &record("a", "s1")),
                raw(2, "t.deadletter.parked.c", &record("b", "s1")),
                raw(3, "t.deadletter.outcome.c", &failed),
                raw(4, "t.deadletter.replay.c", &failed),
            ],
            "t",
        );
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].status, DeadLetterStatus::Parked);
        assert_eq!(entries[0].replay_attempts, 1);
        assert_eq!(entries[0].last_replay_error.as_deref(), Some("still bad"));
        let holds = Holds::rebuild(&entries, "c", OnPark::HoldAggregate);
        assert_eq!(holds.head("session/s1"), Some("a"));

        let entries = fold(
            vec![
                raw(1, "t.deadletter.parked.c", &record("a", "s1")),
                raw(2, "t.deadletter.outcome.c", &done),
            ],
            "t",
        );
        assert_eq!(entries[0].status, DeadLetterStatus::Replayed);
        let holds = Holds::rebuild(&entries, "c", OnPark::HoldAggregate);
        assert_eq!(holds.head("session/s1"), None);
        assert!(!holds.is_parked("a"));
    }

    #[test]
    fn skip_holds_nothing() {
        let mut holds = Holds::default();
        holds.add(&record("a", "s1"), OnPark::Skip);
        assert!(holds.is_parked("a"));
        assert_eq!(holds.head("session/s1"), None);
    }
}
