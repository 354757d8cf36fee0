//! Turns charger events (stream CHARGER) into session commands, and keeps the session read model's
//! cost and invoice columns up to date from PRICING and INVOICE events. Every handler is idempotent.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{Energy, SessionId};
use joule_proto::time::from_proto;
use joule_proto::v1;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::sync::Arc;

use crate::matching::{ChargerSessions, StopFacts};
use crate::session::{
    ChargingSession, Extras, Reading, SessionCommand, SignedValue, StartDetails, StopDetails,
    TokenRef, flags,
};

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

/// A register from an event: empty means the charger sent none.
fn energy(field: &str, value: &str) -> Result<Option<Energy>, HandlerError> {
    if value.is_empty() {
        return Ok(None);
    }
    Decimal::from_str(value)
        .map(|wh| Some(Energy::from_wh(wh)))
        .map_err(|e| HandlerError::Rejected(format!("{field} {value:?} is not a decimal: {e}")))
}

/// The charger's time, unless missing or from a clock that was never set (before 2000: the
/// gateway flags those), then the receive time.
fn time(
    charger: Option<&joule_proto::Timestamp>,
    received: Option<&joule_proto::Timestamp>,
) -> DateTime<Utc> {
    let plausible = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    from_proto(charger)
        .filter(|t| *t >= plausible)
        .or_else(|| from_proto(received))
        .unwrap_or_else(Utc::now)
}

fn readings(
    samples: &[v1::MeterSample],
    received: Option<&joule_proto::Timestamp>,
) -> Vec<Reading> {
    samples
        .iter()
        .filter(|s| s.measurand.is_empty() || s.measurand == ENERGY_REGISTER)
        .filter(|s| s.unit.is_empty() || s.unit == "Wh")
        .filter_map(|s| {
            let register = Decimal::from_str(&s.value).ok()?;
            Some(Reading {
                at: time(s.charger_time.as_ref(), received),
                register: Energy::from_wh(register),
            })
        })
        .collect()
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

fn extras(
    samples: &[v1::MeterSample],
    received: Option<&joule_proto::Timestamp>,
    flags: Vec<String>,
) -> Extras {
    Extras {
        readings: readings(samples, received),
        signed: signed_values(samples),
        flags,
        received_at: from_proto(received),
    }
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
                if m.transaction_id.is_empty() {
                    // Nothing to group it under; the frame stays in the gateway's audit trail.
                    tracing::warn!(charge_point_id = %m.charge_point_id, "start without a transaction id not tracked");
                    return Ok(());
                }
                let id = session_id(tenant, &m.charge_point_id, &m.transaction_id).to_string();
                let extras = extras(&m.samples, m.received_at.as_ref(), m.flags);
                let version = m.ocpp_version;
                let start = StartDetails {
                    meter_start: energy("meter_start_wh", &m.meter_start_wh)?,
                    started_at: time(m.charger_time.as_ref(), m.received_at.as_ref()),
                    received_at: time(m.received_at.as_ref(), None),
                    charger_id: m.charger_id,
                    charge_point_id: m.charge_point_id,
                    connector_id: m.connector_id,
                    transaction_id: m.transaction_id,
                    token_uid: m.id_tag,
                    account_id: m.account_id,
                    seq_no: m.seq_no,
                };
                let opened = (
                    start.charge_point_id.clone(),
                    start.connector_id,
                    start.started_at,
                );
                self.execute(&id, SessionCommand::Start(start, extras), &message.envelope)
                    .await?;
                if is_16(&version) {
                    let (charge_point_id, connector_id, started_at) = opened;
                    self.charger_sessions
                        .started(tenant, &charge_point_id, connector_id, &id, started_at)
                        .await?;
                }
                Ok(())
            }
            "joule.v1.MeterValuesSampled" => {
                let m: v1::MeterValuesSampled = message.decode().map_err(reject)?;
                if m.transaction_id.is_empty() {
                    // Readings outside a transaction bill nothing.
                    return Ok(());
                }
                let id = session_id(tenant, &m.charge_point_id, &m.transaction_id).to_string();
                let command = SessionCommand::RecordReadings {
                    seq_no: m.seq_no,
                    token: token(&m.id_tag, &m.account_id),
                    extras: extras(&m.samples, m.received_at.as_ref(), m.flags),
                };
                self.execute(&id, command, &message.envelope).await
            }
            "joule.v1.TransactionStopped" => {
                let m: v1::TransactionStopped = message.decode().map_err(reject)?;
                let key = if m.session_key.is_empty() {
                    &m.transaction_id
                } else {
                    &m.session_key
                };
                let own = session_id(tenant, &m.charge_point_id, key).to_string();
                let meter_stop = energy("meter_stop_wh", &m.meter_stop_wh)?;
                let unusable_id = !m.session_key.is_empty()
                    || m.flags
                        .iter()
                        .any(|f| f.split(':').next() == Some(UNKNOWN_TRANSACTION));
                let matched = if is_16(&m.ocpp_version) && unusable_id {
                    let facts = StopFacts {
                        id_tag: &m.id_tag,
                        meter_stop,
                    };
                    self.charger_sessions
                        .target(tenant, &m.charge_point_id, &own, &facts, &m.transaction_id)
                        .await?
                } else {
                    None
                };
                let is_16 = is_16(&m.ocpp_version);
                let mut extras = extras(&m.transaction_data, m.received_at.as_ref(), m.flags);
                let (id, transaction_id) = match matched {
                    Some(matched) => {
                        extras.flags.push(format!(
                            "{}:{}",
                            flags::STOP_MATCHED_TO_OPEN_TRANSACTION,
                            matched.detail
                        ));
                        (matched.session_id, matched.transaction_id)
                    }
                    None => (own, m.transaction_id),
                };
                let stop = StopDetails {
                    meter_stop,
                    stopped_at: time(m.charger_time.as_ref(), m.received_at.as_ref()),
                    received_at: time(m.received_at.as_ref(), None),
                    token: token(&m.id_tag, &m.account_id),
                    charger_id: m.charger_id,
                    charge_point_id: m.charge_point_id,
                    transaction_id,
                    reason: m.reason,
                    seq_no: m.seq_no,
                };
                self.execute(&id, SessionCommand::Stop(stop, extras), &message.envelope)
                    .await?;
                if is_16 {
                    self.charger_sessions.stopped(&id).await?;
                }
                Ok(())
            }
            // Presence, boot, status and alarm events are not part of a session.
            _ => Ok(()),
        }
    }
}

/// Copies prices and invoice numbers onto the session read model.
pub struct BillingIntake {
    pub pool: PgPool,
}

impl Handler for BillingIntake {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(self.handle_billing_event(message))
    }
}

impl BillingIntake {
    async fn handle_billing_event(&self, message: &Received) -> Result<(), HandlerError> {
        let transient = |e: sqlx::Error| HandlerError::Transient(e.to_string());
        let reject = |e: joule_bus::BusError| HandlerError::Rejected(e.to_string());
        match message.event_type() {
            "joule.v1.SessionPriced" => {
                let m: v1::SessionPriced = message.decode().map_err(reject)?;
                sqlx::query(
                    "UPDATE sessions.session_view
                     SET cost_excl_vat = $2::numeric, cost_incl_vat = $3::numeric, currency = $4
                     WHERE id = $1",
                )
                .bind(&m.session_id)
                .bind(&m.total_excl_vat)
                .bind(&m.total_incl_vat)
                .bind(&m.currency)
                .execute(&self.pool)
                .await
                .map_err(transient)?;
            }
            "joule.v1.InvoiceIssued" => {
                let m: v1::InvoiceIssued = message.decode().map_err(reject)?;
                let invoice = m.invoice.ok_or_else(|| {
                    HandlerError::Rejected("InvoiceIssued without invoice".into())
                })?;
                sqlx::query("UPDATE sessions.session_view SET invoice_id = $2 WHERE id = ANY($1)")
                    .bind(&invoice.session_ids)
                    .bind(&invoice.id)
                    .execute(&self.pool)
                    .await
                    .map_err(transient)?;
            }
            _ => {}
        }
        Ok(())
    }
}
