//! `payments-accounts` (REGISTRY, `registry.account.*`): each account's currency, which a session's
//! hold is in.

use joule_bus::{BoxFuture, Handler, HandlerError, Received};
use joule_domain::{AccountId, TenantId};
use joule_proto::v1::AccountOpened;
use sqlx::PgPool;

use super::{meta, parse};

pub struct AccountsHandler {
    pub pool: PgPool,
    pub schema: String,
    pub default_tenant: TenantId,
}

impl Handler for AccountsHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if received.event_type() != "joule.v1.AccountOpened" {
                return Ok(());
            }
            let opened: AccountOpened = received.payload()?;
            let account: AccountId = parse("account_id", &opened.account_id)?;
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
