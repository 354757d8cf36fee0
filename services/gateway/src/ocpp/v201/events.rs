//! The charger events the OCPP 2.0.1 transaction messages publish, the same protocol-neutral ones
//! as 1.6: pure functions of the message, its [`Origin`] and the token looked up.

use joule_proto::time::to_proto;
use joule_proto::v1::{MeterSample, MeterValuesSampled, TransactionStarted, TransactionStopped};

use super::{EventType, MeterValues, TRANSACTION_BEGIN, TRANSACTION_END, TransactionEvent};
use crate::ocpp::context::Origin;
use crate::ocpp::meter;
use crate::ocpp::v16::INVALID_TRANSACTION_ID;
use crate::projections::registry::KnownToken;
use crate::publish::{ChargerEvent, EventKind, key_time};

/// What a TransactionEvent publishes, by its eventType.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionMessage {
    Started(ChargerEvent<TransactionStarted>),
    Updated(ChargerEvent<MeterValuesSampled>),
    Ended(ChargerEvent<TransactionStopped>),
}

/// The charger event a TransactionEvent publishes, given the token its idToken names, if known:
/// `TransactionStarted` with the Transaction.Begin register, `MeterValuesSampled`, or
/// `TransactionStopped` with the Transaction.End register. Unreadable fields, an untrustworthy
/// clock and a missing transaction id are flags on it.
pub fn transaction_message(
    origin: &Origin,
    req: &TransactionEvent,
    token: Option<&KnownToken>,
) -> TransactionMessage {
    let samples: Vec<MeterSample> = req.samples.iter().map(meter::normalise).collect();
    let account_id = token.map(|t| t.account_id.to_string()).unwrap_or_default();
    let mut problems = req.problems.clone();
    if let Some(flag) = origin.clock_flag(req.timestamp, Some(req.offline)) {
        problems.push(flag);
    }
    let transaction_id = req.transaction_id.clone().unwrap_or_default();
    if transaction_id.is_empty() {
        problems.push(INVALID_TRANSACTION_ID);
    }
    let cp = &origin.charge_point_id;
    // (transactionId, seqNo) identifies an event; without a seqNo its content does.
    let business_key = match req.seq_no {
        Some(seq) => format!("{cp}/tx201/{transaction_id}/{seq}"),
        None => format!(
            "{cp}/tx201/{transaction_id}/{}/{}/{}",
            req.event_type.label(),
            key_time(req.timestamp),
            meter::fingerprint(&samples)
        ),
    };
    let id_tag = req
        .id_token
        .as_ref()
        .map(|t| t.id_token.clone())
        .unwrap_or_default();
    let (charger_id, charge_point_id) = (origin.charger_id.clone(), cp.clone());
    let version = origin.ocpp_version();
    let flags = problems.into_flags();
    match req.event_type {
        EventType::Started => TransactionMessage::Started(ChargerEvent {
            kind: EventKind::Started,
            business_key,
            message: TransactionStarted {
                charger_id,
                charge_point_id,
                connector_id: req.evse_id,
                transaction_id,
                id_tag,
                account_id,
                meter_start_wh: meter::register_in_context(&samples, TRANSACTION_BEGIN)
                    .map(|d| d.normalize().to_string())
                    .unwrap_or_default(),
                charger_time: Some(to_proto(req.timestamp)),
                received_at: Some(to_proto(origin.received_at)),
                ocpp_version: version,
                seq_no: req.seq_no,
                offline: req.offline,
                flags,
                samples,
                evse_id: req.evse_id,
                holder: token.map(|t| t.holder.clone()),
            },
        }),
        EventType::Updated => TransactionMessage::Updated(ChargerEvent {
            kind: EventKind::Meter,
            business_key,
            message: MeterValuesSampled {
                charger_id,
                charge_point_id,
                connector_id: req.evse_id,
                transaction_id,
                samples,
                received_at: Some(to_proto(origin.received_at)),
                ocpp_version: version,
                seq_no: req.seq_no,
                offline: req.offline,
                flags,
                evse_id: req.evse_id,
                id_tag,
                account_id,
                charger_time: Some(to_proto(req.timestamp)),
            },
        }),
        EventType::Ended => {
            let session_key = if transaction_id.is_empty() {
                format!("@{}", key_time(req.timestamp))
            } else {
                String::new()
            };
            TransactionMessage::Ended(ChargerEvent {
                kind: EventKind::Stopped,
                business_key,
                message: TransactionStopped {
                    charger_id,
                    charge_point_id,
                    transaction_id,
                    meter_stop_wh: meter::register_in_context(&samples, TRANSACTION_END)
                        .map(|d| d.normalize().to_string())
                        .unwrap_or_default(),
                    id_tag,
                    reason: req.stopped_reason.clone().unwrap_or_default(),
                    charger_time: Some(to_proto(req.timestamp)),
                    received_at: Some(to_proto(origin.received_at)),
                    transaction_data: samples,
                    ocpp_version: version,
                    seq_no: req.seq_no,
                    offline: req.offline,
                    flags,
                    connector_id: req.connector_id,
                    evse_id: req.evse_id,
                    account_id,
                    session_key,
                },
            })
        }
    }
}

/// The `MeterValuesSampled` a MeterValues publishes (outside any transaction: 2.0.1 sends
/// transaction readings in TransactionEvent).
pub fn meter_sampled(origin: &Origin, mut req: MeterValues) -> ChargerEvent<MeterValuesSampled> {
    let samples: Vec<MeterSample> = req.samples.iter().map(meter::normalise).collect();
    if let Some(first) = req.samples.first()
        && let Some(flag) = origin.clock_flag(first.timestamp, Some(false))
    {
        req.problems.push(flag);
    }
    let first_time = req
        .samples
        .first()
        .map(|s| key_time(s.timestamp))
        .unwrap_or_default();
    let business_key = format!(
        "{}/meter201/{}/{}/{}",
        origin.charge_point_id,
        req.evse_id,
        first_time,
        meter::fingerprint(&samples)
    );
    let message = MeterValuesSampled {
        charger_id: origin.charger_id.clone(),
        charge_point_id: origin.charge_point_id.clone(),
        connector_id: req.evse_id,
        samples,
        received_at: Some(to_proto(origin.received_at)),
        ocpp_version: origin.ocpp_version(),
        flags: req.problems.into_flags(),
        evse_id: req.evse_id,
        charger_time: req.samples.first().map(|s| to_proto(s.timestamp)),
        ..Default::default()
    };
    ChargerEvent {
        kind: EventKind::Meter,
        business_key,
        message,
    }
}
