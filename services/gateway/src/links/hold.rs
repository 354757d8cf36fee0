//! The payment hold at a transaction's start: before a known token's transaction is answered, the
//! gateway asks payments (`AuthorizeSessionPayment`) to place the hold, and answers `Blocked` when
//! the card declined it. The transaction is recorded all the same (the charger may already be
//! charging; a Blocked status makes it stop). Approved and pay-later answer as before.
//!
//! Payments being unreachable, slow (past the timeout) or failing must not keep drivers from
//! charging: the start is then Accepted and the failure logged; payments still places its hold
//! from `SessionStarted` and can ask for a stop later. The idempotency key is derived from the
//! session id, so a charger's retry of the start asks once.

use std::time::Duration;

use joule_domain::{AccountId, ChargePointId, ChargerId, SessionId, TenantId};
use joule_proto::v1::AuthorizeSessionPaymentRequest;
use joule_proto::v1::payments_service_client::PaymentsServiceClient;
use joule_runtime::GrpcChannel;

use super::Absence;

/// Payments' decision as the charger hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldOutcome {
    /// Approved, pay later, or payments could not decide in time.
    Proceed,
    /// The hold was declined: answer Blocked.
    Declined,
}

/// The session id sessions derives for a charger's transaction (`services/sessions` intake).
pub fn session_id(
    tenant: &str,
    charge_point_id: &ChargePointId,
    transaction_id: &str,
) -> SessionId {
    SessionId::derived(&format!("{tenant}/{charge_point_id}/{transaction_id}"))
}

const NOT_HERE: &str = "payments does not run in this process and no payments_grpc_url is set: starts are not checked for a payment hold";

/// A client of payments' hold decision.
#[derive(Clone)]
pub struct HoldCheck {
    client: PaymentsServiceClient<GrpcChannel>,
    wait: Duration,
    absent: Absence,
}

impl HoldCheck {
    /// `local`: the channel is this process's own gRPC server.
    pub fn new(channel: GrpcChannel, wait: Duration, local: bool) -> Self {
        Self {
            client: PaymentsServiceClient::new(channel),
            wait,
            absent: Absence::new(local),
        }
    }

    /// Asks for the hold of a session of a charger of `tenant`.
    pub async fn authorize(
        &self,
        tenant: &TenantId,
        session_id: SessionId,
        account_id: &AccountId,
        charger_id: &ChargerId,
    ) -> HoldOutcome {
        let request = AuthorizeSessionPaymentRequest {
            tenant_id: tenant.to_string(),
            idempotency_key: format!("gateway-start/{session_id}"),
            session_id: session_id.to_string(),
            account_id: account_id.to_string(),
            charger_id: charger_id.to_string(),
            ..Default::default()
        };
        if self.absent.known() {
            return HoldOutcome::Proceed;
        }
        let mut client = self.client.clone();
        match tokio::time::timeout(self.wait, client.authorize_session_payment(request)).await {
            Ok(Ok(response)) => {
                let response = response.into_inner();
                tracing::info!(%session_id, decision = %response.decision, code = %response.failure_code, "payment hold decided");
                if response.decision == "declined" {
                    HoldOutcome::Declined
                } else {
                    HoldOutcome::Proceed
                }
            }
            Ok(Err(status)) if self.absent.noticed(&status, NOT_HERE) => HoldOutcome::Proceed,
            Ok(Err(status)) => {
                tracing::warn!(%session_id, code = ?status.code(), message = %status.message(), "payments could not decide the hold; start accepted");
                HoldOutcome::Proceed
            }
            Err(_) => {
                tracing::warn!(%session_id, wait = ?self.wait, "payments did not decide the hold in time; start accepted");
                HoldOutcome::Proceed
            }
        }
    }
}
