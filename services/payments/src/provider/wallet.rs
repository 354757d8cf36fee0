//! The prepaid wallet as a provider: a hold is a hold on the Wallet aggregate, named by the call's
//! idempotency key, so a repeated call finds the hold it made.

use std::sync::Arc;

use chrono::Utc;
use cqrs_es::AggregateError;
use joule_store::CommandMeta;
use rust_decimal::Decimal;

use super::{
    Authorization, AuthorizeCall, DescribeCall, HoldCall, MethodDetails, Provider, ProviderError,
    RefundCall,
};
use crate::domain::wallet::{Wallet, WalletCommand, WalletError};
use crate::store::Aggregates;

pub struct WalletProvider {
    wallets: Arc<Aggregates<Wallet>>,
}

impl WalletProvider {
    pub fn new(wallets: Arc<Aggregates<Wallet>>) -> Self {
        Self { wallets }
    }

    /// Wallet ids are the reference's prefix: `<wallet id>/<hold id>`.
    async fn run(&self, wallet: &str, command: WalletCommand) -> Result<Wallet, ProviderError> {
        let meta = CommandMeta::default();
        self.wallets
            .execute(wallet, command, &meta)
            .await
            .map_err(|e| match e {
                AggregateError::UserError(WalletError::InsufficientFunds { .. }) => {
                    ProviderError::declined("insufficient_funds", &e.to_string())
                }
                AggregateError::UserError(WalletError::NotFound) => {
                    ProviderError::invalid("wallet_not_found", "no such wallet")
                }
                AggregateError::UserError(other) => {
                    ProviderError::invalid("wallet_refused", other.to_string())
                }
                other => ProviderError::unavailable("wallet_unavailable", other.to_string()),
            })
    }
}

fn split(reference: &str) -> Result<(&str, &str), ProviderError> {
    reference
        .split_once('/')
        .ok_or_else(|| ProviderError::invalid("resource_missing", "not a wallet hold"))
}

#[async_trait::async_trait]
impl Provider for WalletProvider {
    async fn describe(&self, _: &DescribeCall<'_>) -> Result<MethodDetails, ProviderError> {
        Err(ProviderError::invalid(
            "not_supported",
            "wallets are created with POST /v1/wallets, not saved as tokens",
        ))
    }

    async fn authorize(&self, call: &AuthorizeCall<'_>) -> Result<Authorization, ProviderError> {
        let hold_id = call.idempotency_key.clone();
        self.run(
            call.token,
            WalletCommand::PlaceHold {
                hold_id: hold_id.clone(),
                amount: call.amount.amount,
                at: Utc::now(),
            },
        )
        .await?;
        Ok(Authorization {
            reference: format!("{}/{hold_id}", call.token),
            amount: call.amount.amount,
            incremental: true,
        })
    }

    async fn increment(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError> {
        let (wallet, hold_id) = split(call.reference)?;
        self.run(
            wallet,
            WalletCommand::RaiseHold {
                hold_id: hold_id.to_owned(),
                new_amount: call.amount.amount,
                at: Utc::now(),
            },
        )
        .await?;
        Ok(call.amount.amount)
    }

    async fn capture(&self, call: &HoldCall<'_>) -> Result<Decimal, ProviderError> {
        let (wallet, hold_id) = split(call.reference)?;
        self.run(
            wallet,
            WalletCommand::CaptureHold {
                hold_id: hold_id.to_owned(),
                amount: call.amount.amount,
                at: Utc::now(),
            },
        )
        .await?;
        Ok(call.amount.amount)
    }

    async fn cancel(&self, call: &HoldCall<'_>) -> Result<(), ProviderError> {
        let (wallet, hold_id) = split(call.reference)?;
        self.run(
            wallet,
            WalletCommand::ReleaseHold {
                hold_id: hold_id.to_owned(),
                at: Utc::now(),
            },
        )
        .await
        .map(|_| ())
    }

    async fn refund(&self, call: &RefundCall<'_>) -> Result<String, ProviderError> {
        let (wallet, _) = split(call.reference)?;
        self.run(
            wallet,
            WalletCommand::Refund {
                refund_id: call.idempotency_key.clone(),
                amount: call.amount.amount,
                at: Utc::now(),
            },
        )
        .await?;
        Ok(format!("{wallet}/{}", call.idempotency_key))
    }
}
