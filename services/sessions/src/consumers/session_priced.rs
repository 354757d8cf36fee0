//! The consumer of PRICING (durable `sessions-pricing`): a `SessionPriced` copies the session's
//! cost onto the read model. Other pricing events are not a session's.

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_proto::v1;
use sqlx::PgPool;

use crate::projections::session_view;

pub struct SessionPriced {
    pub pool: PgPool,
}

impl Handler for SessionPriced {
    fn handle<'a>(&'a self, message: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if message.event_type() != "joule.v1.SessionPriced" {
                return Ok(());
            }
            let m: v1::SessionPriced = message
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            session_view::set_cost(
                &self.pool,
                &m.session_id,
                &m.total_excl_vat,
                &m.total_incl_vat,
                &m.currency,
            )
            .await
            .map_err(joule_store::consumer_error)
        })
    }
}
