//! The consumer of the gateway's charger events (stream CHARGER, durable `sessions-charger`): each
//! transaction message becomes a command on its session, its values read into their domains
//! (`joule_domain::bounds`) on the way; a 1.6 stop with an unusable transaction id is matched to
//! the charger's open transaction first ([`crate::matching`]). Idempotent: session ids are derived
//! from the transaction, and a session ignores what it already applied.

use chrono::{DateTime, Utc};
use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{Energy, SessionId, bounds};
use joule_proto::time::from_proto;
use joule_proto::v1;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use std::sync::Arc;

use crate::domain::session::{
    ChargingSession, Extras, Holder, Reading, SessionCommand, SignedValue, StartDetails,
    StopDetails, TokenRef, flags,
};
use crate::matching::{ChargerSessions, StopFacts};

/// Flag the gateway puts on a 1.6 stop for a transaction id it never gave.
const UNKNOWN_TRANSACTION: &str = "unknown_transaction";

/// 1.6 is the protocol whose stops may carry an unusable transaction id (2.0.1 chargers choose
/// their own ids); events without a version are taken as 1.6.
fn is_16(ocpp_version: &str) -> bool {
    ocpp_version != "2.0.1"
}

/// The session a charger transaction belongs to. Transaction ids are unique per charger only
/// (OCPP 2.0.1 chargers choose them), so the key includes tenant and charge point.
pub fn session_id(tenant: &str, charge_point_id: &str, transaction_id: &str) -> SessionId {
    SessionId::derived(&format!("{tenant}/{charge_point_id}/{transaction_id}"))
}

const ENERGY_REGISTER: &str = "Energy.Active.Import.Register";

/// Reads one charger event's values into their domains (`joule_domain::bounds`): what is outside
/// is left out of the session and noted as a `value_out_of_range` flag with the raw text.
struct Values<'a> {
    received: Option<&'a joule_proto::Timestamp>,
    flags: Vec<String>,
}

impl<'a> Values<'a> {
    fn new(received: Option<&'a joule_proto::Timestamp>, flags: Vec<String>) -> Self {
        Self { received, flags }
    }

    fn out_of_range(&mut self, e: &bounds::OutOfRange) {
        let flag = e.flag();
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }

    /// A register from an event: empty means the charger sent none.
    fn register(&mut self, field: &str, value: &str) -> Option<Energy> {
        if value.is_empty() {
            return None;
        }
        bounds::energy_register(field, value)
            .map_err(|e| self.out_of_range(&e))
            .ok()
    }

    /// The time the server received the message.
    fn received_at(&self) -> DateTime<Utc> {
        from_proto(self.received).unwrap_or_else(Utc::now)
    }

    /// The charger's time when it is inside its domain (from 2000 to a day after the message
    /// arrived: a clock reset to 1970 or set to 9999 is not billed on), else the receive time.
    fn time(&mut self, quantity: &str, charger: Option<&joule_proto::Timestamp>) -> DateTime<Utc> {
        let received = self.received_at();
        match from_proto(charger).map(|t| bounds::charger_time(quantity, t, received)) {
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                self.out_of_range(&e);
                received
            }
            None => received,
        }
    }

    /// The energy register readings among the samples; every numeric sample is checked against
    /// its measurand's domain.
    fn readings(&mut self, samples: &[v1::MeterSample]) -> Vec<Reading> {
        let mut out = Vec::new();
        for s in samples {
            if s.signed.is_some()
                && bounds::measurand_value(&s.measurand, &s.unit, &s.value).is_err()
            {
                // Signed meter data is evidence, not a number.
                continue;
            }
            let measurand = if s.measurand.is_empty() {
                ENERGY_REGISTER
            } else {
                s.measurand.as_str()
            };
            if measurand != ENERGY_REGISTER {
                if let Err(e) = bounds::measurand_value(measurand, &s.unit, &s.value) {
                    self.out_of_range(&e);
                }
                continue;
            }
            if !(s.unit.is_empty() || s.unit == "Wh") {
                // The gateway scales kWh to Wh; a unit left as sent is one it could not scale.
                self.out_of_range(&bounds::OutOfRange::new(
                    measurand,
                    &s.value,
                    format!("in {:?}, not a unit of energy Joule reads", s.unit),
                ));
                continue;
            }
            let Some(register) = self.register(measurand, &s.value) else {
                continue;
            };
            let at = self.time("sample timestamp", s.charger_time.as_ref());
            out.push(Reading { at, register });
        }
        out
    }

    fn extras(mut self, samples: &[v1::MeterSample]) -> Extras {
        Extras {
            readings: self.readings(samples),
            signed: signed_values(samples),
            received_at: from_proto(self.received),
            flags: self.flags,
        }
    }
}

fn signed_values(samples: &[v1::MeterSample]) -> Vec<SignedValue> {
    samples
        .iter()
        .filter_map(|s| {
            let signed = s.signed.as_ref()?;
            Some(SignedValue {
                context: s.context.clone(),
                measurand: s.measurand.clone(),
                charger_time: from_proto(s.charger_time.as_ref()),
                format: s.format.clone(),
                signed_meter_data: signed.signed_meter_data.clone(),
                signing_method: signed.signing_method.clone(),
                encoding_method: signed.encoding_method.clone(),
                public_key: signed.public_key.clone(),
            })
        })
        .collect()
}

fn token(id_tag: &str, account_id: &str) -> Option<TokenRef> {
    (!id_tag.is_empty() || !account_id.is_empty()).then(|| TokenRef {
        token_uid: id_tag.to_owned(),
        account_id: account_id.to_owned(),
    })
}

pub struct ChargerIntake {
    pub cqrs: Arc<PostgresCqrs<ChargingSession>>,
    /// The sessions each 1.6 charger started, for stops with an unusable transaction id.
    pub charger_sessions: ChargerSessions,
}

impl ChargerIntake {
    async fn execute(
        &self,
        id: &str,
        command: SessionCommand,
        envelope: &v1::Envelope,
    ) -> Result<(), HandlerError> {
        joule_store::execute(&self.cqrs, id, command, CommandMeta::caused_by(envelope))
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))
    }
}

impl Handler for ChargerIntake {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(self.handle_charger_event(message))
    }
}

impl ChargerIntake {
    async fn handle_charger_event(&self, message: &Received) -> Result<(), HandlerError> {
        let tenant = &message.envelope.tenant_id;
        let reject = |e: joule_bus::BusError| HandlerError::Rejected(e.to_string());
        match message.event_type() {
            "joule.v1.TransactionStarted" => {
                let m: v1::TransactionStarted = message.decode().map_err(reject)?;
                let is_16 = is_16(&m.ocpp_version);
                let Some((id, command)) = start(tenant, m) else {
                    return Ok(());
                };
                let id = id.to_string();
                let opened = match &command {
                    SessionCommand::Start(s, _) => {
                        Some((s.charge_point_id.clone(), s.connector_id, s.started_at))
                    }
                    _ => None,
                };
                self.execute(&id, command, &message.envelope).await?;
                if let Some((charge_point_id, connector_id, started_at)) = opened.filter(|_| is_16)
                {
                    self.charger_sessions
                        .started(tenant, &charge_point_id, connector_id, &id, started_at)
                        .await?;
                }
                Ok(())
            }
            "joule.v1.MeterValuesSampled" => {
                match readings(tenant, message.decode().map_err(reject)?) {
                    Some((id, command)) => {
                        self.execute(&id.to_string(), command, &message.envelope)
                            .await
                    }
                    None => Ok(()),
                }
            }
            "joule.v1.TransactionStopped" => {
                let m: v1::TransactionStopped = message.decode().map_err(reject)?;
                self.handle_stop(tenant, m, &message.envelope).await
            }
            // Presence, boot, status and alarm events are not part of a session.
            _ => Ok(()),
        }
    }

    /// A stop, matched to the charger's open 1.6 transaction when its own id is unusable (ADR 027).
    async fn handle_stop(
        &self,
        tenant: &str,
        m: v1::TransactionStopped,
        envelope: &v1::Envelope,
    ) -> Result<(), HandlerError> {
        let is_16 = is_16(&m.ocpp_version);
        let unusable_id = !m.session_key.is_empty()
            || m.flags
                .iter()
                .any(|f| f.split(':').next() == Some(UNKNOWN_TRANSACTION));
        let (id_tag, charge_point_id, transaction_id) = (
            m.id_tag.clone(),
            m.charge_point_id.clone(),
            m.transaction_id.clone(),
        );
        let Some((own, mut command)) = stop(tenant, m) else {
            return Ok(());
        };
        let own = own.to_string();
        let mut id = own.clone();
        if let SessionCommand::Stop(details, extras) = &mut command
            && is_16
            && unusable_id
        {
            let facts = StopFacts {
                id_tag: &id_tag,
                meter_stop: details.meter_stop,
            };
            if let Some(matched) = self
                .charger_sessions
                .target(tenant, &charge_point_id, &own, &facts, &transaction_id)
                .await?
            {
                extras.flags.push(format!(
                    "{}:{}",
                    flags::STOP_MATCHED_TO_OPEN_TRANSACTION,
                    matched.detail
                ));
                details.transaction_id = matched.transaction_id;
                id = matched.session_id;
            }
        }
        self.execute(&id, command, envelope).await?;
        if is_16 {
            self.charger_sessions.stopped(&id).await?;
        }
        Ok(())
    }
}

/// Who held the token, as the gateway saw its assignment; ids that do not parse are left out (the
/// api wrote them), and a holder with none is none.
fn holder(h: v1::TokenHolder) -> Option<Holder> {
    fn id<T: std::str::FromStr>(raw: &str) -> Option<T> {
        raw.parse().ok()
    }
    let holder = Holder {
        fleet_id: id(&h.fleet_id),
        driver_id: id(&h.driver_id),
        vehicle_id: id(&h.vehicle_id),
        cost_centre_id: id(&h.cost_centre_id),
    };
    (holder != Holder::default()).then_some(holder)
}

/// The session command of a `TransactionStarted`; `None` without a transaction id.
pub fn start(tenant: &str, m: v1::TransactionStarted) -> Option<(SessionId, SessionCommand)> {
    if m.transaction_id.is_empty() {
        // Nothing to group it under; the frame stays in the gateway's audit trail.
        tracing::warn!(charge_point_id = %m.charge_point_id, "start without a transaction id not tracked");
        return None;
    }
    let id = session_id(tenant, &m.charge_point_id, &m.transaction_id);
    let mut values = Values::new(m.received_at.as_ref(), m.flags);
    let meter_start = values.register("meter_start_wh", &m.meter_start_wh);
    let started_at = values.time("timestamp", m.charger_time.as_ref());
    let received_at = values.received_at();
    let extras = values.extras(&m.samples);
    let start = StartDetails {
        meter_start,
        started_at,
        received_at,
        charger_id: m.charger_id,
        charge_point_id: m.charge_point_id,
        connector_id: m.connector_id,
        transaction_id: m.transaction_id,
        token_uid: m.id_tag,
        account_id: m.account_id,
        seq_no: m.seq_no,
        holder: m.holder.and_then(holder),
    };
    Some((id, SessionCommand::Start(start, extras)))
}

/// The session command of a `MeterValuesSampled`; `None` outside a transaction.
pub fn readings(tenant: &str, m: v1::MeterValuesSampled) -> Option<(SessionId, SessionCommand)> {
    if m.transaction_id.is_empty() {
        // Readings outside a transaction bill nothing.
        return None;
    }
    let id = session_id(tenant, &m.charge_point_id, &m.transaction_id);
    let command = SessionCommand::RecordReadings {
        seq_no: m.seq_no,
        token: token(&m.id_tag, &m.account_id),
        extras: Values::new(m.received_at.as_ref(), m.flags).extras(&m.samples),
    };
    Some((id, command))
}

/// The session command of a `TransactionStopped`.
pub fn stop(tenant: &str, m: v1::TransactionStopped) -> Option<(SessionId, SessionCommand)> {
    let key = if m.session_key.is_empty() {
        &m.transaction_id
    } else {
        &m.session_key
    };
    let id = session_id(tenant, &m.charge_point_id, key);
    let mut values = Values::new(m.received_at.as_ref(), m.flags);
    let meter_stop = values.register("meter_stop_wh", &m.meter_stop_wh);
    let stopped_at = values.time("timestamp", m.charger_time.as_ref());
    let received_at = values.received_at();
    let extras = values.extras(&m.transaction_data);
    let stop = StopDetails {
        meter_stop,
        stopped_at,
        received_at,
        token: token(&m.id_tag, &m.account_id),
        charger_id: m.charger_id,
        charge_point_id: m.charge_point_id,
        transaction_id: m.transaction_id,
        reason: m.reason,
        seq_no: m.seq_no,
    };
    Some((id, SessionCommand::Stop(stop, extras)))
}

#[cfg(test)]
mod tests;
