//! Settlement reports: a provider's balance transactions (what it charged as fees, what it paid out),
//! imported as CSV or JSON ([`report`]) and recorded once per transaction, for reconciliation and the
//! ledger.

pub mod report;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{Currency, Money, TenantId};
use joule_store::Upcaster;
use serde::{Deserialize, Serialize};

use crate::domain::{in_variant, object_at, wrap_money};
use crate::ids::IntentId;

pub use report::{ReportError, parse_report};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementLine {
    pub provider: String,
    pub transaction_id: String,
    /// charge, refund, payout, fee, adjustment.
    pub category: String,
    /// `gross`, `fee` and `net` are in one currency (the report's line's).
    pub gross: Money,
    pub fee: Money,
    pub net: Money,
    pub intent_reference: String,
    pub payout_id: String,
    pub occurred_at: DateTime<Utc>,
}

impl SettlementLine {
    pub fn currency(&self) -> Currency {
        self.gross.currency
    }
}

/// One recorded settlement line; its id derives from the provider's transaction id, so importing the
/// same report (or overlapping reports) records each transaction once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecord {
    pub recorded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLine {
    pub tenant_id: TenantId,
    pub line: SettlementLine,
    /// Joule's intent, when the line names one Joule knows.
    pub intent_id: Option<IntentId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettlementEvent {
    /// 2.0: the line's amounts are `Money` (1.0: decimals beside the line's `currency`).
    SettlementLineRecorded {
        tenant_id: TenantId,
        line: SettlementLine,
        intent_id: Option<IntentId>,
    },
}

impl DomainEvent for SettlementEvent {
    fn event_type(&self) -> String {
        "SettlementLineRecorded".into()
    }

    fn event_version(&self) -> String {
        "2.0".into()
    }
}

/// 1.0 -> 2.0 of `SettlementLineRecorded`: the line's decimals beside its `currency` become `Money`.
pub const UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "SettlementLineRecorded",
    version: "2.0",
    upcast: |p| {
        in_variant(p, |o| {
            if let Some(line) = object_at(o, "line")
                && let Some(currency) = line.remove("currency")
            {
                wrap_money(line, &["gross", "fee", "net"], &currency);
            }
        })
    },
}];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("settlement line refused")]
pub struct SettlementError;

aggregate!(SettlementRecord {
    type: "SettlementLine",
    command: RecordLine,
    event: SettlementEvent,
    error: SettlementError,
    upcasters: UPCASTERS,
});

impl SettlementRecord {
    /// A line is recorded once.
    fn decide(&self, command: RecordLine) -> Result<Vec<SettlementEvent>, SettlementError> {
        if self.recorded {
            return Ok(vec![]);
        }
        Ok(vec![SettlementEvent::SettlementLineRecorded {
            tenant_id: command.tenant_id,
            line: command.line,
            intent_id: command.intent_id,
        }])
    }

    fn evolve(&mut self, _: SettlementEvent) {
        self.recorded = true;
    }
}
