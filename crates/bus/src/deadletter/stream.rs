//! The dead-letter stream's reads and writes. Every record of a dead letter is on a subject ending
//! in `<durable>.<id>`, so reads go by subject through JetStream's message get (granted to every
//! NATS user on the dead-letter stream, `deploy/nats/joule.conf`), without reading the stream:
//! - one dead letter: the first message on `parked.*.<id>`, then the last on `*.<durable>.<id>`
//!   (its latest record is its state);
//! - a page: the next message on `parked.<durable or *>.*` after the cursor, one at a time, each
//!   with its state, until the page is full or a bounded number were examined;
//! - a consumer's own dead letters (its holds, ADR 022): every message on `parked.<durable>.*`.
//!
//! nats-server 2.9 answers these (`next_by_subj` with wildcards and `last_by_subj`); the server finds
//! the messages from its per-subject index.

use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};

use super::{
    DEADLETTER_ROOT, DeadLetter, DeadLetterEntry, DeadLetterPage, DeadLetterQuery,
    DeadLetterStatus, DiscardRecord, Discarded, MAX_DEAD_LETTER_PAGE, RecordKind, ReplayOutcome,
    ReplayRequest, is_subject_token,
};
use crate::{Bus, BusError};

/// The most dead letters one page request examines (a status filter skips the others).
const PAGE_SCAN_BUDGET: usize = 1_000;
/// Dead letters whose state is looked up at once.
const STATE_LOOKUPS_IN_FLIGHT: usize = 16;

impl Bus {
    /// The full subject of a consumer's records of a kind without an id: `<ns>.deadletter.<kind>.<durable>`.
    pub(crate) fn deadletter_subject(&self, kind: &str, consumer: &str) -> String {
        self.namespace
            .subject(&format!("{DEADLETTER_ROOT}.{kind}.{consumer}"))
    }

    /// `<ns>.deadletter.<kind>.<consumer>.<id>`; `*` stands for any consumer or id.
    fn record_subject(&self, kind: &str, consumer: &str, id: &str) -> String {
        self.namespace
            .subject(&format!("{DEADLETTER_ROOT}.{kind}.{consumer}.{id}"))
    }

    async fn deadletter_handle(&self) -> Result<Stream<()>, BusError> {
        self.js
            .get_stream_no_info(self.namespace.deadletter_stream())
            .await
            .map_err(|e| BusError::js("get stream", e))
    }

    /// A page of dead letters with their status, in parking order.
    pub async fn dead_letters(&self, query: &DeadLetterQuery) -> Result<DeadLetterPage, BusError> {
        let consumer = query.consumer.as_deref().unwrap_or("*");
        if consumer != "*" && !is_subject_token(consumer) {
            return Ok(DeadLetterPage {
                entries: Vec::new(),
                next: None,
            });
        }
        let stream = self.deadletter_handle().await?;
        let filter = self.record_subject(RecordKind::Parked.as_str(), consumer, "*");
        let limit = query.limit.clamp(1, MAX_DEAD_LETTER_PAGE);
        let mut from = query.after.unwrap_or(0).saturating_add(1);
        let mut entries: Vec<DeadLetterEntry> = Vec::new();
        let mut examined = 0;
        loop {
            // One more than the page needs, to know whether another follows.
            let want = (limit - entries.len() + 1).min(PAGE_SCAN_BUDGET - examined);
            let mut chunk = Vec::with_capacity(want);
            while chunk.len() < want {
                match next_parked(&stream, &filter, from).await? {
                    Some((position, record)) => {
                        from = position.saturating_add(1);
                        if !chunk
                            .iter()
                            .any(|(_, r): &(u64, DeadLetter)| r.id == record.id)
                        {
                            chunk.push((position, record));
                        }
                    }
                    None => break,
                }
            }
            let ended = chunk.len() < want;
            examined += chunk.len();
            for entry in self.with_state(&stream, chunk).await? {
                if entries.len() == limit {
                    let next = entries.last().map(|e| e.position);
                    return Ok(DeadLetterPage { entries, next });
                }
                if query.status.is_none_or(|s| s == entry.status) {
                    entries.push(entry);
                }
            }
            if ended {
                return Ok(DeadLetterPage {
                    entries,
                    next: None,
                });
            }
            if examined >= PAGE_SCAN_BUDGET {
                // Bounded: the caller goes on from the last dead letter examined.
                return Ok(DeadLetterPage {
                    entries,
                    next: Some(from - 1),
                });
            }
        }
    }

    /// One dead letter by id, with its status.
    pub async fn dead_letter(&self, id: &str) -> Result<Option<DeadLetterEntry>, BusError> {
        if !is_subject_token(id) {
            return Ok(None);
        }
        let stream = self.deadletter_handle().await?;
        let filter = self.record_subject(RecordKind::Parked.as_str(), "*", id);
        let Some((position, record)) = next_parked(&stream, &filter, 1).await? else {
            return Ok(None);
        };
        Ok(self
            .with_state(&stream, vec![(position, record)])
            .await?
            .pop())
    }

    /// Every dead letter of `consumer`, with its status: what its holds are rebuilt from.
    pub async fn consumer_dead_letters(
        &self,
        consumer: &str,
    ) -> Result<Vec<DeadLetterEntry>, BusError> {
        if !is_subject_token(consumer) {
            return Ok(Vec::new());
        }
        let stream = self.deadletter_handle().await?;
        let filter = self.record_subject(RecordKind::Parked.as_str(), consumer, "*");
        let mut parked = Vec::new();
        let mut from = 1;
        while let Some((position, record)) = next_parked(&stream, &filter, from).await? {
            from = position.saturating_add(1);
            // The same delivery parked twice after the duplicate window: keep the first.
            if !parked
                .iter()
                .any(|(_, r): &(u64, DeadLetter)| r.id == record.id)
            {
                parked.push((position, record));
            }
        }
        self.with_state(&stream, parked).await
    }

    /// The parked records with their state, each from its latest record, in the given order.
    async fn with_state(
        &self,
        stream: &Stream<()>,
        parked: Vec<(u64, DeadLetter)>,
    ) -> Result<Vec<DeadLetterEntry>, BusError> {
        futures::stream::iter(parked)
            .map(|(position, record)| async move {
                let subject = self.record_subject("*", &record.consumer, &record.id);
                let mut entry = DeadLetterEntry::parked(position, record);
                match stream.get_last_raw_message_by_subject(&subject).await {
                    Ok(latest) => {
                        let kind = latest.subject.split('.').nth(2).and_then(RecordKind::parse);
                        if let Some(kind) = kind {
                            entry.apply(kind, &latest.payload);
                        }
                        Ok(entry)
                    }
                    Err(e) if matches!(e.kind(), RawMessageErrorKind::NoMessageFound) => Ok(entry),
                    Err(e) => Err(BusError::js("get message", e)),
                }
            })
            .buffered(STATE_LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await
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

    /// Records an operator's decision never to process `entry` ([`DiscardRecord`]) and returns the
    /// entry as it now stands. Check [`DeadLetterEntry::check_discard`] first.
    pub async fn discard_dead_letter(
        &self,
        entry: &DeadLetterEntry,
        by: &str,
        reason: &str,
    ) -> Result<DeadLetterEntry, BusError> {
        let discarded = Discarded {
            by: by.to_owned(),
            reason: reason.to_owned(),
            at: Utc::now(),
        };
        let record = DiscardRecord {
            id: entry.record.id.clone(),
            discarded: discarded.clone(),
            replay_attempts: entry.replay_attempts,
            last_replay_error: entry.last_replay_error.clone(),
        };
        let body = serde_json::to_vec(&record).map_err(|e| BusError::Decode(e.to_string()))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("discard:{}", record.id).as_str());
        self.js
            .publish_with_headers(
                self.record_subject(
                    RecordKind::Discarded.as_str(),
                    &entry.record.consumer,
                    &record.id,
                ),
                headers,
                body.into(),
            )
            .await
            .map_err(|e| BusError::js("publish", e))?
            .await
            .map_err(|e| BusError::js("publish ack", e))?;
        let mut now = entry.clone();
        now.status = DeadLetterStatus::Discarded;
        now.discarded = Some(discarded);
        Ok(now)
    }

    /// Stores a dead letter (the alarm subscribers hear), de-duplicated by its id.
    pub(crate) async fn park_record(&self, record: &DeadLetter) -> Result<(), BusError> {
        let body = serde_json::to_vec(record).map_err(|e| BusError::Decode(e.to_string()))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", record.id.as_str());
        self.js
            .publish_with_headers(
                self.record_subject(RecordKind::Parked.as_str(), &record.consumer, &record.id),
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
            .publish(
                self.record_subject(RecordKind::Outcome.as_str(), consumer, &outcome.id),
                body.into(),
            )
            .await
            .map_err(|e| BusError::js("publish", e))?
            .await
            .map_err(|e| BusError::js("publish ack", e))?;
        Ok(())
    }
}

/// The first readable parked record on `filter` at or after stream position `from`.
async fn next_parked(
    stream: &Stream<()>,
    filter: &str,
    mut from: u64,
) -> Result<Option<(u64, DeadLetter)>, BusError> {
    loop {
        let message = match stream.get_first_raw_message_by_subject(filter, from).await {
            Ok(m) => m,
            Err(e) if matches!(e.kind(), RawMessageErrorKind::NoMessageFound) => return Ok(None),
            Err(e) => return Err(BusError::js("get message", e)),
        };
        match serde_json::from_slice::<DeadLetter>(&message.payload) {
            Ok(record) => return Ok(Some((message.sequence, record))),
            Err(e) => {
                tracing::warn!(sequence = message.sequence, error = %e, "unreadable dead letter; ignored");
                from = message.sequence.saturating_add(1);
            }
        }
    }
}
