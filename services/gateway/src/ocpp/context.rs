//! What every message handler needs, whatever the OCPP version: who is calling, when the frame
//! arrived, where events go, and the protocol-neutral handling of connector status and alarms.

use chrono::{DateTime, Utc};
use joule_proto::time::to_proto;
use joule_proto::v1::{ChargerAlarm, ChargerBooted, ConnectorStatusChanged};
use serde_json::{Value, json};

use crate::edge::connectors::{ChargerConnectors, ConnectorChange, ConnectorState};
use crate::edge::server::Gateway;
use crate::links::hold::{self, HoldOutcome};
use crate::ocpp::clock::ClockPolicy;
use crate::ocpp::error::CallFailure;
use crate::ocpp::protocol::OcppVersion;
use crate::projections::registry::{KnownCharger, KnownToken};
use crate::publish::{ChargerEvent, EventKind, key_time};

pub const ALARM_CONNECTOR_FAULT: &str = "connector_fault";
pub const ALARM_OFFLINE: &str = "offline";
pub const ALARM_CHARGER_EVENT: &str = "charger_event";

/// One CALL being handled.
pub struct Cx<'a> {
    pub gateway: &'a Gateway,
    pub charger: &'a KnownCharger,
    /// The charger's connector states, kept by its connection.
    pub connectors: &'a ChargerConnectors,
    pub received_at: DateTime<Utc>,
    pub version: OcppVersion,
}

/// Who sent a message, when it arrived, and how far its clock may be trusted: all that turning a
/// parsed message into the charger events it publishes needs besides the message and the lookups
/// (transaction id, token). Those functions ([`crate::ocpp::v16::started`], [`crate::ocpp::v201::transaction_message`],
/// ...) are pure, so they run the same without a connection.
#[derive(Debug, Clone)]
pub struct Origin {
    pub charger_id: String,
    pub charge_point_id: String,
    pub received_at: DateTime<Utc>,
    pub version: OcppVersion,
    pub clock: ClockPolicy,
}

impl Origin {
    /// A flag when the charger's clock cannot be trusted for this message.
    pub fn clock_flag(&self, charger_time: DateTime<Utc>, offline: Option<bool>) -> Option<String> {
        self.clock.assess(charger_time, self.received_at, offline)
    }

    /// The OCPP version as charger events name it.
    pub fn ocpp_version(&self) -> String {
        self.version.label().to_owned()
    }
}

/// A connector's status as a charger reported it, in protocol-neutral terms.
pub struct ConnectorStatus {
    pub connector_id: u32,
    pub evse_id: u32,
    pub status: String,
    pub error_code: String,
    pub charger_time: Option<DateTime<Utc>>,
    /// Vendor detail for an alarm (1.6 info / vendorErrorCode).
    pub detail: String,
}

impl ConnectorStatus {
    fn faulted(&self) -> bool {
        self.status.eq_ignore_ascii_case("Faulted")
            || !(self.error_code.is_empty() || self.error_code.eq_ignore_ascii_case("NoError"))
    }
}

impl Cx<'_> {
    pub fn cp(&self) -> String {
        self.charger.charge_point_id.to_string()
    }

    pub fn charger_id(&self) -> String {
        self.charger.charger_id.to_string()
    }

    pub async fn publish<M: joule_proto::Message + joule_proto::EventName>(
        &self,
        kind: EventKind,
        business_key: &str,
        message: &M,
    ) -> Result<(), CallFailure> {
        self.gateway
            .events
            .publish(
                &self.charger.tenant,
                &self.charger.charge_point_id,
                kind,
                business_key,
                self.received_at,
                message,
            )
            .await?;
        Ok(())
    }

    /// Publishes a charger event built by one of the pure mappings ([`Origin`]).
    pub async fn publish_event<M: joule_proto::Message + joule_proto::EventName>(
        &self,
        event: &ChargerEvent<M>,
    ) -> Result<(), CallFailure> {
        self.publish(event.kind, &event.business_key, &event.message)
            .await
    }

    /// This message's origin, for the pure mappings from messages to events.
    pub fn origin(&self) -> Origin {
        Origin {
            charger_id: self.charger_id(),
            charge_point_id: self.cp(),
            received_at: self.received_at,
            version: self.version,
            clock: self.gateway.clock,
        }
    }

    /// A BootNotification, the same in both versions: recorded as `ChargerBooted`, always Accepted
    /// with the server time and the heartbeat interval.
    pub async fn booted(
        &self,
        vendor: String,
        model: String,
        serial_number: Option<String>,
        firmware_version: Option<String>,
    ) -> Result<Value, CallFailure> {
        let event = ChargerBooted {
            charger_id: self.charger_id(),
            charge_point_id: self.cp(),
            vendor,
            model,
            serial_number: serial_number.unwrap_or_default(),
            firmware_version: firmware_version.unwrap_or_default(),
            received_at: Some(to_proto(self.received_at)),
        };
        let key = format!("{}/boot/{}", self.cp(), key_time(self.received_at));
        self.publish(EventKind::Booted, &key, &event).await?;
        Ok(json!({
            "status": "Accepted",
            "currentTime": crate::ocpp::payload::ocpp_time(self.received_at),
            "interval": self.gateway.heartbeat_interval_secs,
        }))
    }

    /// The token of the charger's tenant with this idTag: a charger never finds another tenant's.
    pub async fn find_token(&self, id_tag: &str) -> Result<Option<KnownToken>, CallFailure> {
        if id_tag.is_empty() {
            return Ok(None);
        }
        Ok(self
            .gateway
            .registry
            .find_token(&self.gateway.pool, &self.charger.tenant, id_tag)
            .await?)
    }

    /// Payments' decision on the hold for a known token's new transaction; Proceed when there
    /// is no token or no payments link ([`crate::links::hold`]).
    pub async fn payment_hold(
        &self,
        token: Option<&KnownToken>,
        transaction_id: &str,
    ) -> HoldOutcome {
        let (Some(token), Some(holds)) = (token, &self.gateway.holds) else {
            return HoldOutcome::Proceed;
        };
        if transaction_id.is_empty() {
            return HoldOutcome::Proceed;
        }
        let session = hold::session_id(
            self.charger.tenant.as_str(),
            &self.charger.charge_point_id,
            transaction_id,
        );
        holds
            .authorize(
                &self.charger.tenant,
                session,
                &token.account_id,
                &self.charger.charger_id,
            )
            .await
    }

    /// Publishes the status, and a connector-fault alarm when the connector became faulted or
    /// recovered (the last state per connector is kept by the connection and, when it changes, in
    /// the gateway schema, so any replica knows: [`crate::edge::connectors`]).
    pub async fn connector_status(&self, s: ConnectorStatus) -> Result<(), CallFailure> {
        let key = format!(
            "{}/status/{}/{}/{}/{}/{}",
            self.cp(),
            s.evse_id,
            s.connector_id,
            s.status,
            s.error_code,
            key_time(self.received_at)
        );
        let event = ConnectorStatusChanged {
            charger_id: self.charger_id(),
            charge_point_id: self.cp(),
            connector_id: s.connector_id,
            status: s.status.clone(),
            error_code: s.error_code.clone(),
            charger_time: s.charger_time.map(to_proto),
            received_at: Some(to_proto(self.received_at)),
            evse_id: s.evse_id,
            ocpp_version: self.version.label().into(),
        };
        self.publish(EventKind::Status, &key, &event).await?;

        let state = ConnectorState {
            status: s.status.clone(),
            error_code: s.error_code.clone(),
            faulted: s.faulted(),
        };
        let faulted = state.faulted;
        let key = (s.evse_id, s.connector_id);
        let (previous, changed) = self
            .connectors
            .report(&self.gateway.pool, &self.charger.key(), key, &state)
            .await?;
        if changed {
            self.gateway
                .connector_log
                .record(ConnectorChange {
                    charge_point: self.charger.key(),
                    key,
                    state,
                    at: self.received_at,
                })
                .await;
        }
        let was_faulted = previous.map(|p| p.faulted);
        let fault_changed = match was_faulted {
            Some(before) => before != faulted,
            None => faulted,
        };
        if fault_changed {
            let code = if s.error_code.is_empty() || s.error_code.eq_ignore_ascii_case("NoError") {
                s.status.clone()
            } else {
                s.error_code.clone()
            };
            self.alarm(ChargerAlarm {
                kind: ALARM_CONNECTOR_FAULT.into(),
                raised: faulted,
                connector_id: s.connector_id,
                evse_id: s.evse_id,
                code,
                detail: s.detail,
                charger_time: s.charger_time.map(to_proto),
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }

    /// Publishes an alarm; charger ids and the receive time are filled in.
    pub async fn alarm(&self, mut alarm: ChargerAlarm) -> Result<(), CallFailure> {
        alarm.charger_id = self.charger_id();
        alarm.charge_point_id = self.cp();
        alarm.received_at = Some(to_proto(self.received_at));
        let key = format!(
            "{}/alarm/{}/{}/{}/{}/{}/{}",
            self.cp(),
            alarm.kind,
            alarm.evse_id,
            alarm.connector_id,
            alarm.code,
            alarm.raised,
            key_time(self.received_at)
        );
        tracing::warn!(kind = %alarm.kind, raised = alarm.raised, code = %alarm.code, "charger alarm");
        self.publish(EventKind::Alarm, &key, &alarm).await
    }
}
