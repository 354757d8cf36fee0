//! What happens to each committed session event: the read model is updated, and the integration
//! events `SessionStarted` / `SessionMetered` (readings of a running session) / `SessionCompleted`
//! are published on stream SESSION.

use joule_bus::{Outgoing, envelope};
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_store::{BoxFuture, OutboxHandler, ProjectionError, StoredEvent};
use sqlx::PgConnection;

use crate::domain::session::{Reading, Running, SessionEvent, StartDetails, TokenRef, ordered};

fn energy_reading(r: &Reading) -> v1::EnergyReading {
    v1::EnergyReading {
        at: Some(to_proto(r.at)),
        register_wh: r.register.wh().to_string(),
    }
}

/// The start register as events and the read model carry it; `None` (2.0.1 without a
/// Transaction.Begin sample) until the session completes with a fallback.
fn register(e: Option<joule_domain::Energy>) -> Option<rust_decimal::Decimal> {
    e.map(|e| e.wh())
}

pub struct SessionOutbox;

impl OutboxHandler for SessionOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(project(conn, event))
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        messages(event)
    }
}

async fn project(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    let id = &event.aggregate_id;
    let decoded: SessionEvent = event.read()?;
    match decoded {
        SessionEvent::SessionStarted(s) => {
            sqlx::query(
                    "INSERT INTO sessions.session_view
                       (id, charger_id, charge_point_id, connector_id, transaction_id, token_uid, account_id,
                        status, started_at, meter_start_wh, last_activity_at)
                     VALUES ($1,$2,$3,$4,$5,$6,$7,'active',$8,$9,$10)
                     ON CONFLICT (id) DO UPDATE SET
                       charger_id = EXCLUDED.charger_id, connector_id = EXCLUDED.connector_id,
                       token_uid = EXCLUDED.token_uid, account_id = EXCLUDED.account_id,
                       started_at = EXCLUDED.started_at, meter_start_wh = EXCLUDED.meter_start_wh,
                       last_activity_at = GREATEST(sessions.session_view.last_activity_at, EXCLUDED.last_activity_at),
                       status = CASE WHEN sessions.session_view.status IN ('completed', 'ended') THEN sessions.session_view.status ELSE 'active' END",
                )
                .bind(id)
                .bind(&s.charger_id)
                .bind(&s.charge_point_id)
                .bind(s.connector_id as i32)
                .bind(&s.transaction_id)
                .bind(&s.token_uid)
                .bind(&s.account_id)
                .bind(s.started_at)
                .bind(register(s.meter_start))
                .bind(s.received_at)
                .execute(conn)
                .await?;
        }
        SessionEvent::StopReceived(stop) => {
            // Waiting for missing 2.0.1 events; the sweeper completes it after a while.
            sqlx::query(
                "INSERT INTO sessions.session_view
                   (id, charger_id, charge_point_id, transaction_id, status, stopped_at, meter_stop_wh, awaiting_since)
                 VALUES ($1,$2,$3,$4,'ended',$5,$6,$7)
                 ON CONFLICT (id) DO UPDATE SET
                   stopped_at = EXCLUDED.stopped_at, meter_stop_wh = EXCLUDED.meter_stop_wh,
                   awaiting_since = EXCLUDED.awaiting_since,
                   status = CASE WHEN sessions.session_view.status = 'completed' THEN 'completed' ELSE 'ended' END",
            )
            .bind(id)
            .bind(&stop.charger_id)
            .bind(&stop.charge_point_id)
            .bind(&stop.transaction_id)
            .bind(stop.stopped_at)
            .bind(register(stop.meter_stop))
            .bind(stop.received_at)
            .execute(conn)
            .await?;
        }
        SessionEvent::SignedValuesRecorded { values } => {
            for v in values {
                sqlx::query(
                    "INSERT INTO sessions.signed_meter_values
                       (session_id, context, measurand, charger_time, format, signed_meter_data,
                        signing_method, encoding_method, public_key)
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
                     ON CONFLICT (session_id, context, data_hash) DO NOTHING",
                )
                .bind(id)
                .bind(&v.context)
                .bind(&v.measurand)
                .bind(v.charger_time)
                .bind(&v.format)
                .bind(&v.signed_meter_data)
                .bind(&v.signing_method)
                .bind(&v.encoding_method)
                .bind(&v.public_key)
                .execute(&mut *conn)
                .await?;
            }
        }
        SessionEvent::SessionCompleted {
            start,
            stop,
            started_at,
            meter_start,
            energy,
            flags,
            meter_stop,
            token,
            ..
        } => {
            let start = start.as_ref();
            let token = token.or_else(|| {
                start.map(|s| crate::domain::session::TokenRef {
                    token_uid: s.token_uid.clone(),
                    account_id: s.account_id.clone(),
                })
            });
            let meter_stop = meter_stop.or(stop.meter_stop).unwrap_or(meter_start);
            sqlx::query(
                    "INSERT INTO sessions.session_view
                       (id, charger_id, charge_point_id, connector_id, transaction_id, token_uid, account_id,
                        status, started_at, stopped_at, meter_start_wh, meter_stop_wh, energy_wh, flags)
                     VALUES ($1,$2,$3,$4,$5,$6,$7,'completed',$8,$9,$10,$11,$12,$13)
                     ON CONFLICT (id) DO UPDATE SET
                       status = 'completed', started_at = EXCLUDED.started_at, stopped_at = EXCLUDED.stopped_at,
                       meter_start_wh = EXCLUDED.meter_start_wh, meter_stop_wh = EXCLUDED.meter_stop_wh,
                       energy_wh = EXCLUDED.energy_wh, flags = EXCLUDED.flags,
                       token_uid = EXCLUDED.token_uid, account_id = EXCLUDED.account_id,
                       awaiting_since = NULL",
                )
                .bind(id)
                .bind(&stop.charger_id)
                .bind(&stop.charge_point_id)
                .bind(start.map_or(0, |s| s.connector_id as i32))
                .bind(&stop.transaction_id)
                .bind(token.as_ref().map_or("", |t| &t.token_uid))
                .bind(token.as_ref().map_or("", |t| &t.account_id))
                .bind(started_at)
                .bind(stop.stopped_at)
                .bind(meter_start.wh())
                .bind(meter_stop.wh())
                .bind(energy.wh())
                .bind(&flags)
                .execute(conn)
                .await?;
        }
        SessionEvent::SessionFlagged { flag, .. } => {
            sqlx::query(
                "UPDATE sessions.session_view SET flags = array_append(flags, $2)
                     WHERE id = $1 AND NOT ($2 = ANY(flags))",
            )
            .bind(id)
            .bind(&flag)
            .execute(conn)
            .await?;
        }
        SessionEvent::ReadingsRecorded {
            readings,
            received_at,
            ..
        } => {
            // The session's latest sign of life, as the aggregate counts it (only while open),
            // for the inactivity sweep.
            let at = received_at.or_else(|| readings.iter().map(|r| r.at).max());
            if let Some(at) = at {
                sqlx::query(
                    "UPDATE sessions.session_view
                     SET last_activity_at = GREATEST(last_activity_at, $2)
                     WHERE id = $1 AND status = 'active'",
                )
                .bind(id)
                .bind(at)
                .execute(conn)
                .await?;
            }
        }
    }
    Ok(())
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

fn messages(event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
    let decoded: SessionEvent = event.decode().map_err(|e| e.to_string())?;
    let id = &event.aggregate_id;
    let (subject, envelope) = match decoded {
        SessionEvent::SessionStarted(s) => {
            let message = v1::SessionStarted {
                session_id: id.clone(),
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
            };
            (
                format!("session.{id}.started"),
                envelope(&message, event.meta(0, s.received_at)),
            )
        }
        SessionEvent::SessionCompleted { ref stop, .. } => {
            let message = completed_message(id, &decoded)
                .ok_or_else(|| format!("session {id}: no SessionCompleted message"))?;
            (
                format!("session.{id}.completed"),
                envelope(&message, event.meta(0, stop.received_at)),
            )
        }
        SessionEvent::ReadingsRecorded {
            readings,
            running: Some(running),
            ..
        } => {
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
            let sequence = u64::try_from(event.sequence)
                .map_err(|_| format!("negative event sequence {}", event.sequence))?;
            let message = v1::SessionMetered {
                session_id: id.clone(),
                charger_id: start.charger_id,
                charge_point_id: start.charge_point_id,
                connector_id: start.connector_id,
                transaction_id: start.transaction_id,
                token_uid: token.token_uid,
                account_id: token.account_id,
                started_at: Some(to_proto(start.started_at)),
                meter_start_wh: meter_start.wh().to_string(),
                samples: ordered(&readings).iter().map(energy_reading).collect(),
                energy_wh: energy.wh().to_string(),
                as_of: Some(to_proto(as_of)),
                sequence,
            };
            (
                format!("session.{id}.metered"),
                envelope(&message, event.meta(0, as_of)),
            )
        }
        SessionEvent::ReadingsRecorded { .. }
        | SessionEvent::SessionFlagged { .. }
        | SessionEvent::StopReceived(_)
        | SessionEvent::SignedValuesRecorded { .. } => {
            return Ok(vec![]);
        }
    };
    Ok(vec![Outgoing {
        subject,
        envelope,
        trace_headers: event.trace_headers(),
    }])
}
