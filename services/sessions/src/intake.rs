//! Turns charger events (stream CHARGER) into session commands, and keeps the session read model's
//! cost and invoice columns up to date from PRICING and INVOICE events. Every handler is idempotent.

use chrono::{DateTime, Utc};
use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{Energy, SessionId, bounds};
use joule_proto::time::from_proto;
use joule_proto::v1;
use joule_store::CommandMeta;
use postgres_es::PostgresCqrs;
use sqlx::PgPool;
use std::sync::Arc;

use crate::domain::session::{
    ChargingSession, Extras, Reading, SessionCommand, SignedValue, StartDetails, StopDetails,
    TokenRef, flags,
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
        let transient = joule_store::consumer_error;
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

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests build their inputs with plain arithmetic"
)]
mod tests {
    //! Every transaction message a charger can send (1.6 start, meter values, stop; 2.0.1
    //! Started, Updated, Ended) with extreme numbers, times and strings, through the intake and
    //! the aggregate: no panic, every value outside its domain flagged, energy billed within
    //! 0..=10^12 Wh.

    use super::*;
    use crate::domain::session::{ChargingSession, SessionEvent, SessionRules};
    use chrono::TimeZone;
    use cqrs_es::Aggregate;
    use joule_proto::time::to_proto;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    /// A value as a charger might send it, and whether it lies inside the domain.
    #[derive(Debug, Clone)]
    struct Value {
        text: String,
        in_range: bool,
    }

    fn received() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn extreme_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("-79228162514264337593543950335".to_owned()),
            Just("79228162514264337593543950335".to_owned()),
            Just("1e300".to_owned()),
            Just("-1e300".to_owned()),
            Just("1e-300".to_owned()),
            Just("NaN".to_owned()),
            Just("Infinity".to_owned()),
            Just("-Infinity".to_owned()),
            Just("1000000000000000000000000000000".to_owned()),
            Just("1000000000000.001".to_owned()),
            Just("-1".to_owned()),
            Just("9".repeat(10_000)),
            Just("garbage".to_owned()),
            // At least 10^13 (a leading zero would make "0000000000000", which is 0 and in range).
            "[-+]?[1-9][0-9]{13,39}(\\.[0-9]{0,12})?",
            // Below zero (not "-0", which is zero).
            "-[1-9][0-9]{0,19}(\\.[0-9]{1,10})?",
            "[a-zA-Z ]{1,30}",
        ]
    }

    /// Energy register values: in range by construction, or out of it by construction.
    fn register() -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => (0u64..=1_000_000_000_000).prop_map(|wh| Value { text: wh.to_string(), in_range: true }),
            1 => Just(Value { text: "-0".into(), in_range: true }),
            1 => (0u64..=1_000_000_000, 1u32..6).prop_map(|(n, scale)| Value {
                text: Decimal::new(i64::try_from(n).unwrap(), scale).to_string(),
                in_range: true,
            }),
            3 => extreme_text().prop_map(|text| Value { text, in_range: false }),
        ]
    }

    /// Charger times: inside 2000..received + 24 h by construction, or outside.
    fn time() -> impl Strategy<Value = (DateTime<Utc>, bool)> {
        let start = Utc
            .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        let end = received().timestamp() + 24 * 3600;
        prop_oneof![
            3 => (start..=end).prop_map(|s| (DateTime::from_timestamp(s, 0).unwrap(), true)),
            1 => (DateTime::<Utc>::MIN_UTC.timestamp()..start)
                .prop_map(|s| (DateTime::from_timestamp(s, 0).unwrap(), false)),
            1 => (end + 1..=DateTime::<Utc>::MAX_UTC.timestamp())
                .prop_map(|s| (DateTime::from_timestamp(s, 0).unwrap(), false)),
        ]
    }

    /// Other measurands, with values inside or outside their domains.
    fn other_sample() -> impl Strategy<Value = (String, String, String, bool)> {
        prop_oneof![
            (0u32..=100).prop_map(|v| ("SoC".into(), "Percent".into(), v.to_string(), true)),
            (101u32..100_000).prop_map(|v| ("SoC".into(), "Percent".into(), v.to_string(), false)),
            (0u64..=10_000_000).prop_map(|v| (
                "Power.Active.Import".into(),
                "W".into(),
                v.to_string(),
                true
            )),
            (1u64..1_000_000).prop_map(|v| (
                "Power.Active.Import".into(),
                "W".into(),
                format!("-{v}"),
                false
            )),
            Just(("Voltage".into(), "V".into(), "1000000000".into(), false)),
            Just(("Current.Import".into(), "A".into(), "1e300".into(), false)),
            Just(("Frequency".into(), "Hz".into(), "NaN".into(), false)),
            Just(("Temperature".into(), "Celsius".into(), "-300".into(), false)),
            extreme_text().prop_map(|v| ("Voltage".into(), "V".into(), v, false)),
        ]
    }

    fn sample(at: DateTime<Utc>, measurand: &str, unit: &str, value: &str) -> v1::MeterSample {
        v1::MeterSample {
            charger_time: Some(to_proto(at)),
            measurand: measurand.into(),
            value: value.into(),
            unit: unit.into(),
            context: "Sample.Periodic".into(),
            ..Default::default()
        }
    }

    #[derive(Debug, Clone)]
    struct Reading {
        register: Value,
        at: (DateTime<Utc>, bool),
        other: (String, String, String, bool),
    }

    fn reading() -> impl Strategy<Value = Reading> {
        (register(), time(), other_sample()).prop_map(|(register, at, other)| Reading {
            register,
            at,
            other,
        })
    }

    #[derive(Debug, Clone)]
    struct Transaction {
        v201: bool,
        id: String,
        start: Value,
        started: (DateTime<Utc>, bool),
        readings: Vec<Vec<Reading>>,
        stop: Value,
        stopped: (DateTime<Utc>, bool),
        seq_end: u32,
        order: Vec<usize>,
    }

    fn transaction() -> impl Strategy<Value = Transaction> {
        (
            any::<bool>(),
            prop_oneof!["[0-9]{1,12}", "[A-Za-z0-9-]{1,64}"],
            register(),
            time(),
            proptest::collection::vec(proptest::collection::vec(reading(), 0..6), 0..4),
            register(),
            time(),
            prop_oneof![Just(u32::MAX), 0u32..10],
            Just(()).prop_perturb(|_, mut rng| {
                let mut order: Vec<usize> = (0..6).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
                order
            }),
        )
            .prop_map(
                |(v201, id, start, started, readings, stop, stopped, seq_end, order)| Transaction {
                    v201,
                    id,
                    start,
                    started,
                    readings,
                    stop,
                    stopped,
                    seq_end,
                    order,
                },
            )
    }

    /// The commands of a transaction in the order the charger's messages arrive, each with the
    /// texts of the values outside their domains that it carried.
    fn commands(tx: &Transaction) -> Vec<(SessionCommand, Vec<String>)> {
        let bad_value = |v: &Value| (!v.in_range).then(|| v.text.clone());
        let bad_time = |t: &(DateTime<Utc>, bool)| (!t.1).then(|| t.0.to_rfc3339());
        let received = Some(to_proto(received()));
        let base_start = v1::TransactionStarted {
            charger_id: "charger".into(),
            charge_point_id: "CP-HOSTILE".into(),
            connector_id: 1,
            transaction_id: tx.id.clone(),
            id_tag: "TAG".into(),
            account_id: "acc".into(),
            charger_time: Some(to_proto(tx.started.0)),
            received_at: received,
            seq_no: tx.v201.then_some(0),
            ..Default::default()
        };
        // 1.6 carries the register in meterStart, 2.0.1 in a Transaction.Begin sample.
        let begin = if tx.v201 {
            let mut s = sample(tx.started.0, ENERGY_REGISTER, "Wh", &tx.start.text);
            s.context = "Transaction.Begin".into();
            v1::TransactionStarted {
                samples: vec![s],
                ..base_start
            }
        } else {
            v1::TransactionStarted {
                meter_start_wh: tx.start.text.clone(),
                ..base_start
            }
        };
        let mut messages = vec![(
            super::start("t", begin).unwrap().1,
            [bad_value(&tx.start), bad_time(&tx.started)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        )];
        for (i, batch) in tx.readings.iter().enumerate() {
            let samples = batch
                .iter()
                .flat_map(|r| {
                    [
                        sample(r.at.0, ENERGY_REGISTER, "Wh", &r.register.text),
                        sample(r.at.0, &r.other.0, &r.other.1, &r.other.2),
                    ]
                })
                .collect();
            let m = v1::MeterValuesSampled {
                charger_id: "charger".into(),
                charge_point_id: "CP-HOSTILE".into(),
                transaction_id: tx.id.clone(),
                samples,
                received_at: received,
                seq_no: tx.v201.then(|| u32::try_from(i + 1).unwrap()),
                ..Default::default()
            };
            let bad = batch
                .iter()
                .flat_map(|r| {
                    // A time is read only for an energy register inside its domain.
                    let time = if r.register.in_range {
                        bad_time(&r.at)
                    } else {
                        None
                    };
                    [
                        bad_value(&r.register),
                        time,
                        (!r.other.3).then(|| r.other.2.clone()),
                    ]
                })
                .flatten()
                .collect();
            messages.push((readings("t", m).unwrap().1, bad));
        }
        let mut end = sample(tx.stopped.0, ENERGY_REGISTER, "Wh", &tx.stop.text);
        end.context = "Transaction.End".into();
        let m = v1::TransactionStopped {
            charger_id: "charger".into(),
            charge_point_id: "CP-HOSTILE".into(),
            transaction_id: tx.id.clone(),
            meter_stop_wh: if tx.v201 {
                String::new()
            } else {
                tx.stop.text.clone()
            },
            charger_time: Some(to_proto(tx.stopped.0)),
            received_at: received,
            transaction_data: if tx.v201 { vec![end] } else { vec![] },
            seq_no: tx.v201.then_some(tx.seq_end),
            ..Default::default()
        };
        let end_time = if tx.v201 && !tx.stop.in_range {
            None
        } else {
            bad_time(&tx.stopped)
        };
        messages.push((
            stop("t", m).unwrap().1,
            [bad_value(&tx.stop), bad_time(&tx.stopped), end_time]
                .into_iter()
                .flatten()
                .collect(),
        ));
        // The charger's order: a permutation of the messages, then the sweeper.
        let mut ordered: Vec<_> = tx
            .order
            .iter()
            .filter_map(|&i| messages.get(i).cloned())
            .collect();
        ordered.push((SessionCommand::CompleteOverdue, vec![]));
        ordered
    }

    fn flags_of(command: &SessionCommand) -> &[String] {
        match command {
            SessionCommand::Start(_, extras)
            | SessionCommand::Stop(_, extras)
            | SessionCommand::RecordReadings { extras, .. } => &extras.flags,
            SessionCommand::CompleteOverdue | SessionCommand::CloseInactive { .. } => &[],
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn hostile_transactions_never_panic_and_flag_every_value_out_of_range(tx in transaction()) {
            let mut session = ChargingSession::default();
            let mut events = Vec::new();
            for (command, bad) in commands(&tx) {
                // Every value outside its domain is named in a flag of its message.
                for text in &bad {
                    let raw = format!("{:?}", bounds::cut(text, bounds::RAW_TEXT_KEPT));
                    prop_assert!(
                        flags_of(&command).iter().any(|f| f.starts_with("value_out_of_range:") && f.contains(&raw)),
                        "{raw} not flagged in {:?}", flags_of(&command)
                    );
                }
                for event in session.decide(command, &SessionRules::default()) {
                    session.apply(event.clone());
                    events.push(event);
                }
            }
            let max = bounds::ENERGY_REGISTER_MAX_WH;
            for event in &events {
                match event {
                    SessionEvent::SessionCompleted { energy, meter_start, meter_stop, samples, started_at, stop, .. } => {
                        prop_assert!(started_at <= &stop.stopped_at, "pricing takes no session that ends before it starts");
                        prop_assert!(energy.wh() >= Decimal::ZERO && energy.wh() <= max);
                        prop_assert!(meter_start.wh() >= Decimal::ZERO && meter_start.wh() <= max);
                        prop_assert!(meter_stop.is_none_or(|m| m.wh() >= Decimal::ZERO && m.wh() <= max));
                        for r in samples {
                            prop_assert!(r.register.wh() >= Decimal::ZERO && r.register.wh() <= max);
                            prop_assert!(r.at >= bounds::earliest_timestamp());
                            prop_assert!(r.at <= received() + bounds::max_clock_ahead());
                        }
                    }
                    SessionEvent::ReadingsRecorded { readings, running, .. } => {
                        for r in readings {
                            prop_assert!(r.register.wh() >= Decimal::ZERO && r.register.wh() <= max);
                        }
                        if let Some(running) = running {
                            prop_assert!(running.energy.wh() >= Decimal::ZERO && running.energy.wh() <= max);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn the_reproducer_of_issue_11_is_flagged_and_bills_nothing_from_it() {
        let at = received() - chrono::Duration::minutes(30);
        let (_, begin) = super::start(
            "t",
            v1::TransactionStarted {
                charge_point_id: "CP".into(),
                transaction_id: "1".into(),
                meter_start_wh: "1000".into(),
                charger_time: Some(to_proto(at)),
                received_at: Some(to_proto(received())),
                ..Default::default()
            },
        )
        .unwrap();
        let (_, meter) = readings(
            "t",
            v1::MeterValuesSampled {
                charge_point_id: "CP".into(),
                transaction_id: "1".into(),
                samples: vec![
                    sample(at, ENERGY_REGISTER, "Wh", "-79228162514264337593543950335"),
                    sample(at, ENERGY_REGISTER, "Wh", "79228162514264337593543950335"),
                ],
                received_at: Some(to_proto(received())),
                ..Default::default()
            },
        )
        .unwrap();
        let SessionCommand::RecordReadings { extras, .. } = &meter else {
            panic!("{meter:?}");
        };
        assert!(extras.readings.is_empty());
        assert_eq!(extras.flags.len(), 2, "{:?}", extras.flags);
        assert!(extras.flags[0].starts_with(
            "value_out_of_range:Energy.Active.Import.Register \"-79228162514264337593543950335\": below 0 Wh"
        ));
        let mut session = ChargingSession::default();
        for command in [begin, meter] {
            for event in session.decide(command, &SessionRules::default()) {
                session.apply(event);
            }
        }
    }
}
