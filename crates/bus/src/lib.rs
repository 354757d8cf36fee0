//! The event bus: NATS JetStream under a namespace.
//!
//! - [`Namespace`] prefixes every stream name and subject, so several Joule instances or test runs share
//!   one NATS server without seeing each other.
//! - [`Domain`] lists the streams, one per domain, with their subject roots.
//! - [`Bus::publish`] is durable (it waits for the JetStream ack) and de-duplicated (`Nats-Msg-Id`).
//! - [`Bus::run_consumer`] drives a durable pull consumer through an idempotent [`Handler`], in order,
//!   retrying transient failures in place and acknowledging only after the handler succeeded. A
//!   message the handler cannot process (it panics on every attempt, rejects it, or it is not an
//!   envelope) is parked in the `<NS>_DEADLETTER` stream and the consumer goes on ([`deadletter`],
//!   ADR 022).
//!
//! The bus does not know what the events mean; that is the services' business.

mod consumer;

pub use consumer::panic_text;
pub mod deadletter;
mod envelope;
pub mod tenant_streams;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
pub use futures::future::BoxFuture;

pub use deadletter::{
    DeadLetter, DeadLetterEntry, DeadLetterPage, DeadLetterQuery, DeadLetterStatus, DiscardRecord,
    DiscardRefused, Discarded, OnPark, ParkReason, ReplayOutcome,
};
pub use envelope::{EventMeta, Received, decode_payload, envelope};
pub use joule_proto::v1::Envelope;

/// How long a delivered message may stay unacknowledged before JetStream redelivers it. Handlers that
/// retry in place report progress, which extends it.
const ACK_WAIT: Duration = Duration::from_secs(10);
/// How long one pull request stays open on the server.
const PULL_EXPIRY: Duration = Duration::from_secs(5);

/// How long JetStream remembers a `Nats-Msg-Id` to drop a re-published duplicate.
pub(crate) const DUPLICATE_WINDOW: Duration = Duration::from_secs(15 * 60);

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

    /// The dead-letter stream: `<NAMESPACE>_DEADLETTER`, subjects `<ns>.deadletter.>`.
    pub fn deadletter_stream(&self) -> String {
        format!("{}_DEADLETTER", self.0.to_uppercase())
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
    /// The api's audit log: `<ns>.audit.<tenant_id>` (ADR 034).
    Audit,
}

impl Domain {
    pub const ALL: [Domain; 8] = [
        Domain::Charger,
        Domain::Registry,
        Domain::Session,
        Domain::Pricing,
        Domain::Invoice,
        Domain::Ledger,
        Domain::Payment,
        Domain::Audit,
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
            Domain::Audit => "audit",
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
            Domain::Audit => "AUDIT",
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

/// A message as stored in a stream, undecoded.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub sequence: u64,
    pub subject: String,
    pub headers: HashMap<String, String>,
    pub payload: bytes::Bytes,
}

/// Why a handler did not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Infrastructure trouble (database down, conflict): the same message is retried in place, with
    /// backoff, for as long as it takes. It is never parked: an outage would park every message.
    #[error("transient: {0}")]
    Transient(String),
    /// The message can never be processed (undecodable, violates the contract): it is parked in the
    /// dead-letter stream at once and the consumer moves on.
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

/// A shared handler, so a restarted consumer task runs the same one.
impl<H: Handler> Handler for Arc<H> {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        (**self).handle(message)
    }
}

/// How a consumer retries a message before parking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Handler attempts on a message that panics before it is parked (at least 1). A transient
    /// failure is retried without this bound (and logged at error level once it is reached).
    pub max_attempts: u32,
    /// The first wait between attempts; it doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A durable consumer's identity and what it reads.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub domain: Domain,
    /// Durable name without the namespace, for example `pricing-sessions`.
    pub durable: String,
    /// Subject filter relative to the namespace, for example `session.*.completed`; `None` reads all.
    pub filter: Option<String>,
    /// What a parked message means for the messages after it (ADR 022).
    pub on_park: OnPark,
}

/// A connection to NATS JetStream within one namespace.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    namespace: Namespace,
    retry: RetryPolicy,
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
            retry: RetryPolicy::default(),
        })
    }

    /// The same connection with consumers retrying by `retry`.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            max_attempts: retry.max_attempts.max(1),
            ..retry
        };
        self
    }

    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Whether the connection to the server is up now (the client reconnects by itself after a
    /// loss; meanwhile publishes wait or fail).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The namespace's stream names: one per domain, and the dead-letter stream.
    fn stream_names(&self) -> Vec<(String, &'static str)> {
        let mut names: Vec<_> = Domain::ALL
            .into_iter()
            .map(|d| (self.namespace.stream_name(d), d.subject_root()))
            .collect();
        names.push((
            self.namespace.deadletter_stream(),
            deadletter::DEADLETTER_ROOT,
        ));
        names
    }

    /// Creates the namespace's streams that do not exist yet. Safe to call from every replica.
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        for (name, root) in self.stream_names() {
            let config = stream::Config {
                name,
                subjects: vec![self.namespace.subject(&format!("{root}.>"))],
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
        for (name, _) in self.stream_names() {
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
        self.read_raw(&self.namespace.stream_name(domain))
            .await?
            .into_iter()
            .map(|m| {
                let envelope = Envelope::decode(m.payload.as_ref())
                    .map_err(|e| BusError::Decode(e.to_string()))?;
                Ok(StoredMessage {
                    subject: m.subject,
                    envelope,
                    headers: m.headers,
                })
            })
            .collect()
    }

    /// Every message currently stored in the stream `name`, in order.
    pub(crate) async fn read_raw(&self, name: &str) -> Result<Vec<RawMessage>, BusError> {
        let mut stream = self
            .js
            .get_stream(name)
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
                    out.push(RawMessage {
                        sequence: seq,
                        subject: m.subject.to_string(),
                        headers,
                        payload: m.payload,
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
}
