//! The Site aggregate: a location with a country and the time zone its chargers' tariffs run in.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use joule_domain::SiteId;
use serde::{Deserialize, Serialize};

use super::{Country, Name};

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

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Site {
    id: Option<SiteId>,
}

impl Aggregate for Site {
    const TYPE: &'static str = "site";
    type Command = SiteCommand;
    type Event = SiteEvent;
    type Error = SiteError;
    type Services = ();

    async fn handle(
        &mut self,
        command: SiteCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SiteError> {
        match command {
            SiteCommand::Register {
                site_id,
                name,
                country,
                time_zone,
                at,
            } => {
                if let Some(id) = self.id {
                    return Err(SiteError::AlreadyRegistered(id));
                }
                let event = SiteEvent::SiteRegistered {
                    site_id,
                    name,
                    country,
                    time_zone: time_zone.name().to_owned(),
                    registered_at: at,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: SiteEvent) {
        match event {
            SiteEvent::SiteRegistered { site_id, .. } => self.id = Some(site_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn register(site_id: SiteId) -> SiteCommand {
        SiteCommand::Register {
            site_id,
            name: "Depot".parse().unwrap(),
            country: "DE".parse().unwrap(),
            time_zone: chrono_tz::Europe::Berlin,
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    fn registered(site_id: SiteId) -> SiteEvent {
        SiteEvent::SiteRegistered {
            site_id,
            name: "Depot".parse().unwrap(),
            country: "DE".parse().unwrap(),
            time_zone: "Europe/Berlin".into(),
            registered_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn registers_a_new_site() {
        let id = SiteId::new();
        TestFramework::<Site>::with(())
            .given_no_previous_events()
            .when(register(id))
            .then_expect_events(vec![registered(id)]);
    }

    #[test]
    fn refuses_to_register_twice() {
        let id = SiteId::new();
        TestFramework::<Site>::with(())
            .given(vec![registered(id)])
            .when(register(id))
            .then_expect_error_message(&format!("site {id} is already registered"));
    }
}
