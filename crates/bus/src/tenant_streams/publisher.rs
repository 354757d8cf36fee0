//! The webhooks service's side of the integrator plane: each tenant's events, published durably and
//! de-duplicated by event id into the tenant's stream, which is made the first time it is needed.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;

use super::names;
use super::plane::PUBLISHER;
use crate::{BusError, DUPLICATE_WINDOW, Namespace};

/// How much each tenant's stream keeps.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Older messages are dropped: how far back an integrator can replay.
    pub max_age: Duration,
    /// The stream drops its oldest messages beyond this many bytes (-1: no bound).
    pub max_bytes: i64,
    /// Copies in a clustered plane (1 on a single server).
    pub replicas: usize,
}

pub struct TenantStreams {
    js: jetstream::Context,
    namespace: Namespace,
    limits: StreamLimits,
    /// Tenants whose stream this process has made or found.
    ready: Mutex<HashSet<String>>,
}

impl TenantStreams {
    /// Connects to the plane at `url` with the publisher's `.creds`, and keeps trying to.
    pub async fn connect(
        url: &str,
        creds: &str,
        namespace: Namespace,
        limits: StreamLimits,
    ) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::with_credentials(creds)
            .map_err(|e| BusError::JetStream {
                op: "read the integrator plane's credentials",
                message: e.to_string(),
            })?
            .name(format!("joule-{namespace}-{PUBLISHER}"))
            .custom_inbox_prefix(format!("_INBOX_{PUBLISHER}"))
            // A plane that is down at start-up holds back the tenants' streams, not the service.
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|source| BusError::Connect {
                url: url.to_owned(),
                source,
            })?;
        Ok(Self {
            js: jetstream::new(client),
            namespace,
            limits,
            ready: Mutex::new(HashSet::new()),
        })
    }

    /// Publishes `body` (the event's JSON) to `<ns>.tenant.<tenant>.<domain>.<Event>` and waits for
    /// the stream to store it; `event_id` is the `Nats-Msg-Id`, so a redelivered event is stored
    /// once within the duplicate window.
    pub async fn publish(
        &self,
        tenant: &str,
        domain_root: &str,
        event_type: &str,
        event_id: &str,
        body: Bytes,
    ) -> Result<(), BusError> {
        self.ensure_stream(tenant).await?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event_id);
        headers.insert("Joule-Event-Type", event_type);
        headers.insert("Content-Type", "application/json");
        let subject = names::subject(&self.namespace, tenant, domain_root, event_type);
        let stored = async {
            self.js
                .publish_with_headers(subject, headers, body)
                .await
                .map_err(|e| BusError::js("publish to a tenant stream", e))?
                .await
                .map_err(|e| BusError::js("tenant stream ack", e))
        }
        .await;
        if stored.is_err() {
            // The stream may have been deleted: look again next time.
            self.forget(tenant);
        }
        stored.map(drop)
    }

    async fn ensure_stream(&self, tenant: &str) -> Result<(), BusError> {
        if self.lock().contains(tenant) {
            return Ok(());
        }
        let config = stream::Config {
            name: names::stream(&self.namespace, tenant),
            subjects: vec![format!(
                "{}.>",
                names::subject_root(&self.namespace, tenant)
            )],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            max_age: self.limits.max_age,
            max_bytes: self.limits.max_bytes,
            num_replicas: self.limits.replicas.max(1),
            // JetStream refuses a window longer than the stream keeps messages.
            duplicate_window: DUPLICATE_WINDOW.min(self.limits.max_age),
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| BusError::js("create a tenant stream", e))?;
        self.lock().insert(tenant.to_owned());
        Ok(())
    }

    fn forget(&self, tenant: &str) {
        self.lock().remove(tenant);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())
    }
}
