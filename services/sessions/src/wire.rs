//! The proto mapping, in one place: the integration events a session publishes
//! (`SessionStarted`, `SessionMetered`, `SessionCompleted`) and the read model as the gRPC API
//! answers it (`Session`, `SessionSignedMeterValue`).

use joule_proto::time::to_proto;
use joule_proto::v1;
use rust_decimal::Decimal;

use crate::domain::session::{Reading, Running, SessionEvent, StartDetails, TokenRef, ordered};
use crate::projections::session_view::SessionRow;
use crate::projections::signed_values::SignedValueRow;

fn energy_reading(r: &Reading) -> v1::EnergyReading {
    v1::EnergyReading {
        at: Some(to_proto(r.at)),
        register_wh: r.register.wh().to_string(),
    }
}

/// The `SessionStarted` of a start.
pub fn started_message(session_id: &str, s: StartDetails) -> v1::SessionStarted {
    let holder = s.holder.unwrap_or_default();
    let text = |id: Option<String>| id.unwrap_or_default();
    v1::SessionStarted {
        fleet_id: text(holder.fleet_id.map(|f| f.to_string())),
        driver_id: text(holder.driver_id.map(|d| d.to_string())),
        vehicle_id: text(holder.vehicle_id.map(|v| v.to_string())),
        cost_centre_id: text(holder.cost_centre_id.map(|c| c.to_string())),
        session_id: session_id.to_owned(),
        charger_id: s.charger_id,
        charge_point_id: s.charge_point_id,
        connector_id: s.connector_id,
        transaction_id: s.transaction_id,
        token_uid: s.token_uid,
        account_id: s.account_id,
        started_at: Some(to_proto(s.started_at)),
        meter_start_wh: s
            .meter_start
            .map(|m| m.wh().to_string())
            .unwrap_or_default(),
    }
}

/// The `SessionMetered` of readings recorded while the session was `running`; `sequence` is the
/// aggregate version of the event.
pub fn metered_message(
    session_id: &str,
    readings: &[Reading],
    running: Running,
    sequence: u64,
) -> v1::SessionMetered {
    let Running {
        start,
        token,
        meter_start,
        energy,
        as_of,
    } = running;
    let token = token.unwrap_or(TokenRef {
        token_uid: start.token_uid,
        account_id: start.account_id,
    });
    v1::SessionMetered {
        session_id: session_id.to_owned(),
        charger_id: start.charger_id,
        charge_point_id: start.charge_point_id,
        connector_id: start.connector_id,
        transaction_id: start.transaction_id,
        token_uid: token.token_uid,
        account_id: token.account_id,
        started_at: Some(to_proto(start.started_at)),
        meter_start_wh: meter_start.wh().to_string(),
        samples: ordered(readings).iter().map(energy_reading).collect(),
        energy_wh: energy.wh().to_string(),
        as_of: Some(to_proto(as_of)),
        sequence,
    }
}

/// The `SessionCompleted` a completion publishes (`None` for any other event): self-contained, with
/// the start (or what stands in for a missing one), who pays, the registers and readings billed.
/// This is what pricing prices.
pub fn completed_message(session_id: &str, event: &SessionEvent) -> Option<v1::SessionCompleted> {
    let SessionEvent::SessionCompleted {
        start,
        stop,
        started_at,
        meter_start,
        energy,
        flags,
        meter_stop,
        token,
        samples,
        charging_ended_at,
    } = event
    else {
        return None;
    };
    let mut start = start.clone().unwrap_or_else(|| StartDetails {
        charger_id: stop.charger_id.clone(),
        charge_point_id: stop.charge_point_id.clone(),
        connector_id: 0,
        transaction_id: stop.transaction_id.clone(),
        token_uid: String::new(),
        account_id: String::new(),
        meter_start: Some(*meter_start),
        started_at: *started_at,
        received_at: stop.received_at,
        seq_no: None,
        holder: None,
    });
    if let Some(token) = token {
        start.token_uid = token.token_uid.clone();
        start.account_id = token.account_id.clone();
    }
    let meter_stop = meter_stop.or(stop.meter_stop).unwrap_or(*meter_start);
    Some(v1::SessionCompleted {
        session_id: session_id.to_owned(),
        charger_id: stop.charger_id.clone(),
        charge_point_id: stop.charge_point_id.clone(),
        connector_id: start.connector_id,
        transaction_id: stop.transaction_id.clone(),
        token_uid: start.token_uid,
        account_id: start.account_id,
        started_at: Some(to_proto(*started_at)),
        stopped_at: Some(to_proto(stop.stopped_at)),
        meter_start_wh: meter_start.wh().to_string(),
        meter_stop_wh: meter_stop.wh().to_string(),
        energy_wh: energy.wh().to_string(),
        flags: flags.clone(),
        samples: samples.iter().map(energy_reading).collect(),
        charging_ended_at: charging_ended_at.map(to_proto),
    })
}

/// A read model decimal as the API shows it: normalised, empty when there is none.
fn plain(d: Option<Decimal>) -> String {
    d.map(|d| d.normalize().to_string()).unwrap_or_default()
}

/// A session of the read model.
pub fn session(row: SessionRow) -> v1::Session {
    v1::Session {
        id: row.id,
        charger_id: row.charger_id,
        charge_point_id: row.charge_point_id,
        connector_id: row.connector_id as u32,
        transaction_id: row.transaction_id,
        token_uid: row.token_uid,
        account_id: row.account_id,
        status: row.status,
        started_at: row.started_at.map(to_proto),
        stopped_at: row.stopped_at.map(to_proto),
        energy_wh: plain(row.energy_wh),
        cost_excl_vat: plain(row.cost_excl_vat),
        cost_incl_vat: plain(row.cost_incl_vat),
        currency: row.currency.unwrap_or_default(),
        invoice_id: row.invoice_id.unwrap_or_default(),
        flags: row.flags,
        fleet_id: or_empty(row.fleet_id),
        driver_id: or_empty(row.driver_id),
        vehicle_id: or_empty(row.vehicle_id),
        cost_centre_id: or_empty(row.cost_centre_id),
    }
}

fn or_empty(id: Option<uuid::Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// A signed meter value of a session, byte-exact as the charger sent it.
pub fn signed_value(
    session_id: &str,
    transaction_id: &str,
    row: SignedValueRow,
) -> v1::SessionSignedMeterValue {
    v1::SessionSignedMeterValue {
        session_id: session_id.to_owned(),
        transaction_id: transaction_id.to_owned(),
        context: row.context,
        measurand: row.measurand,
        charger_time: row.charger_time.map(to_proto),
        format: row.format,
        signed: Some(v1::SignedMeterValue {
            signed_meter_data: row.signed_meter_data,
            signing_method: row.signing_method,
            encoding_method: row.encoding_method,
            public_key: row.public_key,
        }),
    }
}
