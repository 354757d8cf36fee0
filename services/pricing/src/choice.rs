//! Which tariff version prices a session, shared by final pricing
//! ([`crate::consumers::session_completed`]) and the running cost ([`crate::running`]), so that the estimate during a session and the final price use
//! the very same tariff: an account or fleet contract, else the connector's, charger's or site's
//! assignment, else the charger's registry tariff; in the version in force when the session started.

use chrono::{DateTime, Utc};
use joule_domain::TariffId;
use sqlx::PgPool;

use crate::domain::priced_session::Pricing;
use crate::projections::tariffs::{self, InForce};
use crate::projections::{ReadError, assignments, chargers};

/// A session's tariff, and the version's OCPI JSON as stored (the running state keeps it, so that
/// an estimate needs no other read).
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub pricing: Pricing,
    pub ocpi_json: String,
    /// The site's IANA zone, as the registry gave it (checked when pricing).
    pub time_zone: String,
}

/// The outcome of looking for a session's tariff.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Chosen(Box<Chosen>),
    /// Not resolvable yet (the registry or the tariff's projection may lag): worth retrying.
    Missing(String),
    /// Never resolvable (a bad id, a tariff that no longer parses, no version in force).
    Unpriceable(String),
}

/// Chooses the tariff of a session of `charger_id`'s `connector_id`, paid by `account_id`, that
/// started at `started_at`.
pub async fn choose(
    pool: &PgPool,
    charger_id: &str,
    connector_id: u32,
    account_id: &str,
    started_at: DateTime<Utc>,
) -> Result<Choice, ReadError> {
    let Some(charger) = chargers::charger(pool, charger_id).await? else {
        return Ok(Choice::Missing(format!(
            "charger {charger_id} is not registered"
        )));
    };
    let Some(resolved) = assignments::resolve(
        pool,
        charger_id,
        connector_id,
        &charger,
        account_id,
        started_at,
    )
    .await?
    else {
        return Ok(Choice::Missing(format!(
            "charger {charger_id} has no tariff"
        )));
    };
    let tariff_id: TariffId = match resolved.tariff_id.parse() {
        Ok(t) => t,
        Err(e) => {
            return Ok(Choice::Unpriceable(format!(
                "charger {charger_id} names tariff {}: {e}",
                resolved.tariff_id
            )));
        }
    };
    let (version, ocpi_json) =
        match tariffs::version_in_force(pool, &resolved.tariff_id, started_at).await? {
            InForce::Version(version, json) => (version, json),
            InForce::NoneYet => {
                return Ok(Choice::Unpriceable(format!(
                    "tariff {tariff_id} has no version in force at {started_at}"
                )));
            }
            InForce::NoTariff => {
                return Ok(Choice::Missing(format!(
                    "tariff {} of charger {charger_id} does not exist",
                    resolved.tariff_id
                )));
            }
        };
    let tariff = match joule_tariff::Tariff::parse(&ocpi_json) {
        Ok(t) => t,
        Err(e) => {
            return Ok(Choice::Unpriceable(format!(
                "stored tariff {tariff_id} version {version} no longer parses: {e}"
            )));
        }
    };
    Ok(Choice::Chosen(Box::new(Chosen {
        pricing: Pricing {
            tariff_id,
            tariff_version: version,
            tariff_source: resolved.source.to_owned(),
            tariff: Box::new(tariff),
            discounts: resolved.discounts,
        },
        ocpi_json,
        time_zone: charger.time_zone,
    })))
}
