//! The relay's handler: what the payments service does with its committed events. The read tables
//! (one module each beside this one) are updated in the relay's transaction; the PAYMENT stream's
//! messages are mapped in [`crate::wire`].

use cqrs_es::Aggregate;
use joule_bus::Outgoing;
use joule_store::{BoxFuture, OutboxHandler, ProjectionError, StoredEvent};
use sqlx::PgConnection;

use super::{intents, methods, settlements, wallets};
use crate::domain::intent::{IntentEvent, PaymentIntent};
use crate::domain::methods::AccountMethods;
use crate::domain::settlement::{SettlementEvent, SettlementRecord};
use crate::domain::wallet::{Wallet, WalletEvent};
use crate::wire;

pub struct PaymentsOutbox {
    schema: String,
}

impl PaymentsOutbox {
    pub fn new(schema: &str) -> Self {
        Self {
            schema: schema.to_owned(),
        }
    }
}

impl OutboxHandler for PaymentsOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            match event.aggregate_type.as_str() {
                PaymentIntent::TYPE => intents::project(conn, &self.schema, &[event]).await,
                AccountMethods::TYPE => methods::project(conn, &self.schema, event).await,
                Wallet::TYPE => wallets::project(conn, &self.schema, event).await,
                SettlementRecord::TYPE => settlements::project(conn, &self.schema, event).await,
                _ => Ok(()),
            }
        })
    }

    /// The batch's intent events in one statement, then the others (methods, wallets, settlement)
    /// one by one: they touch other tables, so the order between the two groups does not matter.
    fn project_batch<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let (intents, others): (Vec<&StoredEvent>, Vec<&StoredEvent>) = events
                .iter()
                .partition(|e| e.aggregate_type == PaymentIntent::TYPE);
            intents::project(conn, &self.schema, &intents).await?;
            for event in others {
                self.project(conn, event).await?;
            }
            Ok(())
        })
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        let id = &event.aggregate_id;
        let meta = |at| event.meta(0, at);
        let decode = |e: serde_json::Error| e.to_string();
        let message = match event.aggregate_type.as_str() {
            PaymentIntent::TYPE => {
                wire::intent_message(id, &event.decode::<IntentEvent>().map_err(decode)?, meta)
            }
            Wallet::TYPE => {
                wire::wallet_message(id, event.decode::<WalletEvent>().map_err(decode)?, meta)
            }
            SettlementRecord::TYPE => Some(wire::settlement_message(
                id,
                event.decode::<SettlementEvent>().map_err(decode)?,
                meta,
            )),
            _ => None,
        };
        Ok(message
            .map(|(kind, envelope)| Outgoing {
                subject: format!("payment.{id}.{kind}"),
                envelope,
                trace_headers: event.trace_headers(),
            })
            .into_iter()
            .collect())
    }
}
