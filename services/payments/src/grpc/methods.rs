//! Saved payment methods: saving a provider token (described by the provider once) and listing an
//! account's methods.

use chrono::Utc;
use joule_domain::{AccountId, TenantId};
use joule_proto::v1;
use joule_store::CommandMeta;
use tonic::Status;

use super::status::{self, invalid, refused};
use super::{PaymentsGrpc, meta, next_cursor, page, parse_id, tenant};
use crate::domain::intent::ProviderKind;
use crate::domain::methods::{AccountMethods, MethodsCommand, SavedMethod};
use crate::ids::MethodId;
use crate::projections::methods as read;
use crate::provider::DescribeCall;
use crate::wire;

impl PaymentsGrpc {
    /// Saves `method` for `account` (once), its default when `make_default`.
    pub(super) async fn save(
        &self,
        tenant: &TenantId,
        account: AccountId,
        method: SavedMethod,
        make_default: bool,
        meta: &CommandMeta,
    ) -> Result<AccountMethods, Status> {
        self.flow
            .engine
            .methods
            .execute(
                &account.to_string(),
                MethodsCommand::Save {
                    tenant_id: tenant.clone(),
                    account_id: account,
                    method,
                    make_default,
                    at: Utc::now(),
                },
                meta,
            )
            .await
            .map_err(status::methods)
    }

    pub(super) async fn save_method(
        &self,
        r: v1::SavePaymentMethodRequest,
    ) -> Result<v1::PaymentMethod, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let account: AccountId = parse_id("account_id", &r.account_id)?;
        let provider = ProviderKind::parse_external(r.provider.trim()).ok_or_else(|| {
            invalid(
                "provider",
                format!("{:?} is not a provider (sandbox or stripe)", r.provider),
            )
        })?;
        let token = r.provider_token.trim();
        if token.is_empty() {
            return Err(invalid("provider_token", "is required"));
        }
        let engine = &self.flow.engine;
        let methods = engine
            .methods
            .load(&account.to_string())
            .await
            .map_err(status::store)?;
        let method_id = MethodId::for_token(account, provider.as_str(), token);
        let saved = match methods.get(method_id) {
            Some(m) => m.clone(),
            None => {
                let p = engine
                    .providers
                    .get(provider)
                    .map_err(|e| refused(format!("provider: {}", e.message)))?;
                let details = p
                    .describe(&DescribeCall {
                        idempotency_key: format!("joule-method-{method_id}"),
                        account_id: account,
                        customer: methods.customer(provider),
                        token,
                    })
                    .await
                    .map_err(|e| status::describe(provider.as_str(), e))?;
                SavedMethod {
                    method_id,
                    provider,
                    token: details.token,
                    customer: details.customer,
                    brand: details.brand,
                    last4: details.last4,
                    exp_month: details.exp_month,
                    exp_year: details.exp_year,
                }
            }
        };
        let methods = self
            .save(
                &tenant,
                account,
                saved.clone(),
                r.make_default,
                &meta(&tenant),
            )
            .await?;
        Ok(wire::method(account, &saved, &methods))
    }

    pub(super) async fn list_methods(
        &self,
        r: v1::ListPaymentMethodsRequest,
    ) -> Result<v1::ListPaymentMethodsResponse, Status> {
        let account: AccountId = parse_id("account_id", &r.account_id)?;
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let page = page(&r.cursor, r.page_size)?;
        let (payment_methods, next) = read::methods(
            &self.pool,
            &self.schema,
            tenant.as_str(),
            account.as_uuid(),
            page,
        )
        .await
        .map_err(status::db)?;
        Ok(v1::ListPaymentMethodsResponse {
            payment_methods,
            next_cursor: next_cursor(next),
        })
    }
}
