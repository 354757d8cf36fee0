//! `ledger-payments`: the money movements of the PAYMENT stream (holds, captures, refunds, fees,
//! payouts), each posted once as the entry [`crate::rules::payments`] makes of it.

use chrono::Utc;
use joule_bus::{BoxFuture, ConsumerSpec, Domain, Handler, HandlerError, OnPark, Received};

use super::Poster;
use crate::rules::payment_entry;

pub fn spec() -> ConsumerSpec {
    ConsumerSpec {
        domain: Domain::Payment,
        durable: "ledger-payments".into(),
        filter: None,
        // Money: a capture is not posted before the hold it clears.
        on_park: OnPark::HoldAggregate,
    }
}

pub struct PaymentHandler(pub Poster);

impl Handler for PaymentHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let posted_at = joule_proto::time::from_proto(received.envelope.occurred_at.as_ref())
                .unwrap_or_else(Utc::now);
            let Some((entry_id, entry)) = payment_entry(&received.envelope, posted_at)
                .map_err(|e| HandlerError::Rejected(format!("{}: {e}", received.event_type())))?
            else {
                return Ok(());
            };
            let what = format!("{} {}", received.event_type(), received.envelope.event_id);
            self.0.post(received, entry_id, entry, &what).await
        })
    }
}
