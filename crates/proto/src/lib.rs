//! Code generated from `proto/joule/v1`: the integration events that travel on NATS (inside an
//! [`v1::Envelope`]) and the gRPC services. This crate owns the wire contract and nothing else.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("joule.v1");
}

pub use prost::Message;
pub use prost_types::Timestamp;

/// The fully qualified protobuf name of an event message, used as `Envelope::event_type`.
pub trait EventName {
    const NAME: &'static str;
}

macro_rules! event_names {
    (public: $($public:ident),* ; internal: $($internal:ident),* $(,)?) => {
        $(impl EventName for v1::$public { const NAME: &'static str = concat!("joule.v1.", stringify!($public)); })*
        $(impl EventName for v1::$internal { const NAME: &'static str = concat!("joule.v1.", stringify!($internal)); })*

        /// The events integrators read (webhooks, the streams' JSON rendering), as
        /// `Envelope::event_type` names them: every event message but the internal ones, a
        /// charger's password hash (`ChargerCredentialsSet`, for the gateway alone) and the api's
        /// audit log (`AuditRecorded`, read through the api).
        pub const PUBLIC_EVENT_TYPES: &[&str] = &[$(concat!("joule.v1.", stringify!($public))),*];
    };
}

event_names!(
    public:
    ChargerConnected,
    ChargerDisconnected,
    ChargerBooted,
    ConnectorStatusChanged,
    TransactionStarted,
    MeterValuesSampled,
    TransactionStopped,
    ChargerAlarm,
    SiteRegistered,
    ChargerRegistered,
    AccountOpened,
    TokenIssued,
    TokenAssigned,
    SessionStarted,
    SessionCompleted,
    SessionMetered,
    SessionPriced,
    SessionCostUpdated,
    SessionPriceAdjusted,
    AdjustmentIssued,
    InvoiceIssued,
    JournalEntryPosted,
    PaymentAuthorized,
    PaymentHoldExtended,
    PaymentHoldExhausted,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentVoided,
    PaymentFailed,
    PaymentRefunded,
    PaymentDunningStarted,
    WalletToppedUp,
    SettlementLineRecorded;
    internal:
    ChargerCredentialsSet,
    AuditRecorded,
);

/// Conversions between protobuf timestamps and UTC times.
pub mod time {
    use chrono::{DateTime, Utc};

    pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        }
    }

    /// `None` for a missing or out-of-range timestamp.
    pub fn from_proto(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
        t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
    }
}

/// The encoded `google.protobuf.FileDescriptorSet` of `proto/joule/v1` (with its imports), for
/// reflection: [`json`] renders events with it.
pub const DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/joule_descriptor_set.bin"));

pub mod json;
