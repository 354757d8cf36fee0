//! The AccountMethods aggregate: the payment methods saved for one account and which is the default.
//! A method is a provider token with what may be shown of it (brand, last 4, expiry), never a card
//! number. An account with a default method pays by card or wallet; without one it pays on invoice.

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use joule_domain::{AccountId, TenantId};
use joule_store::Upcaster;
use serde::{Deserialize, Serialize};

use crate::domain::intent::ProviderKind;
use crate::ids::MethodId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedMethod {
    pub method_id: MethodId,
    pub provider: ProviderKind,
    /// The provider's token (`pm_...`, `tok_sandbox_ok`; a wallet's id).
    pub token: String,
    /// The provider's customer the token is attached to.
    pub customer: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodsCommand {
    Save {
        tenant_id: TenantId,
        account_id: AccountId,
        method: SavedMethod,
        make_default: bool,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MethodsEvent {
    PaymentMethodSaved {
        tenant_id: TenantId,
        account_id: AccountId,
        method: SavedMethod,
        at: DateTime<Utc>,
    },
    DefaultMethodChanged {
        account_id: AccountId,
        method_id: MethodId,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for MethodsEvent {
    fn event_type(&self) -> String {
        match self {
            MethodsEvent::PaymentMethodSaved { .. } => "PaymentMethodSaved",
            MethodsEvent::DefaultMethodChanged { .. } => "DefaultMethodChanged",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

/// No event of an account's methods has changed its stored shape.
pub const UPCASTERS: &[Upcaster] = &[];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MethodsError {
    #[error("provider_token: this method was saved for another account")]
    OtherAccount,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMethods {
    pub account_id: Option<AccountId>,
    pub methods: Vec<SavedMethod>,
    pub default: Option<MethodId>,
}

impl AccountMethods {
    /// The method the account pays with, if any.
    pub fn default_method(&self) -> Option<&SavedMethod> {
        let id = self.default?;
        self.methods.iter().find(|m| m.method_id == id)
    }

    pub fn get(&self, id: MethodId) -> Option<&SavedMethod> {
        self.methods.iter().find(|m| m.method_id == id)
    }

    /// The customer a provider knows this account as, from a method saved earlier.
    pub fn customer(&self, provider: ProviderKind) -> Option<&str> {
        self.methods
            .iter()
            .find(|m| m.provider == provider && !m.customer.is_empty())
            .map(|m| m.customer.as_str())
    }
}

aggregate!(AccountMethods {
    type: "AccountMethods",
    command: MethodsCommand,
    event: MethodsEvent,
    error: MethodsError,
    upcasters: UPCASTERS,
});

impl AccountMethods {
    /// A method is saved once per account; made the default when asked and not already.
    fn decide(&self, command: MethodsCommand) -> Result<Vec<MethodsEvent>, MethodsError> {
        let MethodsCommand::Save {
            tenant_id,
            account_id,
            method,
            make_default,
            at,
        } = command;
        if self.account_id.is_some_and(|a| a != account_id) {
            return Err(MethodsError::OtherAccount);
        }
        let method_id = method.method_id;
        let mut events = Vec::new();
        if self.get(method_id).is_none() {
            events.push(MethodsEvent::PaymentMethodSaved {
                tenant_id,
                account_id,
                method,
                at,
            });
        }
        if make_default && self.default != Some(method_id) {
            events.push(MethodsEvent::DefaultMethodChanged {
                account_id,
                method_id,
                at,
            });
        }
        Ok(events)
    }

    fn evolve(&mut self, event: MethodsEvent) {
        match event {
            MethodsEvent::PaymentMethodSaved {
                account_id, method, ..
            } => {
                self.account_id = Some(account_id);
                self.methods.push(method);
            }
            MethodsEvent::DefaultMethodChanged { method_id, .. } => self.default = Some(method_id),
        }
    }
}
