//! The Site aggregate: a location with a country and the time zone its chargers' tariffs run in.

use chrono::{DateTime, Utc};
use joule_domain::SiteId;
use serde::{Deserialize, Serialize};

use super::{Country, Name, Record, Registration};

#[cfg(test)]
mod tests;

pub type Site = Registration<SiteRecord>;

#[derive(Debug, Clone, PartialEq)]
pub enum SiteCommand {
    Register {
        site_id: SiteId,
        name: Name,
        country: Country,
        time_zone: chrono_tz::Tz,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SiteEvent {
    SiteRegistered {
        site_id: SiteId,
        name: Name,
        country: Country,
        /// IANA name, as the tz database spells it.
        time_zone: String,
        registered_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(SiteEvent {
    SiteRegistered => "1.0",
});

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SiteError {
    #[error("site {0} is already registered")]
    AlreadyRegistered(SiteId),
}

/// Sites are registered once.
pub struct SiteRecord;

impl Record for SiteRecord {
    const TYPE: &'static str = "site";
    type Command = SiteCommand;
    type Event = SiteEvent;
    type Error = SiteError;
    type Key = SiteId;

    fn created(command: SiteCommand) -> SiteEvent {
        let SiteCommand::Register {
            site_id,
            name,
            country,
            time_zone,
            at,
        } = command;
        SiteEvent::SiteRegistered {
            site_id,
            name,
            country,
            time_zone: time_zone.name().to_owned(),
            registered_at: at,
        }
    }

    fn key(event: &SiteEvent) -> SiteId {
        let SiteEvent::SiteRegistered { site_id, .. } = event;
        *site_id
    }

    fn exists(site_id: SiteId) -> SiteError {
        SiteError::AlreadyRegistered(site_id)
    }
}
