//! Priced sessions: a session's price with every adjustment since, and re-rating (of a tariff's
//! sessions after a correction, or of given sessions, one of them with a corrected meter reading).

use chrono::Utc;
use joule_domain::SessionId;
use joule_domain::limits;
use joule_proto::v1;

use super::status::Error;
use super::{TariffGrpc, decimal, timestamp};
use crate::projections::priced_sessions;
use crate::{rerate, wire};

fn session_id(raw: &str, field: &str) -> Result<SessionId, Error> {
    raw.parse().map_err(|e| Error::field(field, e))
}

pub(super) async fn get(
    server: &TariffGrpc,
    r: v1::GetPricedSessionRequest,
) -> Result<v1::PricedSessionView, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    let session_id = session_id(&r.session_id, "session_id")?;
    let stored = priced_sessions::priced_session(&server.pool, &tenant, &session_id.to_string())
        .await?
        .ok_or_else(|| Error::NotFound(format!("session {session_id} has no price yet")))?;
    wire::priced_session_view(stored).map_err(|e| Error::Internal(e.to_string()))
}

pub(super) async fn rerate(
    server: &TariffGrpc,
    r: v1::RerateRequest,
) -> Result<v1::RerateResponse, Error> {
    let tenant = server.tenant(&r.tenant_id)?;
    if r.reason.trim().is_empty() {
        return Err(Error::field("reason", "a re-rating needs a reason"));
    }
    limits::check_count(
        "session_ids",
        r.session_ids.len(),
        limits::MAX_RERATE_SESSIONS,
    )?;
    let stats = if !r.session_ids.is_empty() {
        let ids = r
            .session_ids
            .iter()
            .enumerate()
            .map(|(i, s)| session_id(s, &format!("session_ids[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let corrected = match r.corrected_energy_wh.trim() {
            "" => None,
            raw => {
                if ids.len() != 1 {
                    return Err(Error::field(
                        "corrected_energy_wh",
                        "a meter correction names exactly one session",
                    ));
                }
                let wh = decimal(raw, "corrected_energy_wh")?;
                limits::check_energy_wh("corrected_energy_wh", wh)?;
                Some(wh)
            }
        };
        rerate::rerate_sessions(
            &server.pool,
            &server.sessions,
            &ids,
            corrected,
            &r.reason,
            server.meta(tenant),
        )
        .await?
    } else {
        let (id, _) = server.owned(&tenant, &r.tariff_id).await?;
        rerate::rerate_tariff(
            &server.pool,
            &id.to_string(),
            timestamp(r.from.as_ref(), "from")?,
            timestamp(r.until.as_ref(), "until")?,
            &r.reason,
            &tenant,
            uuid::Uuid::new_v4().to_string(),
            Utc::now(),
        )
        .await?
    };
    tracing::info!(rerating_id = %stats.rerating_id, examined = stats.examined, adjusted = stats.adjusted, failed = stats.failed, "re-rating done");
    Ok(v1::RerateResponse {
        rerating_id: stats.rerating_id,
        sessions_examined: stats.examined,
        sessions_adjusted: stats.adjusted,
        sessions_failed: stats.failed,
    })
}
