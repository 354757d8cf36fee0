//! Building and reading [`Envelope`]s.

use chrono::{DateTime, Utc};
use joule_proto::v1::Envelope;
use joule_proto::{EventName, Message};

use crate::{BusError, HandlerError};

/// Where an event comes from: the envelope fields besides the payload.
#[derive(Debug, Clone)]
pub struct EventMeta {
    pub event_id: String,
    pub tenant_id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: u64,
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: String,
    pub causation_id: String,
}

/// Wraps an event message in its envelope. Schema version 1 for every message today; a breaking
/// change to a message gets a new message name rather than a new version.
pub fn envelope<M: Message + EventName>(message: &M, meta: EventMeta) -> Envelope {
    Envelope {
        event_id: meta.event_id,
        event_type: M::NAME.to_owned(),
        schema_version: 1,
        tenant_id: meta.tenant_id,
        aggregate_type: meta.aggregate_type,
        aggregate_id: meta.aggregate_id,
        sequence: meta.sequence,
        occurred_at: Some(joule_proto::time::to_proto(meta.occurred_at)),
        correlation_id: meta.correlation_id,
        causation_id: meta.causation_id,
        payload: message.encode_to_vec(),
    }
}

/// Decodes the payload of `envelope` as `M`, checking that the envelope says it is an `M`.
pub fn decode_payload<M: Message + Default + EventName>(
    envelope: &Envelope,
) -> Result<M, BusError> {
    if envelope.event_type != M::NAME {
        return Err(BusError::Decode(format!(
            "expected {}, got {}",
            M::NAME,
            envelope.event_type
        )));
    }
    M::decode(envelope.payload.as_slice())
        .map_err(|e| BusError::Decode(format!("{}: {e}", M::NAME)))
}

/// A message taken from a stream.
#[derive(Debug, Clone)]
pub struct Received {
    pub subject: String,
    pub envelope: Envelope,
    pub stream_sequence: u64,
    pub delivered: i64,
}

impl Received {
    pub(crate) fn from_message(message: &async_nats::jetstream::Message) -> Result<Self, BusError> {
        let envelope = Envelope::decode(message.payload.as_ref())
            .map_err(|e| BusError::Decode(e.to_string()))?;
        let (stream_sequence, delivered) = message
            .info()
            .map(|i| (i.stream_sequence, i.delivered))
            .unwrap_or_default();
        Ok(Self {
            subject: message.subject.to_string(),
            envelope,
            stream_sequence,
            delivered,
        })
    }

    pub fn event_type(&self) -> &str {
        &self.envelope.event_type
    }

    pub fn decode<M: Message + Default + EventName>(&self) -> Result<M, BusError> {
        decode_payload(&self.envelope)
    }

    /// [`Received::decode`] for a handler: a message that does not decode as `M` can never be
    /// handled, so it is [`HandlerError::Rejected`] (parked).
    pub fn payload<M: Message + Default + EventName>(&self) -> Result<M, HandlerError> {
        self.decode()
            .map_err(|e| HandlerError::Rejected(e.to_string()))
    }

    /// The payload when the message is an `M`, `None` for a message of another type (a consumer of
    /// a whole stream passes over those); an `M` that does not decode is rejected.
    pub fn payload_if<M: Message + Default + EventName>(&self) -> Result<Option<M>, HandlerError> {
        if self.envelope.event_type == M::NAME {
            self.payload().map(Some)
        } else {
            Ok(None)
        }
    }
}
