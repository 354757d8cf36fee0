//! Settlement reports: importing a provider's report records each of its lines once.

use joule_proto::v1;
use rust_decimal::Decimal;
use tonic::Status;
use uuid::Uuid;

use super::status::{self, invalid};
use super::{PaymentsGrpc, meta, tenant};
use crate::domain::intent::ProviderKind;
use crate::domain::settlement::{RecordLine, parse_report};
use crate::ids::{IntentId, SettlementLineId};
use crate::wire;

impl PaymentsGrpc {
    pub(super) async fn import(
        &self,
        r: v1::ImportSettlementReportRequest,
    ) -> Result<v1::ImportSettlementReportResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let provider = ProviderKind::parse_external(r.provider.trim())
            .ok_or_else(|| invalid("provider", "must be sandbox or stripe"))?;
        let lines = parse_report(provider.as_str(), r.format.trim(), &r.content)?;
        let m = meta(&tenant);
        let (mut new, mut fees, mut payouts) = (0u32, Decimal::ZERO, Decimal::ZERO);
        let currency = lines[0].currency();
        for line in &lines {
            let id = SettlementLineId::for_transaction(provider.as_str(), &line.transaction_id);
            let intent_id = self.intent_of(&line.intent_reference).await?;
            let before = self
                .settlements
                .load(&id.to_string())
                .await
                .map_err(status::store)?;
            let record = RecordLine {
                tenant_id: tenant.clone(),
                line: line.clone(),
                intent_id,
            };
            self.settlements
                .execute(&id.to_string(), record, &m)
                .await
                .map_err(status::store)?;
            if !before.recorded {
                // At most MAX_SETTLEMENT_LINES lines.
                new = new.saturating_add(1);
            }
            if line.currency() == currency {
                // Lines are at most the currency's maximum and at most MAX_SETTLEMENT_LINES of them:
                // far inside Decimal's range, still checked.
                let sums = fees
                    .checked_add(line.fee.amount)
                    .zip(match line.category.as_str() {
                        "payout" => payouts.checked_sub(line.net.amount),
                        _ => Some(payouts),
                    })
                    .ok_or_else(|| invalid("content", "the report's totals are out of range"))?;
                (fees, payouts) = sums;
            }
        }
        Ok(v1::ImportSettlementReportResponse {
            lines: lines.len() as u32,
            lines_new: new,
            currency: currency.to_string(),
            fees: wire::amount(fees, currency),
            payouts: wire::amount(payouts, currency),
        })
    }

    /// Joule's intent for a report's reference: Joule's own id, or the provider's hold reference.
    async fn intent_of(&self, reference: &str) -> Result<Option<IntentId>, Status> {
        if reference.is_empty() {
            return Ok(None);
        }
        if let Ok(id) = Uuid::parse_str(reference) {
            return Ok(Some(id.into()));
        }
        let found: Option<Uuid> = sqlx::query_scalar(&format!(
            "SELECT intent_id FROM {}.intent_events WHERE type = 'PaymentAuthorized' AND detail = $1 LIMIT 1",
            self.schema
        ))
        .bind(reference)
        .fetch_optional(&self.pool)
        .await
        .map_err(status::db)?;
        Ok(found.map(IntentId::from))
    }
}
