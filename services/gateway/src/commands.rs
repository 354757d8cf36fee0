//! Commands to chargers, routed between replicas: `joule.v1.ChargerCommands` ([`crate::grpc`]) and
//! the gateway's own cost display ([`crate::consumers::costs`]) reach any replica; the charger's
//! connection lives on one.
//!
//! The gateway finds it in the presence table ([`crate::presence`]) and sends the command as a core
//! NATS request to that replica (`<ns>.gateway.<replica_id>.command`), whose connection task turns it
//! into the OCPP CALL of the charger's version ([`crate::ocpp::calls::to_call`]), waits for the
//! CALLRESULT and replies. No presence row, or no responder on the replica's subject (it died),
//! means the charger is offline.
//!
//! A command names its charger by tenant and charge point id (ADR 032): a charge point of another
//! tenant is not registered as far as the command is concerned.

use std::str::FromStr;
use std::time::Duration;

use joule_bus::Bus;
use joule_domain::{ChargePointId, TenantId};
use joule_proto::Message;
use joule_proto::v1::charger_command_reply::Outcome;
use joule_proto::v1::{
    ChargerCommandFailure, ChargerCommandReply, ChargerCommandRequest, ChargerCommandResult,
};
use sqlx::PgPool;

use crate::presence;
use crate::projections::registry::{self, ChargePointKey};

/// The kinds of [`ChargerCommandFailure`] a replica answers with.
pub const FAILURE_REJECTED: &str = "rejected";
pub const FAILURE_UNSUPPORTED: &str = "unsupported";
pub const FAILURE_INVALID: &str = "invalid";
pub const FAILURE_TIMEOUT: &str = "timeout";
pub const FAILURE_DISCONNECTED: &str = "disconnected";

/// Why a command got no answer from the charger. The message is what the caller is told
/// ([`crate::grpc::status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The request, or the command for the charger's OCPP version, is not valid.
    #[error("{0}")]
    Invalid(String),
    #[error("charger {0} is not registered")]
    NotRegistered(ChargePointId),
    #[error("charger {0} is not connected")]
    NotConnected(ChargePointId),
    #[error("charger {0} did not answer in time")]
    NoAnswer(ChargePointId),
    /// The charger's connection gave up waiting for its answer.
    #[error("charger {0} did not answer in time: {1}")]
    AnswerTimedOut(ChargePointId, String),
    /// The charger answered with a CALLERROR, or the command could not be queued.
    #[error("charger {0} refused: {1}")]
    Refused(ChargePointId, String),
    /// The gateway's store or the bus.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("{0}")]
    Internal(&'static str),
}

impl RouteError {
    fn failure(failure: ChargerCommandFailure, cp: ChargePointId) -> Self {
        match failure.kind.as_str() {
            FAILURE_UNSUPPORTED | FAILURE_INVALID => RouteError::Invalid(failure.message),
            FAILURE_TIMEOUT => RouteError::AnswerTimedOut(cp, failure.message),
            FAILURE_DISCONNECTED => RouteError::NotConnected(cp),
            _ => RouteError::Refused(cp, failure.message),
        }
    }
}

/// Sends `request` to the replica holding the charger of `tenant` and waits up to `wait` for the
/// charger's answer. The request's own `tenant_id` is replaced by `tenant`.
pub async fn route(
    pool: &PgPool,
    bus: &Bus,
    tenant: &TenantId,
    mut request: ChargerCommandRequest,
    wait: Duration,
) -> Result<ChargerCommandResult, RouteError> {
    if request.command.is_none() {
        return Err(RouteError::Invalid("command: required".into()));
    }
    let cp = ChargePointId::from_str(&request.charge_point_id)
        .map_err(|e| RouteError::Invalid(format!("charge_point_id: {e}")))?;
    request.tenant_id = tenant.to_string();
    let key = ChargePointKey::new(tenant.clone(), cp.clone());
    let internal = |e: sqlx::Error| {
        tracing::error!(error = %e, "command lookup failed");
        RouteError::Unavailable("gateway store unavailable")
    };
    if registry::find_charger(pool, &key)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(RouteError::NotRegistered(cp));
    }
    let Some(holder) = presence::holder(pool, &key).await.map_err(internal)? else {
        return Err(RouteError::NotConnected(cp));
    };
    let subject = presence::command_subject(bus, &holder.replica_id);
    let sent = bus
        .client()
        .send_request(
            subject,
            async_nats::Request::new()
                .payload(request.encode_to_vec().into())
                .timeout(Some(wait)),
        )
        .await;
    let message = match sent {
        Ok(message) => message,
        Err(e) => {
            use async_nats::client::RequestErrorKind;
            return Err(match e.kind() {
                // The replica that held the connection is gone.
                RequestErrorKind::NoResponders => {
                    presence::forget(pool, &key, &holder).await.ok();
                    RouteError::NotConnected(cp)
                }
                RequestErrorKind::TimedOut => RouteError::NoAnswer(cp),
                _ => {
                    tracing::error!(error = %e, "command request failed");
                    RouteError::Unavailable("event bus unavailable")
                }
            });
        }
    };
    let reply = ChargerCommandReply::decode(message.payload.as_ref()).map_err(|e| {
        tracing::error!(error = %e, "undecodable command reply");
        RouteError::Internal("undecodable command reply")
    })?;
    match reply.outcome {
        Some(Outcome::Result(result)) => Ok(result),
        Some(Outcome::Failure(failure)) => Err(RouteError::failure(failure, cp)),
        None => Err(RouteError::Internal("empty command reply")),
    }
}
