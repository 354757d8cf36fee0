//! Prepaid wallets: creating one (saved as the account's wallet method), topping it up with funds
//! received or by charging a saved card, and reading it with its history.

use chrono::Utc;
use joule_domain::{AccountId, Currency, Money, TenantId};
use joule_proto::v1;
use joule_store::CommandMeta;
use tonic::Status;

use super::status::{self, invalid, not_found, refused};
use super::{PaymentsGrpc, meta, next_cursor, page, parse_id, tenant};
use crate::amounts::{parse_amount, parse_currency};
use crate::domain::intent::{
    Decline, IntentContext, Open, ProviderKind, Purpose, Status as Intent,
};
use crate::domain::methods::SavedMethod;
use crate::domain::wallet::{Funding, Wallet, WalletCommand};
use crate::ids::{IntentId, MethodId, WalletId};
use crate::projections::wallets as read;
use crate::wire;

/// A top-up charged to a saved card.
struct CardTopUp<'a> {
    tenant: &'a TenantId,
    account: AccountId,
    wallet: WalletId,
    top_up_id: &'a str,
    method_id: MethodId,
    amount: Money,
    meta: &'a CommandMeta,
}

impl PaymentsGrpc {
    /// The tenant's wallet `raw`: another tenant's is not found.
    async fn load_wallet(
        &self,
        tenant: &TenantId,
        raw: &str,
    ) -> Result<(WalletId, Wallet), Status> {
        let id: WalletId = parse_id("wallet_id", raw)?;
        let wallet = self
            .wallets
            .load(&id.to_string())
            .await
            .map_err(status::store)?;
        if wallet.currency.is_none() || wallet.tenant_id.as_ref() != Some(tenant) {
            return Err(not_found(format!("no wallet with id {id}")));
        }
        Ok((id, wallet))
    }

    async fn run_wallet(
        &self,
        id: WalletId,
        command: WalletCommand,
        meta: &CommandMeta,
    ) -> Result<Wallet, Status> {
        self.wallets
            .execute(&id.to_string(), command, meta)
            .await
            .map_err(status::wallet)
    }

    pub(super) async fn create_wallet(
        &self,
        r: v1::CreateWalletRequest,
    ) -> Result<v1::Wallet, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let account: AccountId = parse_id("account_id", &r.account_id)?;
        let currency = parse_currency("currency", &r.currency, None)?;
        let id = WalletId::for_account(account, currency);
        let open = WalletCommand::Open {
            tenant_id: tenant.clone(),
            account_id: account,
            currency,
            at: Utc::now(),
        };
        let m = meta(&tenant);
        let wallet = self.run_wallet(id, open, &m).await?;
        let method = SavedMethod {
            method_id: MethodId::for_token(account, "wallet", &id.to_string()),
            provider: ProviderKind::Wallet,
            token: id.to_string(),
            customer: account.to_string(),
            brand: "wallet".into(),
            last4: String::new(),
            exp_month: 0,
            exp_year: 0,
        };
        self.save(&tenant, account, method, r.make_default, &m)
            .await?;
        Ok(wire::wallet(id, &wallet))
    }

    pub(super) async fn top_up(&self, r: v1::TopUpWalletRequest) -> Result<v1::Wallet, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let (id, wallet) = self.load_wallet(&tenant, &r.wallet_id).await?;
        let (account, held_currency) = (
            wallet
                .account_id
                .ok_or_else(|| not_found(format!("no wallet with id {id}")))?,
            wallet.currency.unwrap_or(Currency::EUR),
        );
        let currency = parse_currency("currency", &r.currency, Some(held_currency))?;
        if currency != held_currency {
            return Err(invalid(
                "currency",
                format!("{currency} does not match the wallet's currency {held_currency}"),
            ));
        }
        let amount = parse_amount("amount", &r.amount, currency, false)?;
        let m = meta(&tenant);
        let top_up_id = format!("top-up/{}", r.idempotency_key.trim());
        let (funding, intent_id) = match (r.reference.trim(), r.payment_method_id.trim()) {
            ("", "") => {
                return Err(invalid(
                    "reference",
                    "give the reference of funds received, or a payment_method_id to charge",
                ));
            }
            (_, "") => (Funding::External, None),
            (_, method) => {
                let top_up = CardTopUp {
                    tenant: &tenant,
                    account,
                    wallet: id,
                    top_up_id: &top_up_id,
                    method_id: parse_id("payment_method_id", method)?,
                    amount: Money::new(amount, currency),
                    meta: &m,
                };
                (Funding::Card, Some(self.charge_card(top_up).await?))
            }
        };
        let top_up = WalletCommand::TopUp {
            top_up_id,
            amount,
            funding,
            reference: r.reference.trim().to_owned(),
            intent_id,
            at: Utc::now(),
        };
        let wallet = self.run_wallet(id, top_up, &m).await?;
        Ok(wire::wallet(id, &wallet))
    }

    /// Charges a top-up to a saved card: an intent of its own, opened and captured at once.
    async fn charge_card(&self, top_up: CardTopUp<'_>) -> Result<IntentId, Status> {
        let CardTopUp {
            tenant,
            account,
            wallet,
            top_up_id,
            method_id,
            amount,
            meta: m,
        } = top_up;
        let engine = &self.flow.engine;
        let methods = engine
            .methods
            .load(&account.to_string())
            .await
            .map_err(status::store)?;
        let method = methods
            .get(method_id)
            .filter(|m| m.provider != ProviderKind::Wallet)
            .cloned()
            .ok_or_else(|| {
                not_found(format!(
                    "payment_method_id: no card {method_id} saved for the wallet's account"
                ))
            })?;
        let intent_id = IntentId::derived(&format!("{wallet}/{top_up_id}"));
        let context = IntentContext {
            tenant_id: tenant.clone(),
            account_id: account,
            session_id: None,
            order_id: Some(top_up_id.to_owned()),
            purpose: Purpose::WalletTopUp,
            provider: method.provider,
            method_id,
            token: method.token.clone(),
            customer: method.customer.clone(),
            currency: amount.currency,
        };
        let open = Open {
            context,
            amount,
            at: Utc::now(),
        };
        let opened = engine.open(intent_id, open, m).await?;
        if opened.status() == Some(Intent::Failed) {
            let f = opened
                .failure
                .unwrap_or_else(|| Decline::new("declined", ""));
            return Err(refused(format!(
                "payment_method_id: the card was declined ({}: {})",
                f.code, f.message
            )));
        }
        let captured = engine.capture(intent_id, amount, m).await?;
        if captured.status() != Some(Intent::Captured) {
            return Err(refused(format!(
                "payment_method_id: the card payment could not be captured ({})",
                captured.failure.map(|f| f.code).unwrap_or_default()
            )));
        }
        Ok(intent_id)
    }

    pub(super) async fn get_wallet(&self, r: v1::GetWalletRequest) -> Result<v1::Wallet, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let (id, wallet) = self.load_wallet(&tenant, &r.wallet_id).await?;
        Ok(wire::wallet(id, &wallet))
    }

    pub(super) async fn list_wallets(
        &self,
        r: v1::ListWalletsRequest,
    ) -> Result<v1::ListWalletsResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let account: AccountId = parse_id("account_id", &r.account_id)?;
        let page = page(&r.cursor, r.page_size)?;
        let (wallets, next) = read::wallets(
            &self.pool,
            &self.schema,
            tenant.as_str(),
            account.as_uuid(),
            page,
        )
        .await
        .map_err(status::db)?;
        Ok(v1::ListWalletsResponse {
            wallets,
            next_cursor: next_cursor(next),
        })
    }

    pub(super) async fn wallet_transactions(
        &self,
        r: v1::ListWalletTransactionsRequest,
    ) -> Result<v1::ListWalletTransactionsResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let (id, wallet) = self.load_wallet(&tenant, &r.wallet_id).await?;
        let page = page(&r.cursor, r.page_size)?;
        let (transactions, next) = read::transactions(
            &self.pool,
            &self.schema,
            id.as_uuid(),
            wallet.currency.unwrap_or(Currency::EUR),
            page,
        )
        .await
        .map_err(status::db)?;
        Ok(v1::ListWalletTransactionsResponse {
            transactions,
            next_cursor: next_cursor(next),
        })
    }
}
