//! The charger events the OCPP 1.6J transaction messages publish: pure functions of the message,
//! its [`Origin`] and what the handler looked up, so that they are the same with or without a
//! connection.

use joule_proto::time::to_proto;
use joule_proto::v1::{MeterSample, MeterValuesSampled, TransactionStarted, TransactionStopped};
use rust_decimal::Decimal;

use super::{MeterValues, StartTransaction, StopTransaction};
use crate::ocpp::context::Origin;
use crate::ocpp::meter;
use crate::projections::registry::KnownToken;
use crate::publish::{ChargerEvent, EventKind, key_time};

/// Flag on a stop whose transactionId identifies nothing (-1, 0, missing).
pub const INVALID_TRANSACTION_ID: &str = "invalid_transaction_id";
/// Flag on a stop or meter values for a transaction id the gateway never gave.
pub const UNKNOWN_TRANSACTION: &str = "unknown_transaction";

/// A transaction id the gateway could have given: a positive 32-bit integer.
pub fn issued_id(transaction_id: &str) -> Option<i32> {
    transaction_id.parse::<i32>().ok().filter(|id| *id > 0)
}

/// The register a start's transaction id is keyed on: a missing meterStart still needs one, and -1
/// never occurs as a real register.
pub fn start_key_meter(req: &StartTransaction) -> Decimal {
    req.meter_start_wh.unwrap_or(Decimal::NEGATIVE_ONE)
}

/// The `TransactionStarted` a StartTransaction publishes, given the transaction id the gateway
/// gave it ([`crate::transactions`]) and the token its idTag names, if known. Unreadable fields
/// and an untrustworthy clock are flags on it.
pub fn started(
    origin: &Origin,
    mut req: StartTransaction,
    transaction_id: i32,
    token: Option<&KnownToken>,
) -> ChargerEvent<TransactionStarted> {
    if let Some(flag) = origin.clock_flag(req.timestamp, None) {
        req.problems.push(flag);
    }
    let business_key = format!(
        "{}/{}/{}/{}/{}",
        origin.charge_point_id,
        req.connector_id,
        req.id_tag,
        start_key_meter(&req),
        key_time(req.timestamp)
    );
    let message = TransactionStarted {
        charger_id: origin.charger_id.clone(),
        charge_point_id: origin.charge_point_id.clone(),
        connector_id: req.connector_id,
        transaction_id: transaction_id.to_string(),
        id_tag: req.id_tag,
        account_id: token.map(|t| t.account_id.to_string()).unwrap_or_default(),
        meter_start_wh: req
            .meter_start_wh
            .map(|d| d.to_string())
            .unwrap_or_default(),
        charger_time: Some(to_proto(req.timestamp)),
        received_at: Some(to_proto(origin.received_at)),
        ocpp_version: origin.ocpp_version(),
        flags: req.problems.into_flags(),
        holder: token.map(|t| t.holder.clone()),
        ..Default::default()
    };
    ChargerEvent {
        kind: EventKind::Started,
        business_key,
        message,
    }
}

/// The `MeterValuesSampled` a MeterValues publishes: its samples normalised ([`meter::normalise`]).
pub fn meter_sampled(origin: &Origin, mut req: MeterValues) -> ChargerEvent<MeterValuesSampled> {
    let samples: Vec<MeterSample> = req.samples.iter().map(meter::normalise).collect();
    let transaction_id = req.transaction_id.unwrap_or_default();
    if let Some(first) = req.samples.first()
        && let Some(flag) = origin.clock_flag(first.timestamp, None)
    {
        req.problems.push(flag);
    }
    let first_time = req
        .samples
        .first()
        .map(|s| key_time(s.timestamp))
        .unwrap_or_default();
    let business_key = format!(
        "{}/meter/{}/{}/{}/{}",
        origin.charge_point_id,
        transaction_id,
        req.connector_id,
        first_time,
        meter::fingerprint(&samples)
    );
    let message = MeterValuesSampled {
        charger_id: origin.charger_id.clone(),
        charge_point_id: origin.charge_point_id.clone(),
        connector_id: req.connector_id,
        transaction_id,
        samples,
        received_at: Some(to_proto(origin.received_at)),
        ocpp_version: origin.ocpp_version(),
        flags: req.problems.into_flags(),
        charger_time: req.samples.first().map(|s| to_proto(s.timestamp)),
        ..Default::default()
    };
    ChargerEvent {
        kind: EventKind::Meter,
        business_key,
        message,
    }
}

/// The `TransactionStopped` a StopTransaction publishes. `issued`: whether the gateway gave its
/// transaction id (asked only for an id it could have given, [`issued_id`]); `token`: the one its
/// idTag names, if known.
///
/// A stop is identified by its transaction id; one whose id identifies nothing (-1: the charger
/// never got its start confirmed) by its own content (`session_key`), so that two such stops stay
/// two sessions and a retry of one stays one.
pub fn stopped(
    origin: &Origin,
    mut req: StopTransaction,
    issued: bool,
    token: Option<&KnownToken>,
) -> ChargerEvent<TransactionStopped> {
    let transaction_id = req.transaction_id.unwrap_or_default();
    let meter_text = req.meter_stop_wh.map(|d| d.to_string()).unwrap_or_default();
    let cp = &origin.charge_point_id;
    let (business_key, session_key) = match issued_id(&transaction_id) {
        Some(_) => {
            if !issued {
                req.problems.push(UNKNOWN_TRANSACTION);
            }
            (format!("{cp}/stop/{transaction_id}"), String::new())
        }
        None => {
            req.problems.push(INVALID_TRANSACTION_ID);
            let session_key = format!("{transaction_id}@{}/{meter_text}", key_time(req.timestamp));
            (format!("{cp}/stop/{session_key}"), session_key)
        }
    };
    if let Some(flag) = origin.clock_flag(req.timestamp, None) {
        req.problems.push(flag);
    }
    let message = TransactionStopped {
        charger_id: origin.charger_id.clone(),
        charge_point_id: cp.clone(),
        transaction_id,
        meter_stop_wh: meter_text,
        id_tag: req.id_tag.unwrap_or_default(),
        reason: req.reason.unwrap_or_default(),
        charger_time: Some(to_proto(req.timestamp)),
        received_at: Some(to_proto(origin.received_at)),
        transaction_data: req.transaction_data.iter().map(meter::normalise).collect(),
        ocpp_version: origin.ocpp_version(),
        flags: req.problems.into_flags(),
        account_id: token.map(|t| t.account_id.to_string()).unwrap_or_default(),
        session_key,
        ..Default::default()
    };
    ChargerEvent {
        kind: EventKind::Stopped,
        business_key,
        message,
    }
}
