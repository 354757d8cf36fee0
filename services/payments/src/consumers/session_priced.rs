//! `payments-priced` (PRICING, `pricing.*.priced`): captures a priced session from its hold.

use std::sync::Arc;

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::TenantId;
use joule_proto::v1::SessionPriced;

use super::{flow_error, meta};
use crate::flow::Flow;

pub struct PricedHandler {
    pub flow: Arc<Flow>,
    pub default_tenant: TenantId,
}

impl Handler for PricedHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let priced: SessionPriced = received.payload()?;
            let meta = meta(received, &self.default_tenant);
            if let Some(intent) = self
                .flow
                .settle_priced(&priced, &meta)
                .await
                .map_err(flow_error)?
            {
                tracing::info!(session = %priced.session_id, status = intent.status().map_or("", |s| s.as_str()),
                    captured = %intent.captured, "priced session settled");
            }
            Ok(())
        })
    }
}
