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
            let Some(m) = message.payload_if::<v1::SessionPriced>()? else {
                return Ok(());
            };
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
