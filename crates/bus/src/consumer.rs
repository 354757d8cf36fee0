//! The consumer loop: one message at a time through the handler, a panic caught per message, bounded
//! attempts, then the dead-letter stream; and the replay of dead letters through the same handler.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use chrono::Utc;
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::deadletter::{
    DeadLetter, DeadLetterEntry, DeadLetterStatus, Holds, OnPark, ParkReason, ReplayOutcome,
    ReplayRequest, aggregate_key,
};
use crate::{ACK_WAIT, Bus, BusError, ConsumerSpec, Handler, HandlerError, PULL_EXPIRY, Received};

/// A wait longer than this sends "in progress" to JetStream in between, so the message being retried
/// is not redelivered while the consumer sleeps.
const PROGRESS_EVERY: Duration = Duration::from_secs(4);
/// How long a replay request may stay unacknowledged (it is extended while the replay retries).
const REPLAY_ACK_WAIT: Duration = Duration::from_secs(30);

/// What the attempts on one message came to.
enum Attempt {
    Done,
    Failed {
        reason: ParkReason,
        error: String,
        attempts: u32,
    },
    /// Shutdown came first; the message stays unacknowledged.
    Stopped,
}

/// One running consumer.
struct Runner<'a, H> {
    bus: &'a Bus,
    spec: &'a ConsumerSpec,
    handler: &'a H,
    shutdown: &'a CancellationToken,
    /// `<ns>_<durable>`, as in the logs.
    durable: String,
    stream: String,
    holds: Holds,
}

impl Bus {
    /// Runs a durable pull consumer until `shutdown` fires. Messages are handled one at a time in
    /// stream order; a message is acknowledged (and the ack confirmed) only after the handler
    /// succeeded or the message was parked in the dead-letter stream. The same loop serves the
    /// consumer's replay requests (`<ns>.deadletter.replay.<durable>`), so a replay runs the same
    /// handler, in turn with the live messages.
    pub async fn run_consumer<H: Handler>(
        &self,
        spec: ConsumerSpec,
        handler: H,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        let stream_name = self.namespace.stream_name(spec.domain);
        let stream = self
            .js
            .get_stream(&stream_name)
            .await
            .map_err(|e| BusError::js("get stream", e))?;
        let durable = format!("{}_{}", self.namespace, spec.durable);
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &durable,
                consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    filter_subject: spec
                        .filter
                        .as_deref()
                        .map(|f| self.namespace.subject(f))
                        .unwrap_or_default(),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_deliver: -1,
                    max_ack_pending: 1024,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::js("create consumer", e))?;
        let replay_durable = format!("{durable}-replay");
        let replay_consumer: consumer::PullConsumer = self
            .js
            .get_stream(self.namespace.deadletter_stream())
            .await
            .map_err(|e| BusError::js("get stream", e))?
            .get_or_create_consumer(
                &replay_durable,
                consumer::pull::Config {
                    durable_name: Some(replay_durable.clone()),
                    filter_subject: self.deadletter_subject("replay", &spec.durable),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: REPLAY_ACK_WAIT,
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::js("create consumer", e))?;
        // The holds survive a restart: they are the consumer's dead letters still parked.
        let holds = Holds::rebuild(
            &self.consumer_dead_letters(&spec.durable).await?,
            &spec.durable,
            spec.on_park,
        );
        if holds.held_count() > 0 {
            tracing::warn!(consumer = %durable, aggregates = holds.held_count(), "aggregates held back by parked messages");
        }
        // Short pull expiry and small batches: after a crash, messages the server routed to the dead
        // process's pull request wait for `ack_wait` before redelivery, and stale pull requests keep
        // attracting messages until they expire.
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(64)
            .expires(PULL_EXPIRY)
            .messages()
            .await
            .map_err(|e| BusError::js("pull", e))?;
        let mut replays = replay_consumer
            .stream()
            .max_messages_per_batch(1)
            .expires(PULL_EXPIRY)
            .messages()
            .await
            .map_err(|e| BusError::js("pull", e))?;
        let mut runner = Runner {
            bus: self,
            spec: &spec,
            handler: &handler,
            shutdown: &shutdown,
            durable,
            stream: stream_name,
            holds,
        };
        tracing::info!(consumer = %runner.durable, "consumer started");
        loop {
            let (next, replay) = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = replays.next() => (next, true),
                next = messages.next() => (next, false),
            };
            let message = match next {
                None => return Err(BusError::js("pull", "message stream ended")),
                Some(Err(e)) => {
                    tracing::warn!(consumer = %runner.durable, error = %e, "pull failed; continuing");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Some(Ok(m)) => m,
            };
            if replay {
                runner.replay(message).await;
            } else {
                runner.process(message).await;
            }
        }
        tracing::info!(consumer = %runner.durable, "consumer stopped");
        Ok(())
    }
}

impl<H: Handler> Runner<'_, H> {
    async fn process(&mut self, message: jetstream::Message) {
        let span =
            tracing::info_span!("consume", consumer = %self.durable, subject = %message.subject);
        if let Some(headers) = &message.headers {
            let map = ["traceparent", "tracestate"]
                .into_iter()
                .filter_map(|k| Some((k.to_owned(), headers.get(k)?.as_str().to_owned())))
                .collect();
            joule_telemetry::set_parent_from_headers(&span, &map);
        }
        self.process_in_span(message).instrument(span).await
    }

    async fn process_in_span(&mut self, message: jetstream::Message) {
        let received = match Received::from_message(&message) {
            Ok(r) => r,
            Err(e) => {
                let record = self.record(&message, None, ParkReason::Undecodable, e.to_string(), 0);
                self.park(&message, record).await;
                return;
            }
        };
        let id = DeadLetter::id_for(
            self.bus.namespace.as_str(),
            &self.spec.durable,
            &self.stream,
            received.stream_sequence,
        );
        if self.holds.is_parked(&id) {
            // Parked before, and the acknowledgement was lost (a crash in between).
            if let Err(e) = message.double_ack().await {
                tracing::warn!(error = %e, "ack not confirmed; message will be redelivered");
            }
            return;
        }
        if self.spec.on_park == OnPark::HoldAggregate
            && let Some(key) = aggregate_key(
                &received.envelope.aggregate_type,
                &received.envelope.aggregate_id,
            )
            && let Some(head) = self.holds.head(&key)
        {
            let error = format!("held behind dead letter {head} of the same aggregate");
            let mut record = self.record(&message, Some(&received), ParkReason::Held, error, 0);
            record.held_behind = Some(head.to_owned());
            self.park(&message, record).await;
            return;
        }
        match self.attempt(&received, &message).await {
            Attempt::Done => {
                if let Err(e) = message.double_ack().await {
                    // Not confirmed: JetStream redelivers, and the handler is idempotent.
                    tracing::warn!(error = %e, "ack not confirmed; message will be redelivered");
                }
            }
            Attempt::Failed {
                reason,
                error,
                attempts,
            } => {
                let record = self.record(&message, Some(&received), reason, error, attempts);
                self.park(&message, record).await;
            }
            Attempt::Stopped => {}
        }
    }

    /// Runs the handler on `received`: a panic is caught and retried up to the bounded attempts, a
    /// transient failure is retried until it passes, a rejection is final. `progress` is the message
    /// to keep alive while waiting.
    async fn attempt(&self, received: &Received, progress: &jetstream::Message) -> Attempt {
        let retry = self.bus.retry;
        let mut backoff = retry.initial_backoff;
        let mut attempts = 0u32;
        loop {
            attempts = attempts.saturating_add(1);
            match AssertUnwindSafe(self.handler.handle(received))
                .catch_unwind()
                .await
            {
                Ok(Ok(())) => return Attempt::Done,
                Ok(Err(HandlerError::Rejected(reason))) => {
                    return Attempt::Failed {
                        reason: ParkReason::Rejected,
                        error: reason,
                        attempts,
                    };
                }
                Ok(Err(HandlerError::Transient(reason))) if attempts >= retry.max_attempts => {
                    // Not parked: a database outage would park every message. Loud instead.
                    tracing::error!(consumer = %self.durable, event_id = %received.envelope.event_id, attempts, %reason, retry_in = ?backoff, "handler keeps failing transiently; retrying");
                }
                Ok(Err(HandlerError::Transient(reason))) => {
                    tracing::warn!(consumer = %self.durable, %reason, retry_in = ?backoff, "handler failed; retrying");
                }
                Err(panic) => {
                    let text = panic_text(panic.as_ref());
                    tracing::error!(consumer = %self.durable, event_type = %received.envelope.event_type, event_id = %received.envelope.event_id, attempt = attempts, max_attempts = retry.max_attempts, panic = %text, "handler panicked");
                    if attempts >= retry.max_attempts {
                        return Attempt::Failed {
                            reason: ParkReason::Panic,
                            error: format!("handler panicked: {text}"),
                            attempts,
                        };
                    }
                }
            }
            if !self.wait(backoff, progress).await {
                return Attempt::Stopped;
            }
            backoff = (backoff * 2).min(retry.max_backoff);
        }
    }

    /// Sleeps for `duration`, telling JetStream `message` is still in progress; false on shutdown.
    async fn wait(&self, duration: Duration, message: &jetstream::Message) -> bool {
        let mut left = duration;
        loop {
            let _ = message.ack_with(jetstream::AckKind::Progress).await;
            let step = left.min(PROGRESS_EVERY);
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = tokio::time::sleep(step) => {}
            }
            left = left.saturating_sub(step);
            if left.is_zero() {
                return true;
            }
        }
    }

    fn record(
        &self,
        message: &jetstream::Message,
        received: Option<&Received>,
        reason: ParkReason,
        error: String,
        attempts: u32,
    ) -> DeadLetter {
        let (stream_sequence, delivered) = message
            .info()
            .map(|i| (i.stream_sequence, i.delivered))
            .unwrap_or_default();
        let headers: BTreeMap<String, String> = message
            .headers
            .iter()
            .flat_map(|h| h.iter())
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.first().map(|v| v.to_string()).unwrap_or_default(),
                )
            })
            .collect();
        let envelope = received.map(|r| &r.envelope);
        let field =
            |f: fn(&crate::Envelope) -> &String| envelope.map(f).cloned().unwrap_or_default();
        DeadLetter {
            id: DeadLetter::id_for(
                self.bus.namespace.as_str(),
                &self.spec.durable,
                &self.stream,
                stream_sequence,
            ),
            consumer: self.spec.durable.clone(),
            stream: self.stream.clone(),
            subject: message.subject.to_string(),
            stream_sequence,
            delivered,
            attempts,
            reason,
            error,
            event_id: field(|e| &e.event_id),
            event_type: field(|e| &e.event_type),
            aggregate_type: field(|e| &e.aggregate_type),
            aggregate_id: field(|e| &e.aggregate_id),
            held_behind: None,
            on_park: self.spec.on_park,
            headers,
            payload: message.payload.to_vec(),
            parked_at: Utc::now(),
        }
    }

    /// Stores `record` in the dead-letter stream (retrying until it is stored), then acknowledges the
    /// original message.
    async fn park(&mut self, message: &jetstream::Message, record: DeadLetter) {
        let mut backoff = self.bus.retry.initial_backoff;
        while let Err(e) = self.bus.park_record(&record).await {
            tracing::error!(consumer = %self.durable, error = %e, retry_in = ?backoff, "cannot park a message; retrying");
            if !self.wait(backoff, message).await {
                return;
            }
            backoff = (backoff * 2).min(self.bus.retry.max_backoff);
        }
        if record.reason == ParkReason::Held {
            tracing::warn!(consumer = %self.durable, dead_letter = %record.id, subject = %record.subject, held_behind = ?record.held_behind, "message parked behind its aggregate's parked message");
        } else {
            tracing::error!(consumer = %self.durable, dead_letter = %record.id, subject = %record.subject, event_type = %record.event_type, reason = ?record.reason, error = %record.error, attempts = record.attempts, "message parked in the dead-letter stream");
        }
        self.holds.add(&record, self.spec.on_park);
        if let Err(e) = message.double_ack().await {
            tracing::warn!(error = %e, "ack not confirmed; message will be redelivered and found parked");
        }
    }

    /// Replays the requested dead letter through the handler and records the outcome. Under
    /// [`OnPark::HoldAggregate`] the aggregate's parked messages are replayed from its head in order,
    /// and the replay stops at the first that fails again (it becomes the head).
    async fn replay(&mut self, message: jetstream::Message) {
        let request: ReplayRequest = match serde_json::from_slice(&message.payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(consumer = %self.durable, error = %e, "unreadable replay request; dropped");
                let _ = message.ack_with(jetstream::AckKind::Term).await;
                return;
            }
        };
        let entries = match self.bus.consumer_dead_letters(&self.spec.durable).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(consumer = %self.durable, error = %e, "cannot read the dead letters; the replay is retried");
                let _ = message
                    .ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
                return;
            }
        };
        self.holds = Holds::rebuild(&entries, &self.spec.durable, self.spec.on_park);
        let mine = |e: &&DeadLetterEntry| e.record.consumer == self.spec.durable;
        let Some(target) = entries
            .iter()
            .filter(mine)
            .find(|e| e.record.id == request.id)
        else {
            tracing::warn!(consumer = %self.durable, dead_letter = %request.id, "replay of an unknown dead letter; dropped");
            let _ = message.double_ack().await;
            return;
        };
        let chain: Vec<&DeadLetterEntry> = match (self.spec.on_park, target.record.aggregate_key())
        {
            // Replayed or discarded: nothing to run.
            _ if target.status != DeadLetterStatus::Parked => Vec::new(),
            (OnPark::HoldAggregate, Some(key)) => entries
                .iter()
                .filter(mine)
                .filter(|e| e.status == DeadLetterStatus::Parked)
                .filter(|e| e.record.aggregate_key().as_ref() == Some(&key))
                .collect(),
            _ => vec![target],
        };
        for entry in chain {
            let record = &entry.record;
            let span = tracing::info_span!("replay", consumer = %self.durable, dead_letter = %record.id, subject = %record.subject);
            let result = match record.to_received() {
                Err(e) => Err(e.to_string()),
                Ok(received) => match self.attempt(&received, &message).instrument(span).await {
                    Attempt::Done => Ok(()),
                    Attempt::Failed { error, .. } => Err(error),
                    Attempt::Stopped => return,
                },
            };
            let error = result.as_ref().err().cloned();
            let outcome = ReplayOutcome {
                id: record.id.clone(),
                status: if result.is_ok() {
                    DeadLetterStatus::Replayed
                } else {
                    DeadLetterStatus::Parked
                },
                last_replay_error: error.clone().or_else(|| entry.last_replay_error.clone()),
                error,
                at: Utc::now(),
                replay_attempts: entry.replay_attempts.saturating_add(1),
            };
            let mut backoff = self.bus.retry.initial_backoff;
            while let Err(e) = self.bus.record_outcome(&self.spec.durable, &outcome).await {
                tracing::error!(consumer = %self.durable, error = %e, "cannot record a replay outcome; retrying");
                if !self.wait(backoff, &message).await {
                    return;
                }
                backoff = (backoff * 2).min(self.bus.retry.max_backoff);
            }
            match result {
                Ok(()) => {
                    tracing::info!(consumer = %self.durable, dead_letter = %record.id, "dead letter replayed");
                    self.holds.release(&record.id);
                }
                Err(error) => {
                    tracing::error!(consumer = %self.durable, dead_letter = %record.id, %error, "replay failed; the message stays parked");
                    break;
                }
            }
        }
        if let Err(e) = message.double_ack().await {
            tracing::warn!(error = %e, "replay request ack not confirmed; it may run again");
        }
    }
}

/// The text a panic was raised with (also used by `joule_runtime`'s task supervision).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}
