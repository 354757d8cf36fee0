//! The running cost of a session in progress: the latest estimate (the final price once the
//! session is priced), and the cost if it stopped at a given time (the gateway asks while a
//! charger waits).

use joule_domain::SessionId;
use joule_domain::limits;
use joule_proto::v1;
use rust_decimal::Decimal;

use super::status::Error;
use super::{TariffGrpc, decimal, timestamp};
use crate::projections::priced_sessions;
use crate::running::{self, EstimateError, EstimateInput, RunningState};
use crate::wire;

/// The running state of a session of the tenant; NOT_FOUND when pricing has not seen its start.
async fn running_state(
    server: &TariffGrpc,
    tenant_id: &str,
    session_id: &str,
) -> Result<RunningState, Error> {
    let tenant = server.tenant(tenant_id)?;
    let session_id: SessionId = session_id
        .parse()
        .map_err(|e| Error::field("session_id", e))?;
    running::load(&server.pool, &session_id.to_string())
        .await?
        .filter(|s| s.start.tenant_id == tenant)
        .ok_or_else(|| Error::NotFound(format!("session {session_id} is not running")))
}

fn no_running_cost(state: &RunningState, reason: &str) -> Error {
    Error::NotFound(format!(
        "session {} has no running cost: {reason}",
        state.start.session_id
    ))
}

/// The final price of a priced session (its running state, if still kept, says where it ran), else
/// the latest estimate of a session in progress.
pub(super) async fn get(
    server: &TariffGrpc,
    r: v1::GetRunningCostRequest,
) -> Result<v1::RunningCost, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let session_id: SessionId = r
        .session_id
        .parse()
        .map_err(|e| Error::field("session_id", e))?;
    let priced =
        priced_sessions::final_price(&server.pool, &tenant, &session_id.to_string()).await?;
    let running = running_state(server, &tenant, &session_id.to_string()).await;
    if let Some(price) = priced {
        return Ok(wire::final_cost(price, running.as_ref().ok()));
    }
    let state = running?;
    let latest = state.latest.as_ref().ok_or_else(|| {
        no_running_cost(
            &state,
            state
                .unpriced_reason
                .as_deref()
                .unwrap_or("no estimate yet"),
        )
    })?;
    Ok(wire::running_cost(&state, latest))
}

pub(super) async fn estimate(
    server: &TariffGrpc,
    r: v1::EstimateSessionCostRequest,
) -> Result<v1::RunningCost, Error> {
    let ended_at = timestamp(r.ended_at.as_ref(), "ended_at")?
        .ok_or_else(|| Error::field("ended_at", "is required"))?;
    let meter_stop = match r.meter_stop_wh.trim() {
        "" => None,
        raw => {
            let wh = decimal(raw, "meter_stop_wh")?;
            limits::check_register_wh("meter_stop_wh", wh)?;
            Some(wh)
        }
    };
    let state = running_state(server, &r.tenant_id, &r.session_id).await?;
    if ended_at < state.start.started_at {
        return Err(Error::field(
            "ended_at",
            format!(
                "{ended_at} is before the session started at {}",
                state.start.started_at
            ),
        ));
    }
    limits::check_span("ended_at", state.start.started_at, ended_at)?;
    let latest = state.latest.as_ref();
    let (energy_wh, sequence) = match meter_stop {
        // Stop register − start register (else the first reading), never negative, as sessions
        // bills it.
        Some(stop) => {
            let from = state
                .start
                .meter_start_wh
                .or_else(|| state.readings.first().map(|s| s.register_wh))
                .unwrap_or(stop);
            let energy = stop.checked_sub(from).ok_or_else(|| {
                Error::field("meter_stop_wh", "out of range of the start register")
            })?;
            (energy.max(Decimal::ZERO), latest.map_or(0, |l| l.sequence))
        }
        None => latest.map_or((Decimal::ZERO, 0), |l| (l.energy_wh, l.sequence)),
    };
    let input = EstimateInput {
        readings: &state.readings,
        energy_wh,
        final_wh: meter_stop,
        as_of: ended_at,
    };
    let breakdown = running::estimate(&state, &input).map_err(|e| match e {
        EstimateError::Unpriced(reason) => no_running_cost(&state, &reason),
        EstimateError::Engine(reason) => Error::InvalidArgument(reason),
    })?;
    let latest = running::latest(sequence, energy_wh, ended_at, &breakdown);
    Ok(wire::running_cost(&state, &latest))
}
