//! The final cost in the OCPP 2.0.1 TransactionEvent(Ended) answer (`totalCost`), from pricing's
//! `EstimateSessionCost` (the running state pricing keeps, as if the session stopped at the Ended
//! event's time and register).
//!
//! Fail-soft and fast: the transaction message is already durable and is always acknowledged; on
//! any error, or after the timeout (at most [`MAX_WAIT`]), `totalCost` is omitted, which a charger
//! reads as "cost unknown", not "free".

use std::time::Duration;

use chrono::{DateTime, Utc};
use joule_domain::{SessionId, TenantId};
use joule_proto::time::to_proto;
use joule_proto::v1::EstimateSessionCostRequest;
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_runtime::GrpcChannel;
use rust_decimal::Decimal;
use serde_json::Value;

use super::Absence;
use crate::consumers::costs::display_total;
use crate::ocpp::calls::json_number;

/// The longest a charger's Ended answer waits for the estimate.
pub const MAX_WAIT: Duration = Duration::from_millis(300);

const NOT_HERE: &str = "pricing does not run in this process and no pricing_grpc_url is set: Ended answers carry no totalCost";

/// A client of pricing's estimate.
#[derive(Clone)]
pub struct CostEstimates {
    client: TariffServiceClient<GrpcChannel>,
    wait: Duration,
    absent: Absence,
}

impl CostEstimates {
    /// `local`: the channel is this process's own gRPC server.
    pub fn new(channel: GrpcChannel, wait: Duration, local: bool) -> Self {
        Self {
            client: TariffServiceClient::new(channel),
            wait: wait.min(MAX_WAIT),
            absent: Absence::new(local),
        }
    }

    /// `totalCost` for the session of a charger of `tenant` (incl. VAT, rounded like an invoice
    /// line), or `None`.
    pub async fn total_cost(
        &self,
        tenant: &TenantId,
        session_id: SessionId,
        ended_at: DateTime<Utc>,
        meter_stop_wh: Option<Decimal>,
    ) -> Option<Value> {
        let request = EstimateSessionCostRequest {
            tenant_id: tenant.to_string(),
            session_id: session_id.to_string(),
            ended_at: Some(to_proto(ended_at)),
            meter_stop_wh: meter_stop_wh.map(|d| d.to_string()).unwrap_or_default(),
        };
        if self.absent.known() {
            return None;
        }
        let mut client = self.client.clone();
        let answer = tokio::time::timeout(self.wait, client.estimate_session_cost(request)).await;
        let cost = match answer {
            Ok(Ok(response)) => response.into_inner().cost,
            Ok(Err(status)) if self.absent.noticed(&status, NOT_HERE) => return None,
            Ok(Err(status)) => {
                tracing::info!(%session_id, code = ?status.code(), message = %status.message(), "no cost estimate; totalCost omitted");
                return None;
            }
            Err(_) => {
                tracing::warn!(%session_id, wait = ?self.wait, "cost estimate too slow; totalCost omitted");
                return None;
            }
        }?;
        let total = display_total(&cost.total_incl_vat, &cost.currency).and_then(|m| {
            json_number("total_cost", &m.amount.to_string()).map_err(|e| e.to_string())
        });
        match total {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!(%session_id, error = %e, "unusable cost estimate; totalCost omitted");
                None
            }
        }
    }
}
