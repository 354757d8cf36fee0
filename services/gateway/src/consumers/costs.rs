//! The pricing cost consumers (durables `gateway-cost-updates` and `gateway-final-costs`): costs on
//! the charger's display. Pricing's running cost (`SessionCostUpdated`) and final price
//! (`SessionPriced`) become `CostUpdate` commands, routed like any command to the replica holding
//! the charger ([`crate::commands::route`]): OCPP 2.0.1 CostUpdated, or the 1.6 California Pricing
//! DataTransfer RunningCost / FinalCost. (A 2.0.1 charger shows its final cost from the
//! TransactionEvent(Ended) answer, [`crate::links::estimate`], so a final cost is not sent to it.)
//!
//! One durable consumer per kind, shared by the replicas. The display is best effort: a charger
//! that is offline, refuses or does not answer within the short timeout is logged and the message
//! acknowledged, so one charger never holds up the stream. Per session, `gateway.cost_display`
//! keeps the highest `sequence` sent and whether the final cost was: an update older than one
//! already sent (a redelivery, a late message) or arriving after the final cost is skipped. The
//! row is claimed before the command is sent, so a crash in between loses that one display update
//! (the next one follows) rather than showing an older cost after a newer one.
//!
//! A cost is shown on the charger of the tenant its envelope names (ADR 032; none: the
//! deployment's), never on another tenant's charger with the same charge point id.

use std::str::FromStr;
use std::time::Duration;

use joule_bus::{BoxFuture, Bus, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_domain::{ChargePointId, Currency, Money, TenantId};
use joule_proto::EventName;
use joule_proto::v1::charger_command_request::Command;
use joule_proto::v1::{ChargerCommandRequest, CostUpdate, SessionCostUpdated, SessionPriced};
use rust_decimal::Decimal;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::commands;
use crate::ocpp::calls::answer_status;

/// Durable consumer of running costs (`pricing.*.cost_updated`).
pub const RUNNING_COST_CONSUMER: &str = "gateway-cost-updates";
/// Durable consumer of final prices (`pricing.*.priced`).
pub const FINAL_COST_CONSUMER: &str = "gateway-final-costs";

/// Display bookkeeping older than this is deleted (sessions end long before).
const KEEP_DAYS: i64 = 7;
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Which cost a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostKind {
    Running,
    Final,
}

impl CostKind {
    pub fn spec(self) -> ConsumerSpec {
        let (durable, filter) = match self {
            CostKind::Running => (RUNNING_COST_CONSUMER, "pricing.*.cost_updated"),
            CostKind::Final => (FINAL_COST_CONSUMER, "pricing.*.priced"),
        };
        ConsumerSpec {
            domain: Domain::Pricing,
            durable: durable.into(),
            filter: Some(filter.into()),
            // A display on the charger: the next cost supersedes a parked one.
            on_park: OnPark::Skip,
        }
    }
}

/// What to show on one charger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostDisplay {
    pub session_id: String,
    pub charge_point_id: ChargePointId,
    pub transaction_id: String,
    /// Incl. VAT, rounded to the currency's minor unit.
    pub total: Money,
    /// `SessionCostUpdated.sequence`; unused for the final cost.
    pub sequence: u64,
    pub kind: CostKind,
}

impl CostDisplay {
    /// `None` when the estimate does not say where the session runs (nothing to show it on).
    pub fn running(u: &SessionCostUpdated) -> Result<Option<Self>, String> {
        let Some(charge_point_id) = shown_on(&u.charge_point_id, &u.transaction_id) else {
            return Ok(None);
        };
        Ok(Some(Self {
            session_id: u.session_id.clone(),
            charge_point_id,
            transaction_id: u.transaction_id.clone(),
            total: display_total(&u.total_incl_vat, &u.currency)?,
            sequence: u.sequence,
            kind: CostKind::Running,
        }))
    }

    /// `None` for a price without its charger (published before pricing carried it).
    pub fn priced(p: &SessionPriced) -> Result<Option<Self>, String> {
        let Some(charge_point_id) = shown_on(&p.charge_point_id, &p.transaction_id) else {
            return Ok(None);
        };
        Ok(Some(Self {
            session_id: p.session_id.clone(),
            charge_point_id,
            transaction_id: p.transaction_id.clone(),
            total: display_total(&p.total_incl_vat, &p.currency)?,
            sequence: 0,
            kind: CostKind::Final,
        }))
    }

    /// The command that shows it.
    pub fn request(&self, tenant: &TenantId) -> ChargerCommandRequest {
        ChargerCommandRequest {
            tenant_id: tenant.to_string(),
            charge_point_id: self.charge_point_id.to_string(),
            command: Some(Command::CostUpdate(CostUpdate {
                transaction_id: self.transaction_id.clone(),
                total_cost: self.total.amount.to_string(),
                r#final: self.kind == CostKind::Final,
                price_text: format!("{} {}", self.total.amount, self.total.currency.code()),
                meter_value_wh: String::new(),
            })),
        }
    }
}

/// The charger a cost is shown on: `None` without a transaction, or without a charge point id (or
/// one no charger can have, which no command could reach either).
fn shown_on(charge_point_id: &str, transaction_id: &str) -> Option<ChargePointId> {
    if charge_point_id.is_empty() || transaction_id.is_empty() {
        return None;
    }
    match charge_point_id.parse() {
        Ok(cp) => Some(cp),
        Err(e) => {
            tracing::info!(charge_point_id, error = %e, "cost not shown: no charger can have this id");
            None
        }
    }
}

/// Pricing's totals are unrounded; a display shows what an invoice line would.
pub fn display_total(amount: &str, currency: &str) -> Result<Money, String> {
    let currency =
        Currency::from_str(currency).map_err(|e| format!("currency {currency:?}: {e}"))?;
    let amount = Decimal::from_str(amount.trim())
        .map_err(|_| format!("total {amount:?} is not a decimal number"))?;
    Ok(Money::new(amount, currency).round_invoice_line())
}

/// Records that `display` is about to be sent; `false` when it is stale (an equal or newer
/// running cost, or the final cost, was already sent for the session).
pub async fn claim(pool: &PgPool, display: &CostDisplay) -> Result<bool, sqlx::Error> {
    let sequence = i64::try_from(display.sequence).unwrap_or(i64::MAX);
    let claimed: Option<i32> = match display.kind {
        CostKind::Running => {
            sqlx::query_scalar(
                "INSERT INTO gateway.cost_display (session_id, sequence, final, updated_at)
                 VALUES ($1, $2, false, now())
                 ON CONFLICT (session_id) DO UPDATE
                 SET sequence = EXCLUDED.sequence, updated_at = EXCLUDED.updated_at
                 WHERE NOT cost_display.final AND cost_display.sequence < EXCLUDED.sequence
                 RETURNING 1",
            )
            .bind(&display.session_id)
            .bind(sequence)
            .fetch_optional(pool)
            .await?
        }
        CostKind::Final => {
            sqlx::query_scalar(
                "INSERT INTO gateway.cost_display (session_id, sequence, final, updated_at)
                 VALUES ($1, 0, true, now())
                 ON CONFLICT (session_id) DO UPDATE
                 SET final = true, updated_at = EXCLUDED.updated_at
                 WHERE NOT cost_display.final
                 RETURNING 1",
            )
            .bind(&display.session_id)
            .fetch_optional(pool)
            .await?
        }
    };
    Ok(claimed.is_some())
}

/// The consumer of one [`CostKind`].
pub struct CostDisplayConsumer {
    pub pool: PgPool,
    pub bus: Bus,
    /// The deployment's tenant, for envelopes that name none.
    pub default_tenant: TenantId,
    pub kind: CostKind,
    /// How long to wait for the charger's answer.
    pub timeout: Duration,
}

impl CostDisplayConsumer {
    async fn show(&self, message: &Received) -> Result<(), HandlerError> {
        let shown = match (self.kind, message.event_type()) {
            (CostKind::Running, SessionCostUpdated::NAME) => {
                CostDisplay::running(&message.payload()?)
            }
            (CostKind::Final, SessionPriced::NAME) => CostDisplay::priced(&message.payload()?),
            _ => return Ok(()),
        };
        let Some(shown) = shown.map_err(HandlerError::Rejected)? else {
            return Ok(());
        };
        let tenant = match message.envelope.tenant_id.as_str() {
            "" => self.default_tenant.clone(),
            given => given
                .parse::<TenantId>()
                .map_err(|e| HandlerError::Rejected(format!("tenant_id: {e}")))?,
        };
        if !claim(&self.pool, &shown)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?
        {
            tracing::debug!(session_id = %shown.session_id, sequence = shown.sequence, "cost display skipped: a newer one was sent");
            return Ok(());
        }
        let request = shown.request(&tenant);
        let outcome = commands::route(&self.pool, &self.bus, &tenant, request, self.timeout).await;
        let cp = &shown.charge_point_id;
        match outcome {
            Ok(result) => {
                let status =
                    answer_status(&serde_json::from_str(&result.response_json).unwrap_or_default());
                tracing::info!(charge_point_id = %cp, action = %result.action, %status, total = %shown.total.amount, kind = ?shown.kind, "cost shown on the charger");
            }
            // Best effort: an offline charger, one that refuses, or one that cannot show a final
            // cost this way (2.0.1) is noted and the stream moves on.
            Err(error) => {
                tracing::info!(charge_point_id = %cp, %error, kind = ?shown.kind, "cost not shown on the charger");
            }
        }
        Ok(())
    }
}

impl Handler for CostDisplayConsumer {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(self.show(message))
    }
}

/// Deletes display bookkeeping of long-finished sessions, hourly until shutdown.
pub async fn run_purge(
    pool: PgPool,
    shutdown: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    joule_runtime::every(
        "gateway-cost-display-purge",
        PURGE_EVERY,
        shutdown,
        || async {
            let cutoff = chrono::Utc::now() - chrono::Duration::days(KEEP_DAYS);
            sqlx::query("DELETE FROM gateway.cost_display WHERE updated_at < $1")
                .bind(cutoff)
                .execute(&pool)
                .await
                .map(|done| done.rows_affected())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_total_is_rounded_like_an_invoice_line() {
        let m = display_total("3.104999", "EUR").unwrap();
        assert_eq!(m.amount.to_string(), "3.10");
        assert!(display_total("abc", "EUR").is_err());
        assert!(display_total("1", "XXXX").is_err());
    }

    #[test]
    fn a_running_cost_becomes_a_cost_update_command() {
        let u = SessionCostUpdated {
            session_id: "s".into(),
            charge_point_id: "CP-1".into(),
            transaction_id: "42".into(),
            currency: "EUR".into(),
            total_incl_vat: "7.6249".into(),
            sequence: 9,
            ..Default::default()
        };
        let d = CostDisplay::running(&u).unwrap().unwrap();
        let Some(Command::CostUpdate(c)) = d.request(&TenantId::default_tenant()).command else {
            panic!("a cost update")
        };
        assert_eq!(c.total_cost, "7.62");
        assert!(!c.r#final);
        assert_eq!(c.price_text, "7.62 EUR");
        let anonymous = SessionCostUpdated {
            charge_point_id: String::new(),
            ..u
        };
        assert_eq!(CostDisplay::running(&anonymous).unwrap(), None);
    }
}
