//! The consumers: accounts from REGISTRY (their currency), session starts from SESSION (place the
//! hold) and priced sessions from PRICING (capture). Each is idempotent per session.

use std::sync::Arc;

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{AccountId, SessionId};
use joule_proto::v1::{AccountOpened, SessionPriced, SessionStarted};
use joule_store::CommandMeta;
use sqlx::PgPool;

use crate::engine::EngineError;
use crate::flow::{Decision, Flow, FlowError, SessionStart};

fn meta(received: &Received, default_tenant: &str) -> CommandMeta {
    let mut meta = CommandMeta::caused_by(&received.envelope);
    if meta.tenant_id.is_empty() {
        meta.tenant_id = default_tenant.to_owned();
    }
    meta
}

fn handler_error(e: FlowError) -> HandlerError {
    match e {
        FlowError::Invalid(e) => HandlerError::Rejected(e.to_string()),
        FlowError::Engine(EngineError::Intent(e)) => HandlerError::Rejected(e.to_string()),
        other => HandlerError::Transient(other.to_string()),
    }
}

/// Keeps each account's currency: a session's hold is in it.
pub struct AccountsHandler {
    pub pool: PgPool,
    pub schema: String,
    pub default_tenant: String,
}

impl Handler for AccountsHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if received.event_type() != "joule.v1.AccountOpened" {
                return Ok(());
            }
            let opened: AccountOpened = received
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            let account: AccountId = opened
                .account_id
                .parse()
                .map_err(|e| HandlerError::Rejected(format!("account_id: {e}")))?;
            let tenant = meta(received, &self.default_tenant).tenant_id;
            sqlx::query(&format!(
                "INSERT INTO {}.accounts (account_id, tenant_id, currency) VALUES ($1, $2, $3)
                 ON CONFLICT (account_id) DO UPDATE SET currency = EXCLUDED.currency",
                self.schema
            ))
            .bind(account.as_uuid())
            .bind(tenant)
            .bind(&opened.currency)
            .execute(&self.pool)
            .await
            .map_err(joule_store::consumer_error)?;
            Ok(())
        })
    }
}

/// Places the hold of a session that starts on an account with a default card or wallet.
pub struct SessionsHandler {
    pub flow: Arc<Flow>,
    pub default_tenant: String,
}

impl Handler for SessionsHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let started: SessionStarted = received
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            if started.account_id.is_empty() {
                return Ok(());
            }
            let session: SessionId = started
                .session_id
                .parse()
                .map_err(|e| HandlerError::Rejected(format!("session_id: {e}")))?;
            let account: AccountId = started
                .account_id
                .parse()
                .map_err(|e| HandlerError::Rejected(format!("account_id: {e}")))?;
            let meta = meta(received, &self.default_tenant);
            let decision = self
                .flow
                .start_session(
                    SessionStart {
                        tenant_id: meta.tenant_id.clone(),
                        session_id: session,
                        account_id: account,
                        currency: None,
                        charger_id: Some(started.charger_id.clone()).filter(|c| !c.is_empty()),
                        amount: None,
                    },
                    &meta,
                )
                .await
                .map_err(handler_error)?;
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

/// Captures a priced session from its hold.
pub struct PricedHandler {
    pub flow: Arc<Flow>,
    pub default_tenant: String,
}

impl Handler for PricedHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let priced: SessionPriced = received
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            let meta = meta(received, &self.default_tenant);
            if let Some(intent) = self
                .flow
                .settle_priced(&priced, &meta)
                .await
                .map_err(handler_error)?
            {
                tracing::info!(session = %priced.session_id, status = intent.status().map_or("", |s| s.as_str()),
                    captured = %intent.captured, "priced session settled");
            }
            Ok(())
        })
    }
}
