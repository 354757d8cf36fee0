//! The `Tariff` aggregate: an OCPI 2.2.1 tariff registered in Joule under a [`joule_domain::TariffId`],
//! with its versions and where it applies.
//!
//! - Versions: the tariff as created is version 1; `PublishVersion` adds the next, in force from its
//!   `valid_from` until the next version's. A session is priced with the version in force when it
//!   started. A published version is never edited in place: `CorrectVersion` records a correction
//!   (with its reason) that re-rating then applies to the sessions the version priced.
//! - Where it applies: assignments to a site, a charger or one connector, and contract overrides for
//!   an account or a fleet's accounts (with their discounts). The latest assignment of a scope wins.
//! - `Retire` stops new sessions from being priced with it; priced sessions keep their price.

mod commands;
mod events;
mod identity;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use joule_domain::Currency;
use joule_store::Decider;
use serde::{Deserialize, Serialize};

pub use commands::TariffCommand;
pub use events::{Contract, Party, Scope, TariffEvent};
pub use identity::Identity;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    #[error("{0}")]
    Invalid(#[from] joule_tariff::TariffError),
    #[error("tariff already exists")]
    AlreadyExists,
    #[error("tariff does not exist")]
    NotFound,
    #[error("tariff_id: the tariff is retired")]
    Retired,
    #[error("version: version {0} does not exist")]
    NoSuchVersion(u32),
    #[error("valid_from: must be after the latest version's ({0})")]
    NotAfterLatest(DateTime<Utc>),
    #[error("currency: a new version must keep the tariff's currency {expected}, not {got}")]
    CurrencyChanged { expected: String, got: String },
    #[error("reason: a correction needs a reason")]
    NoReason,
    #[error("valid_until: must be after valid_from")]
    EmptyValidity,
    #[error("{0}")]
    Party(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Tariff {
    created: bool,
    retired: bool,
    /// From creation on.
    currency: Option<Currency>,
    /// valid_from of each version, index = version - 1 (version 1: none, from the beginning).
    versions: Vec<Option<DateTime<Utc>>>,
}

fn parse(ocpi_json: &str) -> Result<(serde_json::Value, joule_tariff::Tariff), TariffError> {
    let value: serde_json::Value = serde_json::from_str(ocpi_json)
        .map_err(|e| joule_tariff::TariffError::Json(e.to_string()))?;
    let parsed = joule_tariff::Tariff::from_value(&value)?;
    Ok((value, parsed))
}

impl Tariff {
    fn live(&self) -> Result<(), TariffError> {
        match (self.created, self.retired) {
            (false, _) => Err(TariffError::NotFound),
            (_, true) => Err(TariffError::Retired),
            _ => Ok(()),
        }
    }

    fn same_currency(&self, parsed: &joule_tariff::Tariff) -> Result<(), TariffError> {
        match self.currency {
            Some(expected) if expected == parsed.currency => Ok(()),
            expected => Err(TariffError::CurrencyChanged {
                expected: expected.map(|c| c.code().to_owned()).unwrap_or_default(),
                got: parsed.currency.code().to_owned(),
            }),
        }
    }
}

impl Decider for Tariff {
    const TYPE: &'static str = "Tariff";
    type Command = TariffCommand;
    type Event = TariffEvent;
    type Error = TariffError;

    fn decide(&self, command: TariffCommand) -> Result<Vec<TariffEvent>, TariffError> {
        let event = match command {
            TariffCommand::Create {
                ocpi_json,
                created_at,
            } => {
                if self.created {
                    return Err(TariffError::AlreadyExists);
                }
                let (value, parsed) = parse(&ocpi_json)?;
                TariffEvent::TariffCreated {
                    tariff: value,
                    ocpi_id: parsed.id,
                    currency: parsed.currency,
                    created_at,
                }
            }
            TariffCommand::PublishVersion {
                ocpi_json,
                valid_from,
                published_at,
            } => {
                self.live()?;
                let (value, parsed) = parse(&ocpi_json)?;
                self.same_currency(&parsed)?;
                if let Some(latest) = self.versions.iter().flatten().max()
                    && valid_from <= *latest
                {
                    return Err(TariffError::NotAfterLatest(*latest));
                }
                TariffEvent::TariffVersionPublished {
                    // Versions of one tariff are published by hand: far below u32::MAX.
                    version: (self.versions.len() as u32).saturating_add(1),
                    tariff: value,
                    valid_from,
                    published_at,
                }
            }
            TariffCommand::CorrectVersion {
                version,
                ocpi_json,
                reason,
                corrected_at,
            } => {
                if !self.created {
                    return Err(TariffError::NotFound);
                }
                if version == 0 || version as usize > self.versions.len() {
                    return Err(TariffError::NoSuchVersion(version));
                }
                if reason.trim().is_empty() {
                    return Err(TariffError::NoReason);
                }
                let (value, parsed) = parse(&ocpi_json)?;
                self.same_currency(&parsed)?;
                TariffEvent::TariffVersionCorrected {
                    version,
                    tariff: value,
                    reason,
                    corrected_at,
                }
            }
            TariffCommand::Assign { scope, assigned_at } => {
                self.live()?;
                TariffEvent::TariffAssigned { scope, assigned_at }
            }
            TariffCommand::Contract(contract) => {
                self.live()?;
                if let (Some(f), Some(u)) = (contract.valid_from, contract.valid_until)
                    && u <= f
                {
                    return Err(TariffError::EmptyValidity);
                }
                match &contract.party {
                    Party::Account { account_id } if account_id.is_empty() => {
                        return Err(TariffError::Party("party_id: must not be empty".into()));
                    }
                    Party::Fleet { account_ids, .. } if account_ids.is_empty() => {
                        return Err(TariffError::Party(
                            "account_ids: a fleet contract names at least one account".into(),
                        ));
                    }
                    _ => {}
                }
                TariffEvent::TariffContracted(contract)
            }
            TariffCommand::Retire { retired_at } => {
                if !self.created {
                    return Err(TariffError::NotFound);
                }
                if self.retired {
                    return Ok(vec![]);
                }
                TariffEvent::TariffRetired { retired_at }
            }
        };
        Ok(vec![event])
    }

    fn evolve(&mut self, event: TariffEvent) {
        match event {
            TariffEvent::TariffCreated { currency, .. } => {
                self.created = true;
                self.currency = Some(currency);
                self.versions.push(None);
            }
            TariffEvent::TariffVersionPublished { valid_from, .. } => {
                self.versions.push(Some(valid_from))
            }
            TariffEvent::TariffRetired { .. } => self.retired = true,
            TariffEvent::TariffVersionCorrected { .. }
            | TariffEvent::TariffAssigned { .. }
            | TariffEvent::TariffContracted(_) => {}
        }
    }
}
