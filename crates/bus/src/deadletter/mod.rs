//! Dead letters: messages a consumer could not process, parked in the `<NS>_DEADLETTER` stream so that
//! the consumer goes on with the next message (ADR 022).
//!
//! The stream holds four kinds of message, each on its own subject under `<ns>.deadletter.`; the
//! subjects of a dead letter's records end in its id, so one is found without reading the stream
//! ([`stream`]):
//! - `parked.<durable>.<id>`: a [`DeadLetter`], the parked message with why it was parked. It is also
//!   the alarm: subscribe to `<ns>.deadletter.parked.>` to hear of every parking.
//! - `outcome.<durable>.<id>`: a [`ReplayOutcome`], what a replay did (written by the consumer).
//! - `discarded.<durable>.<id>`: a [`DiscardRecord`], an operator's decision never to process it
//!   (written by the api).
//! - `replay.<durable>`: a [`ReplayRequest`], read by the owning consumer's runner.
//!
//! A dead letter's state is its latest record: [`DeadLetterStatus::Parked`] until a replay succeeds
//! or it is discarded. Outcome and discard records carry the replay count and the last replay error,
//! so the latest one is enough.

mod stream;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{BusError, Received};

/// The root of the dead-letter subjects, relative to the namespace.
pub const DEADLETTER_ROOT: &str = "deadletter";

/// What parking a message means for the messages after it (ADR 022).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The consumer's ordering policy when it parked the message.
    pub on_park: OnPark,
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

    /// The aggregate whose later messages wait behind this one while it is parked
    /// ([`OnPark::HoldAggregate`] with an aggregate).
    pub fn held_aggregate(&self) -> Option<String> {
        (self.on_park == OnPark::HoldAggregate)
            .then(|| self.aggregate_key())
            .flatten()
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStatus {
    /// Not processed (never replayed, or every replay failed).
    Parked,
    /// A replay ran the handler successfully.
    Replayed,
    /// An operator decided it is never to be processed; it is not replayed.
    Discarded,
}

impl DeadLetterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterStatus::Parked => "parked",
            DeadLetterStatus::Replayed => "replayed",
            DeadLetterStatus::Discarded => "discarded",
        }
    }
}

impl std::str::FromStr for DeadLetterStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "parked" => Ok(Self::Parked),
            "replayed" => Ok(Self::Replayed),
            "discarded" => Ok(Self::Discarded),
            other => Err(format!(
                "unknown status {other:?}: use parked, replayed or discarded"
            )),
        }
    }
}

/// What one replay of a dead letter did, with what earlier replays did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayOutcome {
    pub id: String,
    /// [`DeadLetterStatus::Parked`] (the replay failed) or [`DeadLetterStatus::Replayed`].
    pub status: DeadLetterStatus,
    /// Why the replay failed, for [`DeadLetterStatus::Parked`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
    /// Replays of the dead letter so far, this one included.
    pub replay_attempts: u32,
    /// The error of the latest failed replay so far, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_replay_error: Option<String>,
}

/// Who discarded a dead letter, why and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discarded {
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// An operator's decision never to process a dead letter, with its replays until then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscardRecord {
    pub id: String,
    #[serde(flatten)]
    pub discarded: Discarded,
    pub replay_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_replay_error: Option<String>,
}

/// Why a dead letter cannot be discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscardRefused {
    #[error("dead letter {0} was replayed: it has been processed")]
    Replayed(String),
    #[error("dead letter {0} was discarded already")]
    Discarded(String),
    /// ADR 022: the consumer holds the aggregate's later messages behind this one; dropping it would
    /// let them run without it (a capture without its hold, an invoice without its price).
    #[error(
        "dead letter {id} holds back {aggregate} in consumer {consumer} (ADR 022): its later \
         messages wait for it, and discarding it would let them run without it. Fix the cause and \
         replay it (POST /v1/dead-letters/{id}/replay)"
    )]
    HoldsAggregate {
        id: String,
        consumer: String,
        aggregate: String,
    },
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
    pub discarded: Option<Discarded>,
}

impl DeadLetterEntry {
    /// A dead letter as parked, before any replay or discard.
    pub(crate) fn parked(position: u64, record: DeadLetter) -> Self {
        Self {
            position,
            record,
            status: DeadLetterStatus::Parked,
            replay_attempts: 0,
            last_replay_error: None,
            replayed_at: None,
            discarded: None,
        }
    }

    /// Sets the state from the dead letter's latest record, of `kind`.
    pub(crate) fn apply(&mut self, kind: RecordKind, payload: &[u8]) {
        match kind {
            RecordKind::Parked => {}
            RecordKind::Outcome => match serde_json::from_slice::<ReplayOutcome>(payload) {
                Ok(outcome) => {
                    self.status = outcome.status;
                    self.replay_attempts = outcome.replay_attempts;
                    self.last_replay_error = outcome.last_replay_error;
                    self.replayed_at =
                        (outcome.status == DeadLetterStatus::Replayed).then_some(outcome.at);
                }
                Err(e) => {
                    tracing::warn!(dead_letter = %self.record.id, error = %e, "unreadable replay outcome; taken as parked")
                }
            },
            RecordKind::Discarded => match serde_json::from_slice::<DiscardRecord>(payload) {
                Ok(discard) => {
                    self.status = DeadLetterStatus::Discarded;
                    self.replay_attempts = discard.replay_attempts;
                    self.last_replay_error = discard.last_replay_error;
                    self.discarded = Some(discard.discarded);
                }
                Err(e) => {
                    tracing::warn!(dead_letter = %self.record.id, error = %e, "unreadable discard record; taken as parked")
                }
            },
        }
    }

    /// Whether an operator may discard this dead letter (see [`DiscardRefused`]).
    pub fn check_discard(&self) -> Result<(), DiscardRefused> {
        let id = self.record.id.clone();
        match self.status {
            DeadLetterStatus::Replayed => return Err(DiscardRefused::Replayed(id)),
            DeadLetterStatus::Discarded => return Err(DiscardRefused::Discarded(id)),
            DeadLetterStatus::Parked => {}
        }
        match self.record.held_aggregate() {
            Some(aggregate) => Err(DiscardRefused::HoldsAggregate {
                id,
                consumer: self.record.consumer.clone(),
                aggregate,
            }),
            None => Ok(()),
        }
    }
}

/// The kinds of record a dead letter has, by the subject token after `deadletter.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Parked,
    Outcome,
    Discarded,
}

impl RecordKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RecordKind::Parked => "parked",
            RecordKind::Outcome => "outcome",
            RecordKind::Discarded => "discarded",
        }
    }

    pub(crate) fn parse(token: &str) -> Option<Self> {
        [Self::Parked, Self::Outcome, Self::Discarded]
            .into_iter()
            .find(|k| k.as_str() == token)
    }
}

/// Whether `s` can stand as one token of a subject: a consumer name or a dead letter id.
pub fn is_subject_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The most dead letters one page lists.
pub const MAX_DEAD_LETTER_PAGE: usize = 500;

/// Which dead letters to list: in parking order, after a position, of one consumer and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQuery {
    /// Only dead letters parked after this position (a page's [`DeadLetterPage::next`]).
    pub after: Option<u64>,
    /// At most this many (1 to [`MAX_DEAD_LETTER_PAGE`]).
    pub limit: usize,
    pub consumer: Option<String>,
    pub status: Option<DeadLetterStatus>,
}

impl Default for DeadLetterQuery {
    fn default() -> Self {
        Self {
            after: None,
            limit: 50,
            consumer: None,
            status: None,
        }
    }
}

/// One page of dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPage {
    pub entries: Vec<DeadLetterEntry>,
    /// Where the next page starts ([`DeadLetterQuery::after`]), when more dead letters follow. With
    /// a status filter a page may be short, or the next one empty: a page examines a bounded number
    /// of dead letters.
    pub next: Option<u64>,
}

/// The parked (neither replayed nor discarded) dead letters of one consumer, and the aggregates
/// they hold.
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

    fn record(id: &str, aggregate_id: &str, on_park: OnPark) -> DeadLetter {
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
            on_park,
            headers: BTreeMap::new(),
            payload: vec![0, 159, 146, 150],
            parked_at: Utc::now(),
        }
    }

    fn json(body: &impl Serialize) -> Vec<u8> {
        serde_json::to_vec(body).unwrap()
    }

    fn outcome(status: DeadLetterStatus, attempts: u32, error: Option<&str>) -> ReplayOutcome {
        ReplayOutcome {
            id: "a".into(),
            status,
            error: error.map(Into::into),
            at: Utc::now(),
            replay_attempts: attempts,
            last_replay_error: Some("still bad".into()),
        }
    }

    #[test]
    fn a_record_round_trips_with_binary_payload() {
        let r = record("a", "s1", OnPark::HoldAggregate);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<DeadLetter>(&json).unwrap(), r);
    }

    #[test]
    fn the_latest_record_is_the_state() {
        let mut entry = DeadLetterEntry::parked(7, record("a", "s1", OnPark::HoldAggregate));
        entry.apply(RecordKind::Parked, b"ignored");
        assert_eq!(entry.status, DeadLetterStatus::Parked);

        let failed = outcome(DeadLetterStatus::Parked, 1, Some("still bad"));
        entry.apply(RecordKind::Outcome, &json(&failed));
        assert_eq!(entry.status, DeadLetterStatus::Parked);
        assert_eq!(entry.replay_attempts, 1);
        assert_eq!(entry.last_replay_error.as_deref(), Some("still bad"));
        assert_eq!(entry.replayed_at, None);
        let holds = Holds::rebuild(std::slice::from_ref(&entry), "c", OnPark::HoldAggregate);
        assert_eq!(holds.head("session/s1"), Some("a"));

        let done = outcome(DeadLetterStatus::Replayed, 2, None);
        entry.apply(RecordKind::Outcome, &json(&done));
        assert_eq!(entry.status, DeadLetterStatus::Replayed);
        assert_eq!(entry.replay_attempts, 2);
        assert_eq!(entry.replayed_at, Some(done.at));
        assert_eq!(
            entry.last_replay_error.as_deref(),
            Some("still bad"),
            "the last failure stays visible"
        );
        let holds = Holds::rebuild(std::slice::from_ref(&entry), "c", OnPark::HoldAggregate);
        assert_eq!(holds.head("session/s1"), None);
        assert!(!holds.is_parked("a"));
    }

    #[test]
    fn a_discard_is_recorded_and_releases_nothing_it_held() {
        let mut entry = DeadLetterEntry::parked(3, record("a", "s1", OnPark::Skip));
        assert_eq!(entry.check_discard(), Ok(()));
        let discard = DiscardRecord {
            id: "a".into(),
            discarded: Discarded {
                by: "admin".into(),
                reason: "a test message".into(),
                at: Utc::now(),
            },
            replay_attempts: 1,
            last_replay_error: Some("bad".into()),
        };
        entry.apply(RecordKind::Discarded, &json(&discard));
        assert_eq!(entry.status, DeadLetterStatus::Discarded);
        assert_eq!(entry.discarded.as_ref(), Some(&discard.discarded));
        assert_eq!(entry.replay_attempts, 1);
        assert_eq!(
            entry.check_discard(),
            Err(DiscardRefused::Discarded("a".into()))
        );
        let holds = Holds::rebuild(std::slice::from_ref(&entry), "c", OnPark::Skip);
        assert!(!holds.is_parked("a"));
    }

    #[test]
    fn a_dead_letter_that_holds_its_aggregate_cannot_be_discarded() {
        let held = DeadLetterEntry::parked(1, record("a", "s1", OnPark::HoldAggregate));
        let refused = held.check_discard().unwrap_err();
        assert!(
            matches!(&refused, DiscardRefused::HoldsAggregate { aggregate, .. } if aggregate == "session/s1"),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("replay"), "{refused}");
        // Without an aggregate (an undecodable message) nothing waits behind it.
        let loose = DeadLetterEntry::parked(2, record("b", "", OnPark::HoldAggregate));
        assert_eq!(loose.check_discard(), Ok(()));
    }

    #[test]
    fn skip_holds_nothing() {
        let mut holds = Holds::default();
        holds.add(&record("a", "s1", OnPark::Skip), OnPark::Skip);
        assert!(holds.is_parked("a"));
        assert_eq!(holds.head("session/s1"), None);
    }

    #[test]
    fn subject_tokens_and_record_kinds() {
        assert!(is_subject_token("payments-priced"));
        assert!(is_subject_token("3f1e0c2a-9a43-5b4f-8c1e-3b1a3e1c0000"));
        for bad in ["", "a.b", "*", ">", "a b"] {
            assert!(!is_subject_token(bad), "{bad:?}");
        }
        for kind in [
            RecordKind::Parked,
            RecordKind::Outcome,
            RecordKind::Discarded,
        ] {
            assert_eq!(RecordKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(RecordKind::parse("replay"), None);
    }
}
