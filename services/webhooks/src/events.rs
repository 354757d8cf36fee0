//! Which integration events an endpoint can receive, and the streams they come from.
//!
//! Every event message of `proto/joule/v1` is deliverable except two that are not for integrators:
//! `ChargerCredentialsSet` (a charger's password hash, for the gateway alone) and `AuditRecorded`
//! (the api's audit log, read through the api). A type not listed is never delivered, so a new
//! event message reaches webhooks only once it is added here.

use joule_bus::Domain;
use joule_proto::{EventName, v1};

/// An endpoint's event type that stands for every listed one.
pub const ALL: &str = "*";

/// The streams the service consumes, one durable consumer each: every domain with deliverable
/// events (AUDIT has none).
pub const STREAMS: [Domain; 7] = [
    Domain::Charger,
    Domain::Registry,
    Domain::Session,
    Domain::Pricing,
    Domain::Invoice,
    Domain::Ledger,
    Domain::Payment,
];

macro_rules! names {
    ($($ty:ident),* $(,)?) => { &[$(<v1::$ty as EventName>::NAME),*] };
}

/// The deliverable event types, as `Envelope::event_type` names them.
pub const EVENT_TYPES: &[&str] = names!(
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
    SettlementLineRecorded,
);

pub fn is_deliverable(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_the_audit_log_are_never_delivered() {
        assert!(is_deliverable("joule.v1.SessionCompleted"));
        assert!(!is_deliverable(
            <v1::ChargerCredentialsSet as EventName>::NAME
        ));
        assert!(!is_deliverable(<v1::AuditRecorded as EventName>::NAME));
        assert!(!is_deliverable(ALL));
    }

    #[test]
    fn every_deliverable_type_renders_as_json() {
        let pool = joule_proto::json::pool().expect("descriptors");
        for name in EVENT_TYPES {
            assert!(pool.get_message_by_name(name).is_some(), "{name}");
        }
    }
}
