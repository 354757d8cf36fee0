//! The `Tariff` aggregate: an OCPI 2.2.1 tariff registered in Joule under a [`joule_domain::TariffId`].
//! Tariffs are immutable once created; a new price is a new tariff assigned to the chargers.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub enum TariffCommand {
    Create {
        ocpi_json: String,
        created_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TariffEvent {
    TariffCreated {
        /// The OCPI Tariff object as given (validated); pricing parses it again when it uses it.
        tariff: serde_json::Value,
        /// The OCPI `id` inside the object, kept as given; Joule's id is the aggregate id.
        ocpi_id: String,
        currency: String,
        created_at: DateTime<Utc>,
    },
}

impl DomainEvent for TariffEvent {
    fn event_type(&self) -> String {
        match self {
            TariffEvent::TariffCreated { .. } => "TariffCreated".into(),
        }
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
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Tariff {
    created: bool,
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
        match command {
            TariffCommand::Create {
                ocpi_json,
                created_at,
            } => {
                if self.created {
                    return Err(TariffError::AlreadyExists);
                }
                let value: serde_json::Value = serde_json::from_str(&ocpi_json)
                    .map_err(|e| joule_tariff::TariffError::Json(e.to_string()))?;
                let parsed = joule_tariff::Tariff::from_value(&value)?;
                let event = TariffEvent::TariffCreated {
                    tariff: value,
                    ocpi_id: parsed.id,
                    currency: parsed.currency.code().to_owned(),
                    created_at,
                };
                sink.write(event, self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: TariffEvent) {
        match event {
            TariffEvent::TariffCreated { .. } => self.created = true,
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
}
