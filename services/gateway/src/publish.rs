//! Charger events onto the CHARGER stream: subject `charger.<charge_point_id>.<kind>`, envelope with
//! the charger's tenant and an event id derived from the message's business key, so that a
//! charger's retry is stored once.
//!
//! Charge point ids are unique within a tenant only (ADR 032): consumers key a charger by the
//! envelope's tenant and the charge point id. The business key of a charger of another tenant
//! than the deployment's is prefixed with its tenant, so that two tenants' equal charge point ids
//! never share an event id; the deployment's tenant keeps the ids of earlier releases.

use chrono::{DateTime, Utc};
use joule_bus::{Bus, BusError, EventMeta, Outgoing, Published};
use joule_domain::{ChargePointId, EventId, TenantId};
use joule_proto::{EventName, Message};

/// The kinds of charger events, one subject suffix each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Connected,
    Disconnected,
    Booted,
    Status,
    Started,
    Meter,
    Stopped,
    Alarm,
}

impl EventKind {
    pub fn subject_suffix(self) -> &'static str {
        match self {
            EventKind::Connected => "connected",
            EventKind::Disconnected => "disconnected",
            EventKind::Booted => "booted",
            EventKind::Status => "status",
            EventKind::Started => "started",
            EventKind::Meter => "meter",
            EventKind::Stopped => "stopped",
            EventKind::Alarm => "alarm",
        }
    }
}

/// A charger event as a message handler publishes it: the kind (subject suffix), the business key
/// its event id derives from, and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerEvent<M> {
    pub kind: EventKind,
    pub business_key: String,
    pub message: M,
}

/// Publishes charger events durably, each with its charger's tenant.
#[derive(Clone)]
pub struct ChargerEvents {
    bus: Bus,
    /// The deployment's tenant (`JOULE_TENANT`).
    default_tenant: TenantId,
}

impl ChargerEvents {
    pub fn new(bus: Bus, default_tenant: TenantId) -> Self {
        Self {
            bus,
            default_tenant,
        }
    }

    /// Returns once JetStream stored the event (or recognised it as a duplicate of its business key).
    /// The current span's trace context travels with it, so the trace that started at the OCPP frame
    /// continues in the consumers.
    pub async fn publish<M: Message + EventName>(
        &self,
        tenant: &TenantId,
        charge_point_id: &ChargePointId,
        kind: EventKind,
        business_key: &str,
        received_at: DateTime<Utc>,
        message: &M,
    ) -> Result<Published, BusError> {
        let outgoing = self.outgoing(
            tenant,
            charge_point_id,
            kind,
            business_key,
            received_at,
            message,
        );
        let published = self.bus.publish(outgoing).await?;
        tracing::debug!(
            event_type = M::NAME,
            %tenant,
            %charge_point_id,
            stream_sequence = published.stream_sequence,
            duplicate = published.duplicate,
            "charger event published"
        );
        Ok(published)
    }

    fn outgoing<M: Message + EventName>(
        &self,
        tenant: &TenantId,
        charge_point_id: &ChargePointId,
        kind: EventKind,
        business_key: &str,
        received_at: DateTime<Utc>,
        message: &M,
    ) -> Outgoing {
        let event_id = if *tenant == self.default_tenant {
            EventId::derived(business_key)
        } else {
            EventId::derived(&format!("{tenant}/{business_key}"))
        }
        .to_string();
        let meta = EventMeta {
            event_id: event_id.clone(),
            tenant_id: tenant.to_string(),
            aggregate_type: "Charger".into(),
            aggregate_id: charge_point_id.to_string(),
            sequence: 0,
            occurred_at: received_at,
            correlation_id: event_id,
            causation_id: String::new(),
        };
        Outgoing {
            subject: format!("charger.{charge_point_id}.{}", kind.subject_suffix()),
            envelope: joule_bus::envelope(message, meta),
            trace_headers: joule_telemetry::current_trace_headers(),
        }
    }
}

/// A time as it goes into business keys: full precision, always UTC, one spelling.
pub fn key_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
