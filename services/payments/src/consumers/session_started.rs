//! `payments-sessions` (SESSION, `session.*.started`): places the hold of a session that starts on
//! an account with a default card or wallet.

use std::sync::Arc;

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{AccountId, SessionId, TenantId};
use joule_proto::v1::SessionStarted;

use super::{flow_error, meta, parse};
use crate::flow::{Decision, Flow, SessionStart};

pub struct SessionsHandler {
    pub flow: Arc<Flow>,
    pub default_tenant: TenantId,
}

impl Handler for SessionsHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let started: SessionStarted = received.payload()?;
            if started.account_id.is_empty() {
                return Ok(());
            }
            let session: SessionId = parse("session_id", &started.session_id)?;
            let account: AccountId = parse("account_id", &started.account_id)?;
            let meta = meta(received, &self.default_tenant);
            let decision = self
                .flow
                .start_session(
                    SessionStart {
                        tenant_id: parse("tenant_id", &meta.tenant_id)?,
                        session_id: session,
                        account_id: account,
                        currency: None,
                        charger_id: Some(started.charger_id.clone()).filter(|c| !c.is_empty()),
                        amount: None,
                    },
                    &meta,
                )
                .await
                .map_err(flow_error)?;
            match decision {
                Decision::Approved(_) => tracing::info!(%session, %account, "session hold placed"),
                Decision::Declined(i) => tracing::info!(%session, %account,
                    code = i.failure.as_ref().map(|f| f.code.as_str()).unwrap_or(""), "session hold declined"),
                Decision::PayLater(why) => {
                    tracing::debug!(%session, %account, why, "session pays later")
                }
            }
            Ok(())
        })
    }
}
