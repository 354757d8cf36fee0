//! `ledger-adjustments`: every adjustment note invoicing issues for a re-rated session
//! (`AdjustmentIssued`, `invoice.*.adjusted`) is posted once.

use chrono::Utc;
use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};
use joule_proto::v1::AdjustmentIssued;

use super::Poster;
use crate::rules::adjustment_entry;

pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Invoice,
        durable: "ledger-adjustments".into(),
        filter: Some("invoice.*.adjusted".into()),
        // Money: adjustment notes are posted in their order, none skipped.
        on_park: OnPark::HoldAggregate,
    }
}

pub struct AdjustmentHandler(pub Poster);

impl Handler for AdjustmentHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let message: AdjustmentIssued = received.payload()?;
            let (entry_id, entry) = adjustment_entry(&message, Utc::now()).map_err(|e| {
                HandlerError::Rejected(format!("adjustment {}: {e}", message.adjustment_id))
            })?;
            if entry.postings.is_empty() {
                return Ok(());
            }
            let what = format!("adjustment {}", message.adjustment_id);
            self.0.post(received, entry_id, entry, &what).await?;
            tracing::info!(adjustment = %message.adjustment_id, entry = %entry_id, "adjustment posted");
            Ok(())
        })
    }
}
