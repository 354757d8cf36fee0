//! What happens to each committed pricing event: the read tables are updated ([`super::tariffs`],
//! [`super::assignments`], [`super::priced_sessions`]), and a priced session is published as
//! `SessionPriced` (`pricing.<session_id>.priced`), a re-rated one as `SessionPriceAdjusted`
//! (`pricing.<session_id>.adjusted`), on stream PRICING. The relay hands over events upcast to
//! their current shape ([`crate::domain::priced_session::UPCASTERS`]).

use joule_bus::{Outgoing, envelope};
use joule_store::{BoxFuture, Decider, OutboxHandler, ProjectionError, StoredEvent};
use sqlx::PgConnection;

use super::{priced_sessions, tariffs};
use crate::domain::priced_session::{PricedSession, PricedSessionEvent};
use crate::domain::tariff::Tariff;
use crate::wire;

pub struct PricingOutbox;

impl OutboxHandler for PricingOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let tenant_id = event.metadata.get("tenant_id").cloned().unwrap_or_default();
            match event.aggregate_type.as_str() {
                Tariff::TYPE => tariffs::project(conn, event, &tenant_id).await,
                PricedSession::TYPE => priced_sessions::project(conn, event, &tenant_id).await,
                _ => Ok(()),
            }
        })
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        if event.aggregate_type != PricedSession::TYPE {
            return Ok(vec![]);
        }
        let decoded = event
            .decode::<PricedSessionEvent>()
            .map_err(|e| e.to_string())?;
        let (subject, envelope) = match &decoded {
            PricedSessionEvent::SessionPriced {
                session_id,
                priced_at,
                ..
            } => {
                let message = wire::session_priced_message(&decoded)
                    .ok_or_else(|| format!("session {session_id}: no SessionPriced message"))?;
                (
                    format!("pricing.{session_id}.priced"),
                    envelope(&message, event.meta(0, *priced_at)),
                )
            }
            PricedSessionEvent::PricingFailed { .. } => return Ok(vec![]),
            PricedSessionEvent::SessionRerated(r) => (
                format!("pricing.{}.adjusted", r.session_id),
                envelope(
                    &wire::session_price_adjusted(r),
                    event.meta(0, r.rerated_at),
                ),
            ),
        };
        Ok(vec![Outgoing {
            subject,
            envelope,
            trace_headers: event.trace_headers(),
        }])
    }
}
