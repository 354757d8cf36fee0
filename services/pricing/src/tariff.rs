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

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_tariff::Discount;
use serde::{Deserialize, Serialize};

/// Where an assignment applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scope {
    Site {
        site_id: String,
    },
    Charger {
        charger_id: String,
    },
    Connector {
        charger_id: String,
        connector_id: u32,
    },
}

/// Whom a contract override is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Party {
    Account {
        account_id: String,
    },
    Fleet {
        fleet_id: String,
        account_ids: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TariffCommand {
    Create {
        ocpi_json: String,
        created_at: DateTime<Utc>,
    },
    PublishVersion {
        ocpi_json: String,
        valid_from: DateTime<Utc>,
        published_at: DateTime<Utc>,
    },
    CorrectVersion {
        version: u32,
        ocpi_json: String,
        reason: String,
        corrected_at: DateTime<Utc>,
    },
    Assign {
        scope: Scope,
        assigned_at: DateTime<Utc>,
    },
    Contract {
        party: Party,
        discounts: Vec<Discount>,
        valid_from: Option<DateTime<Utc>>,
        valid_until: Option<DateTime<Utc>>,
        contracted_at: DateTime<Utc>,
    },
    Retire {
        retired_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TariffEvent {
    /// Version 1.
    TariffCreated {
        /// The OCPI Tariff object as given (validated); pricing parses it again when it uses it.
        tariff: serde_json::Value,
        /// The OCPI `id` inside the object, kept as given; Joule's id is the aggregate id.
        ocpi_id: String,
        currency: String,
        created_at: DateTime<Utc>,
    },
    TariffVersionPublished {
        version: u32,
        tariff: serde_json::Value,
        valid_from: DateTime<Utc>,
        published_at: DateTime<Utc>,
    },
    TariffVersionCorrected {
        version: u32,
        tariff: serde_json::Value,
        reason: String,
        corrected_at: DateTime<Utc>,
    },
    TariffAssigned {
        scope: Scope,
        assigned_at: DateTime<Utc>,
    },
    TariffContracted {
        party: Party,
        discounts: Vec<Discount>,
        valid_from: Option<DateTime<Utc>>,
        valid_until: Option<DateTime<Utc>>,
        contracted_at: DateTime<Utc>,
    },
    TariffRetired {
        retired_at: DateTime<Utc>,
    },
}

impl DomainEvent for TariffEvent {
    fn event_type(&self) -> String {
        match self {
            TariffEvent::TariffCreated { .. } => "TariffCreated",
            TariffEvent::TariffVersionPublished { .. } => "TariffVersionPublished",
            TariffEvent::TariffVersionCorrected { .. } => "TariffVersionCorrected",
            TariffEvent::TariffAssigned { .. } => "TariffAssigned",
            TariffEvent::TariffContracted { .. } => "TariffContracted",
            TariffEvent::TariffRetired { .. } => "TariffRetired",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    #[error("{0}")]
    Invalid(#[from] joule_tariff::TariffError),
    #[error("tariff already exists")]
    AlreadyExists,
    #[error("tariff does not exist")]
    NotFound,
    #[error("tariff is retired")]
    Retired,
    #[error("version {0} does not exist")]
    NoSuchVersion(u32),
    #[error("valid_from must be after the latest version's ({0})")]
    NotAfterLatest(DateTime<Utc>),
    #[error("currency: a new version must keep the tariff's currency {expected}, not {got}")]
    CurrencyChanged { expected: String, got: String },
    #[error("reason: a correction needs a reason")]
    NoReason,
    #[error("valid_until must be after valid_from")]
    EmptyValidity,
    #[error("{0}")]
    Party(String),
}

/// A tariff's OCPI identity in a tenant: `country_code`, `party_id` and `id`, which OCPI defines as
/// case-insensitive strings (upper-cased here; absent parts are empty). One tariff per identity: a
/// tariff created since identities are kept has the Joule id [`Identity::tariff_id`] derived from
/// it, so that two concurrent creations meet on one aggregate and the event store lets only one of
/// them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant_id: String,
    pub country_code: String,
    pub party_id: String,
    pub ocpi_id: String,
}

impl Identity {
    pub fn of(tenant_id: &str, tariff: &joule_tariff::Tariff) -> Identity {
        Identity::new(
            tenant_id,
            tariff.country_code.as_deref(),
            tariff.party_id.as_deref(),
            &tariff.id,
        )
    }

    /// From the parts as OCPI JSON holds them.
    pub fn new(
        tenant_id: &str,
        country_code: Option<&str>,
        party_id: Option<&str>,
        ocpi_id: &str,
    ) -> Identity {
        Identity {
            tenant_id: tenant_id.to_owned(),
            country_code: country_code.unwrap_or_default().to_uppercase(),
            party_id: party_id.unwrap_or_default().to_uppercase(),
            ocpi_id: ocpi_id.to_uppercase(),
        }
    }

    /// The Joule id of the tariff with this identity (for tariffs created since identities are
    /// unique; older ones keep the random id they were given).
    pub fn tariff_id(&self) -> joule_domain::TariffId {
        // A JSON array: no choice of separator can make two identities one key.
        let key = serde_json::json!([
            self.tenant_id,
            self.country_code,
            self.party_id,
            self.ocpi_id
        ]);
        joule_domain::TariffId::derived(&key.to_string())
    }
}

impl std::fmt::Display for Identity {
    /// `DE*JOU*AC1`, as OCPI writes party-scoped ids; the id alone for a tariff that names no
    /// party.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.country_code.is_empty() && self.party_id.is_empty() {
            f.write_str(&self.ocpi_id)
        } else {
            write!(
                f,
                "{}*{}*{}",
                self.country_code, self.party_id, self.ocpi_id
            )
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Tariff {
    created: bool,
    retired: bool,
    currency: String,
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
        let got = parsed.currency.code();
        if got == self.currency {
            Ok(())
        } else {
            Err(TariffError::CurrencyChanged {
                expected: self.currency.clone(),
                got: got.to_owned(),
            })
        }
    }
}

impl Aggregate for Tariff {
    const TYPE: &'static str = "Tariff";
    type Command = TariffCommand;
    type Event = TariffEvent;
    type Error = TariffError;
    type Services = ();

    async fn handle(
        &mut self,
        command: TariffCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), TariffError> {
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
                    currency: parsed.currency.code().to_owned(),
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
            TariffCommand::Contract {
                party,
                discounts,
                valid_from,
                valid_until,
                contracted_at,
            } => {
                self.live()?;
                if let (Some(f), Some(u)) = (valid_from, valid_until)
                    && u <= f
                {
                    return Err(TariffError::EmptyValidity);
                }
                match &party {
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
                TariffEvent::TariffContracted {
                    party,
                    discounts,
                    valid_from,
                    valid_until,
                    contracted_at,
                }
            }
            TariffCommand::Retire { retired_at } => {
                if !self.created {
                    return Err(TariffError::NotFound);
                }
                if self.retired {
                    return Ok(());
                }
                TariffEvent::TariffRetired { retired_at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: TariffEvent) {
        match event {
            TariffEvent::TariffCreated { currency, .. } => {
                self.created = true;
                self.currency = currency;
                self.versions.push(None);
            }
            TariffEvent::TariffVersionPublished { valid_from, .. } => {
                self.versions.push(Some(valid_from))
            }
            TariffEvent::TariffRetired { .. } => self.retired = true,
            TariffEvent::TariffVersionCorrected { .. }
            | TariffEvent::TariffAssigned { .. }
            | TariffEvent::TariffContracted { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn ocpi() -> serde_json::Value {
        json!({ "id": "T-1", "currency": "EUR",
                "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 21, "step_size": 1 }] }] })
    }

    fn created() -> TariffEvent {
        TariffEvent::TariffCreated {
            tariff: ocpi(),
            ocpi_id: "T-1".into(),
            currency: "EUR".into(),
            created_at: at(),
        }
    }

    #[test]
    fn creating_a_valid_tariff_records_it_as_given() {
        TestFramework::<Tariff>::with(())
            .given_no_previous_events()
            .when(TariffCommand::Create {
                ocpi_json: ocpi().to_string(),
                created_at: at(),
            })
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn an_invalid_tariff_is_rejected_naming_the_field() {
        let mut bad = ocpi();
        bad["elements"][0]["price_components"][0]["price"] = json!(-1);
        TestFramework::<Tariff>::with(())
            .given_no_previous_events()
            .when(TariffCommand::Create {
                ocpi_json: bad.to_string(),
                created_at: at(),
            })
            .then_expect_error(TariffError::Invalid(joule_tariff::TariffError::Invalid {
                path: "elements[0].price_components[0].price".into(),
                message: "must not be negative".into(),
            }));
        TestFramework::<Tariff>::with(())
            .given_no_previous_events()
            .when(TariffCommand::Create {
                ocpi_json: "{".into(),
                created_at: at(),
            })
            .then_expect_error_message(
                "tariff is not valid JSON: EOF while parsing an object at line 1 column 1",
            );
    }

    fn ocpi_priced(price: f64) -> String {
        json!({ "id": "T-1", "currency": "EUR",
                "elements": [{ "price_components": [{ "type": "ENERGY", "price": price, "vat": 21, "step_size": 1 }] }] })
        .to_string()
    }

    fn at_day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn versions_follow_each_other_in_time() {
        let published = TariffEvent::TariffVersionPublished {
            version: 2,
            tariff: serde_json::from_str(&ocpi_priced(0.3)).unwrap(),
            valid_from: at_day(10),
            published_at: at(),
        };
        TestFramework::<Tariff>::with(())
            .given(vec![created()])
            .when(TariffCommand::PublishVersion {
                ocpi_json: ocpi_priced(0.3),
                valid_from: at_day(10),
                published_at: at(),
            })
            .then_expect_events(vec![published.clone()]);
        TestFramework::<Tariff>::with(())
            .given(vec![created(), published])
            .when(TariffCommand::PublishVersion {
                ocpi_json: ocpi_priced(0.4),
                valid_from: at_day(9),
                published_at: at(),
            })
            .then_expect_error(TariffError::NotAfterLatest(at_day(10)));
    }

    #[test]
    fn a_version_keeps_the_currency_and_a_correction_needs_a_reason() {
        let usd = json!({ "id": "T-1", "currency": "USD",
            "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.3, "step_size": 1 }] }] });
        TestFramework::<Tariff>::with(())
            .given(vec![created()])
            .when(TariffCommand::PublishVersion {
                ocpi_json: usd.to_string(),
                valid_from: at_day(10),
                published_at: at(),
            })
            .then_expect_error(TariffError::CurrencyChanged {
                expected: "EUR".into(),
                got: "USD".into(),
            });
        TestFramework::<Tariff>::with(())
            .given(vec![created()])
            .when(TariffCommand::CorrectVersion {
                version: 1,
                ocpi_json: ocpi_priced(0.2),
                reason: " ".into(),
                corrected_at: at(),
            })
            .then_expect_error(TariffError::NoReason);
        TestFramework::<Tariff>::with(())
            .given(vec![created()])
            .when(TariffCommand::CorrectVersion {
                version: 2,
                ocpi_json: ocpi_priced(0.2),
                reason: "typo".into(),
                corrected_at: at(),
            })
            .then_expect_error(TariffError::NoSuchVersion(2));
    }

    #[test]
    fn a_retired_tariff_takes_no_new_versions_or_assignments() {
        let retired = TariffEvent::TariffRetired { retired_at: at() };
        TestFramework::<Tariff>::with(())
            .given(vec![created(), retired.clone()])
            .when(TariffCommand::Assign {
                scope: Scope::Site {
                    site_id: "s".into(),
                },
                assigned_at: at(),
            })
            .then_expect_error(TariffError::Retired);
        TestFramework::<Tariff>::with(())
            .given(vec![created(), retired])
            .when(TariffCommand::Retire { retired_at: at() })
            .then_expect_events(vec![]);
    }

    #[test]
    fn creating_the_same_tariff_twice_is_rejected() {
        TestFramework::<Tariff>::with(())
            .given(vec![created()])
            .when(TariffCommand::Create {
                ocpi_json: ocpi().to_string(),
                created_at: at(),
            })
            .then_expect_error(TariffError::AlreadyExists);
    }

    #[test]
    fn the_id_derives_from_the_ocpi_identity_compared_case_insensitively() {
        let t = |json: &str| joule_tariff::Tariff::parse(json).unwrap();
        let a = t(
            r#"{"country_code": "DE", "party_id": "JOU", "id": "AC1", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3}]}]}"#,
        );
        let b = t(
            r#"{"country_code": "de", "party_id": "jou", "id": "ac1", "currency": "EUR", "elements": [{"price_components": [{"type": "TIME", "price": 2}]}]}"#,
        );
        let c = t(
            r#"{"country_code": "DE", "party_id": "JOV", "id": "AC1", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3}]}]}"#,
        );
        let bare = t(
            r#"{"id": "AC1", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3}]}]}"#,
        );
        let id = |tenant: &str, t: &joule_tariff::Tariff| Identity::of(tenant, t).tariff_id();
        assert_eq!(id("default", &a), id("default", &b));
        assert_ne!(id("default", &a), id("default", &c));
        assert_ne!(id("default", &a), id("other", &a));
        assert_ne!(id("default", &a), id("default", &bare));
        assert_eq!(Identity::of("default", &b).to_string(), "DE*JOU*AC1");
        assert_eq!(Identity::of("default", &bare).to_string(), "AC1");
    }
}
