//! What every message handler needs, whatever the OCPP version: who is calling, when the frame
//! arrived, where events go, and the protocol-neutral handling of connector status and alarms.

use chrono::{DateTime, Utc};
use joule_proto::time::to_proto;
use joule_proto::v1::{ChargerAlarm, ConnectorStatusChanged};

use crate::error::CallFailure;
use crate::protocol::OcppVersion;
use crate::publish::{EventKind, key_time};
use crate::registry::{self, KnownCharger, KnownToken};
use crate::server::Gateway;

pub const ALARM_CONNECTOR_FAULT: &str = "connector_fault";
pub const ALARM_OFFLINE: &str = "offline";
pub const ALARM_CHARGER_EVENT: &str = "charger_event";

/// One CALL being handled.
pub struct Cx<'a> {
    pub gateway: &'a Gateway,
    pub charger: &'a KnownCharger,
    pub received_at: DateTime<Utc>,
    pub version: OcppVersion,
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
                &self.charger.charge_point_id,
                kind,
                business_key,
                self.received_at,
                message,
            )
            .await?;
        Ok(())
    }

    /// A flag when the charger's clock cannot be trusted for this message.
    pub fn clock_flag(&self, charger_time: DateTime<Utc>, offline: Option<bool>) -> Option<String> {
        self.gateway
            .clock
            .assess(charger_time, self.received_at, offline)
    }

    pub async fn find_token(&self, id_tag: &str) -> Result<Option<KnownToken>, CallFailure> {
        if id_tag.is_empty() {
            return Ok(None);
        }
        Ok(registry::find_token(&self.gateway.pool, id_tag).await?)
    }

    /// Publishes the status, and a connector-fault alarm when the connector became faulted or
    /// recovered (the last state per connector is kept in the gateway schema, so any replica knows).
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

        let faulted = s.faulted();
        let was_faulted: Option<bool> = sqlx::query_scalar(
            "SELECT faulted FROM gateway.connector_status
             WHERE charge_point_id = $1 AND evse_id = $2 AND connector_id = $3",
        )
        .bind(self.charger.charge_point_id.as_str())
        .bind(i64::from(s.evse_id))
        .bind(i64::from(s.connector_id))
        .fetch_optional(&self.gateway.pool)
        .await?;
        sqlx::query(
            "INSERT INTO gateway.connector_status
                 (charge_point_id, evse_id, connector_id, status, error_code, faulted, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (charge_point_id, evse_id, connector_id) DO UPDATE
             SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
                 faulted = EXCLUDED.faulted, updated_at = EXCLUDED.updated_at",
        )
        .bind(self.charger.charge_point_id.as_str())
        .bind(i64::from(s.evse_id))
        .bind(i64::from(s.connector_id))
        .bind(&s.status)
        .bind(&s.error_code)
        .bind(faulted)
        .bind(self.received_at)
        .execute(&self.gateway.pool)
        .await?;
        let changed = match was_faulted {
            Some(before) => before != faulted,
            None => faulted,
        };
        if changed {
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
