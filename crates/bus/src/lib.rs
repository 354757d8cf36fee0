//! The event bus: NATS JetStream under a namespace.
//!
//! - [`Namespace`] prefixes every stream name and subject, so several Joule instances or test runs share
//!   one NATS server without seeing each other.
//! - [`Domain`] lists the streams, one per domain, with their subject roots.
//! - [`Bus::publish`] is durable (it waits for the JetStream ack) and de-duplicated (`Nats-Msg-Id`).
//! - [`Bus::run_consumer`] drives a durable pull consumer through an idempotent [`Handler`], in order,
//!   retrying transient failures in place and acknowledging only after the handler succeeded.
//!
//! The bus does not know what the events mean; that is the services' business.

mod envelope;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
pub use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use envelope::{EventMeta, Received, decode_payload, envelope};
pub use joule_proto::v1::Envelope;

/// How long a delivered message may stay unacknowledged before JetStream redelivers it. Handlers that
/// retry in place report progress, which extends it.
const ACK_WAIT: Duration = Duration::from_secs(10);
/// How long one pull request stays open on the server.
const PULL_EXPIRY: Duration = Duration::from_secs(5);

/// How long JetStream remembers a `Nats-Msg-Id` to drop a re-published duplicate.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid namespace {0:?}: use letters, digits, '-' and '_'")]
    InvalidNamespace(String),
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("JetStream {op}: {message}")]
    JetStream { op: &'static str, message: String },
    #[error("undecodable message: {0}")]
    Decode(String),
    #[error("invalid NATS user {0:?}: use letters, digits, '-' and '_'")]
    InvalidUser(String),
}

impl BusError {
    fn js(op: &'static str, e: impl fmt::Display) -> Self {
        BusError::JetStream {
            op,
            message: e.to_string(),
        }
    }
}

/// A prefix for every stream and subject of one Joule instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(String);

impl Namespace {
    pub fn new(value: &str) -> Result<Self, BusError> {
        let ok = !value.is_empty()
            && value.len() <= 32
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(BusError::InvalidNamespace(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full subject for a subject relative to the namespace.
    pub fn subject(&self, relative: &str) -> String {
        format!("{}.{}", self.0, relative)
    }

    /// The stream name for a domain: `<NAMESPACE>_<DOMAIN>` (stream names cannot hold '.').
    pub fn stream_name(&self, domain: Domain) -> String {
        format!("{}_{}", self.0.to_uppercase(), domain.stream_suffix())
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One stream per domain. Subjects are `<ns>.<root>.<...>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    /// Charger events from the gateway: `<ns>.charger.<charge_point_id>.<kind>`.
    Charger,
    /// Registry events from the api: `<ns>.registry.<kind>.<id>`.
    Registry,
    /// Session events: `<ns>.session.<session_id>.<kind>`.
    Session,
    /// Pricing events: `<ns>.pricing.<session_id>.<kind>`.
    Pricing,
    /// Invoicing events: `<ns>.invoice.<invoice_id>.<kind>`.
    Invoice,
    /// Ledger events: `<ns>.ledger.<entry_id>.<kind>`.
    Ledger,
    /// Payment events: `<ns>.payment.<intent_id>.<kind>` (wallets and settlement lines use their own id).
    Payment,
}

impl Domain {
    pub const ALL: [Domain; 7] = [
        Domain::Charger,
        Domain::Registry,
        Domain::Session,
        Domain::Pricing,
        Domain::Invoice,
        Domain::Ledger,
        Domain::Payment,
    ];

    pub fn subject_root(self) -> &'static str {
        match self {
            Domain::Charger => "charger",
            Domain::Registry => "registry",
            Domain::Session => "session",
            Domain::Pricing => "pricing",
            Domain::Invoice => "invoice",
            Domain::Ledger => "ledger",
            Domain::Payment => "payment",
        }
    }

    fn stream_suffix(self) -> &'static str {
        match self {
            Domain::Charger => "CHARGER",
            Domain::Registry => "REGISTRY",
            Domain::Session => "SESSION",
            Domain::Pricing => "PRICING",
            Domain::Invoice => "INVOICE",
            Domain::Ledger => "LEDGER",
            Domain::Payment => "PAYMENT",
        }
    }
}

/// A message ready to publish. `subject` is relative to the namespace (`session.<id>.completed`).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub subject: String,
    pub envelope: Envelope,
    /// W3C trace context to continue on the consumer side.
    pub trace_headers: HashMap<String, String>,
}

/// A message as stored in a stream.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub subject: String,
    pub envelope: Envelope,
    pub headers: HashMap<String, String>,
}

impl StoredMessage {
    /// The W3C trace id from the `traceparent` header, if any.
    pub fn trace_id(&self) -> Option<&str> {
        self.headers
            .get("traceparent")
            .and_then(|tp| tp.split('-').nth(1))
    }
}

/// The result of a durable publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub stream_sequence: u64,
    /// JetStream recognised the `Nats-Msg-Id` and did not store the message again.
    pub duplicate: bool,
}

/// Why a handler did not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Infrastructure trouble (database down, conflict): the same message is retried in place.
    #[error("transient: {0}")]
    Transient(String),
    /// The message can never be processed (undecodable, violates the contract): it is logged and
    /// terminated so the consumer moves on; it stays in the stream for inspection.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// An idempotent message handler: processing the same message twice has the effect of once.
///
/// The method returns a boxed future (write `Box::pin(async move { .. })`): with `impl Future + Send`
/// rustc cannot prove `Send` for handlers that borrow sqlx executors (higher-ranked lifetime limits).
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>>;
}

/// A durable consumer's identity and what it reads.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub domain: Domain,
    /// Durable name without the namespace, for example `pricing-sessions`.
    pub durable: String,
    /// Subject filter relative to the namespace, for example `session.*.completed`; `None` reads all.
    pub filter: Option<String>,
}

/// A connection to NATS JetStream within one namespace.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    namespace: Namespace,
}

/// A NATS user of the server's configuration (`deploy/nats/joule.conf`: one per service, each allowed
/// to publish only its own domain's subjects).
#[derive(Clone, Copy)]
pub struct NatsUser<'a> {
    pub name: &'a str,
    pub password: &'a str,
}

impl fmt::Debug for NatsUser<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsUser")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Connects without credentials (a local server, `joule run --all`).
    pub async fn connect(url: &str, namespace: Namespace) -> Result<Self, BusError> {
        Self::connect_as(url, namespace, None).await
    }

    /// Connects as `user` when given. A user's replies come to the inbox prefix `_INBOX_<user>`,
    /// which the server configuration lets only that user subscribe to, so no service reads
    /// another's replies (JetStream acks, pulled messages, command answers).
    pub async fn connect_as(
        url: &str,
        namespace: Namespace,
        user: Option<NatsUser<'_>>,
    ) -> Result<Self, BusError> {
        let mut options = async_nats::ConnectOptions::new().name(format!("joule-{namespace}"));
        if let Some(user) = user {
            if user.name.is_empty()
                || !user
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(BusError::InvalidUser(user.name.to_owned()));
            }
            options = options
                .user_and_password(user.name.to_owned(), user.password.to_owned())
                .custom_inbox_prefix(format!("_INBOX_{}", user.name));
        }
        let client = options
            .connect(url)
            .await
            .map_err(|source| BusError::Connect {
                url: url.to_owned(),
                source,
            })?;
        let js = jetstream::new(client.clone());
        Ok(Self {
            client,
            js,
            namespace,
        })
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Creates the namespace's streams that do not exist yet. Safe to call from every replica.
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        for domain in Domain::ALL {
            let config = stream::Config {
                name: self.namespace.stream_name(domain),
                subjects: vec![
                    self.namespace
                        .subject(&format!("{}.>", domain.subject_root())),
                ],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            };
            self.js
                .get_or_create_stream(config)
                .await
                .map_err(|e| BusError::js("create stream", e))?;
        }
        Ok(())
    }

    /// Deletes this namespace's streams. For tests and `joule` tooling that created the namespace.
    pub async fn delete_streams(&self) -> Result<(), BusError> {
        for domain in Domain::ALL {
            let name = self.namespace.stream_name(domain);
            match self.js.delete_stream(&name).await {
                Err(e) if !e.to_string().contains("not found") => {
                    return Err(BusError::js("delete stream", e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every message currently stored in a domain's stream, in order, as (subject, envelope).
    /// For tooling and tests; services consume with [`Bus::run_consumer`].
    pub async fn read_stream(&self, domain: Domain) -> Result<Vec<(String, Envelope)>, BusError> {
        Ok(self
            .read_stream_messages(domain)
            .await?
            .into_iter()
            .map(|m| (m.subject, m.envelope))
            .collect())
    }

    /// Like [`Bus::read_stream`], with each message's headers.
    pub async fn read_stream_messages(
        &self,
        domain: Domain,
    ) -> Result<Vec<StoredMessage>, BusError> {
        use joule_proto::Message;
        let mut stream = self
            .js
            .get_stream(self.namespace.stream_name(domain))
            .await
            .map_err(|e| BusError::js("get stream", e))?;
        let state = stream
            .info()
            .await
            .map_err(|e| BusError::js("stream info", e))?
            .state
            .clone();
        let mut out = Vec::new();
        for seq in state.first_sequence.max(1)..=state.last_sequence {
            match stream.get_raw_message(seq).await {
                Ok(m) => {
                    let envelope = Envelope::decode(m.payload.as_ref())
                        .map_err(|e| BusError::Decode(e.to_string()))?;
                    let headers = m
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.to_string(),
                                v.first().map(|v| v.to_string()).unwrap_or_default(),
                            )
                        })
                        .collect();
                    out.push(StoredMessage {
                        subject: m.subject.to_string(),
                        envelope,
                        headers,
                    });
                }
                // Deleted messages leave holes in the sequence.
                Err(e) if e.to_string().contains("not found") => continue,
                Err(e) => return Err(BusError::js("get message", e)),
            }
        }
        Ok(out)
    }

    /// Publishes durably: returns once JetStream has stored the message (or recognised it as a
    /// duplicate of one it stored within the duplicate window).
    pub async fn publish(&self, message: Outgoing) -> Result<Published, BusError> {
        self.publish_pipelined(message).await?.await
    }

    /// Sends `message` and returns the wait for its JetStream ack without waiting. Messages sent on
    /// one connection reach the server in the order they were sent, so a caller can send many and then
    /// await all their acks (the outbox relay does); it must not treat a message as stored before its
    /// ack arrived.
    pub async fn publish_pipelined(
        &self,
        message: Outgoing,
    ) -> Result<impl Future<Output = Result<Published, BusError>> + Send + use<>, BusError> {
        use joule_proto::Message;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.envelope.event_id.as_str());
        headers.insert("Joule-Event-Type", message.envelope.event_type.as_str());
        for (k, v) in &message.trace_headers {
            headers.insert(k.as_str(), v.as_str());
        }
        let subject = self.namespace.subject(&message.subject);
        let payload = message.envelope.encode_to_vec();
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| BusError::js("publish", e))?;
        Ok(async move {
            let ack = ack.await.map_err(|e| BusError::js("publish ack", e))?;
            Ok(Published {
                stream_sequence: ack.sequence,
                duplicate: ack.duplicate,
            })
        })
    }

    /// Runs a durable pull consumer until `shutdown` fires. Messages are handled one at a time in
    /// stream order; a message is acknowledged (and the ack confirmed) only after the handler succeeded.
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
        tracing::info!(consumer = %durable, "consumer started");
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = messages.next() => next,
            };
            let message = match next {
                None => return Err(BusError::js("pull", "message stream ended")),
                Some(Err(e)) => {
                    tracing::warn!(consumer = %durable, error = %e, "pull failed; continuing");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Some(Ok(m)) => m,
            };
            self.process(&durable, &handler, message, &shutdown).await;
        }
        tracing::info!(consumer = %durable, "consumer stopped");
        Ok(())
    }

    async fn process<H: Handler>(
        &self,
        durable: &str,
        handler: &H,
        message: jetstream::Message,
        shutdown: &CancellationToken,
    ) {
        let span = tracing::info_span!("consume", consumer = durable, subject = %message.subject);
        if let Some(headers) = &message.headers {
            let map = ["traceparent", "tracestate"]
                .into_iter()
                .filter_map(|k| Some((k.to_owned(), headers.get(k)?.as_str().to_owned())))
                .collect();
            joule_telemetry::set_parent_from_headers(&span, &map);
        }
        async {
            let received = match Received::from_message(&message) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable envelope; terminating message");
                    let _ = message.ack_with(jetstream::AckKind::Term).await;
                    return;
                }
            };
            let mut backoff = Duration::from_millis(100);
            loop {
                match handler.handle(&received).await {
                    Ok(()) => {
                        if let Err(e) = message.double_ack().await {
                            // Not confirmed: JetStream redelivers, and the handler is idempotent.
                            tracing::warn!(error = %e, "ack not confirmed; message will be redelivered");
                        }
                        return;
                    }
                    Err(HandlerError::Rejected(reason)) => {
                        tracing::error!(event_type = %received.envelope.event_type, event_id = %received.envelope.event_id, %reason, "message rejected; terminating");
                        let _ = message.ack_with(jetstream::AckKind::Term).await;
                        return;
                    }
                    Err(HandlerError::Transient(reason)) => {
                        tracing::warn!(%reason, retry_in = ?backoff, "handler failed; retrying");
                        let _ = message.ack_with(jetstream::AckKind::Progress).await;
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}
