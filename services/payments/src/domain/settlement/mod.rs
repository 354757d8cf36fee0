//! Settlement reports: a provider's balance transactions (what it charged as fees, what it paid out),
//! imported as CSV or JSON ([`report`]) and recorded once per transaction, for reconciliation and the
//! ledger.

pub mod report;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use report::{ReportError, parse_report};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementLine {
    pub provider: String,
    pub transaction_id: String,
    /// charge, refund, payout, fee, adjustment.
    pub category: String,
    pub currency: Currency,
    pub gross: Decimal,
    pub fee: Decimal,
    pub net: Decimal,
    pub intent_reference: String,
    pub payout_id: String,
    pub occurred_at: DateTime<Utc>,
}

/// One recorded settlement line; its id derives from the provider's transaction id, so importing the
/// same report (or overlapping reports) records each transaction once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecord {
    pub recorded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLine {
    pub tenant_id: String,
    pub line: SettlementLine,
    /// Joule's intent, when the line names one Joule knows.
    pub intent_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettlementEvent {
    SettlementLineRecorded {
        tenant_id: String,
        line: SettlementLine,
        intent_id: Option<String>,
    },
}

impl DomainEvent for SettlementEvent {
    fn event_type(&self) -> String {
        "SettlementLineRecorded".into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("settlement line refused")]
pub struct SettlementError;

impl Aggregate for SettlementRecord {
    const TYPE: &'static str = "SettlementLine";
    type Command = RecordLine;
    type Event = SettlementEvent;
    type Error = SettlementError;
    type Services = ();

    async fn handle(
        &mut self,
        command: RecordLine,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SettlementError> {
        if !self.recorded {
            sink.write(
                SettlementEvent::SettlementLineRecorded {
                    tenant_id: command.tenant_id,
                    line: command.line,
                    intent_id: command.intent_id,
                },
                self,
            )
            .await;
        }
        Ok(())
    }

    fn apply(&mut self, _: SettlementEvent) {
        self.recorded = true;
    }
}
