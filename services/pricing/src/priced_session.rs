//! The `PricedSession` aggregate, one per charging session (aggregate id = the session id): the
//! outcome of pricing it, either its price breakdown or why it could not be priced. It settles once;
//! a repeated command (a redelivered `SessionCompleted`) emits nothing.

use std::convert::Infallible;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::{ChargerId, Energy, SessionId, TariffId};
use joule_tariff::{PricedSession as Breakdown, SessionUsage, Tz};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What pricing needs to know about a completed session, from `SessionCompleted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub session_id: SessionId,
    pub charger_id: String,
    /// Empty when the session has no known account.
    pub account_id: String,
    pub token_uid: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub energy_wh: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PricedSessionCommand {
    /// Price the session with the charger's tariff, evaluated in the site's zone.
    PriceSession {
        session: SessionFacts,
        charger_id: ChargerId,
        tariff_id: TariffId,
        tariff: Box<joule_tariff::Tariff>,
        time_zone: String,
        priced_at: DateTime<Utc>,
    },
    /// Record that the session cannot be priced (no tariff for its charger, unusable session data).
    FailPricing {
        session_id: SessionId,
        charger_id: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PricedSessionEvent {
    SessionPriced {
        session_id: SessionId,
        charger_id: ChargerId,
        tariff_id: TariffId,
        account_id: String,
        token_uid: String,
        energy_wh: Decimal,
        started_at: DateTime<Utc>,
        stopped_at: DateTime<Utc>,
        priced_at: DateTime<Utc>,
        breakdown: Box<Breakdown>,
    },
    PricingFailed {
        session_id: SessionId,
        charger_id: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
}

impl DomainEvent for PricedSessionEvent {
    fn event_type(&self) -> String {
        match self {
            PricedSessionEvent::SessionPriced { .. } => "SessionPriced".into(),
            PricedSessionEvent::PricingFailed { .. } => "PricingFailed".into(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PricedSession {
    settled: bool,
}

impl Aggregate for PricedSession {
    const TYPE: &'static str = "PricedSession";
    type Command = PricedSessionCommand;
    type Event = PricedSessionEvent;
    // Every outcome, failures included, is an event: nothing is ever refused.
    type Error = Infallible;
    type Services = ();

    async fn handle(
        &mut self,
        command: PricedSessionCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Infallible> {
        if self.settled {
            return Ok(());
        }
        let event = match command {
            PricedSessionCommand::PriceSession {
                session,
                charger_id,
                tariff_id,
                tariff,
                time_zone,
                priced_at,
            } => match price(&session, &tariff, &time_zone) {
                Ok(breakdown) => PricedSessionEvent::SessionPriced {
                    session_id: session.session_id,
                    charger_id,
                    tariff_id,
                    account_id: session.account_id,
                    token_uid: session.token_uid,
                    energy_wh: session.energy_wh,
                    started_at: session.started_at,
                    stopped_at: session.stopped_at,
                    priced_at,
                    breakdown: Box::new(breakdown),
                },
                Err(reason) => PricedSessionEvent::PricingFailed {
                    session_id: session.session_id,
                    charger_id: session.charger_id,
                    reason,
                    failed_at: priced_at,
                },
            },
            PricedSessionCommand::FailPricing {
                session_id,
                charger_id,
                reason,
                failed_at,
            } => PricedSessionEvent::PricingFailed {
                session_id,
                charger_id,
                reason,
                failed_at,
            },
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PricedSessionEvent) {
        match event {
            PricedSessionEvent::SessionPriced { .. } | PricedSessionEvent::PricingFailed { .. } => {
                self.settled = true
            }
        }
    }
}

fn price(
    session: &SessionFacts,
    tariff: &joule_tariff::Tariff,
    time_zone: &str,
) -> Result<Breakdown, String> {
    let time_zone: Tz = time_zone.parse().map_err(|_| {
        format!(
            "charger {} has no valid time zone: {time_zone:?}",
            session.charger_id
        )
    })?;
    let usage = SessionUsage {
        start: session.started_at,
        end: session.stopped_at,
        energy: Energy::from_wh(session.energy_wh),
        time_zone,
        // SessionCompleted carries no meter samples yet: constant power is assumed.
        samples: vec![],
        charging_end: None,
    };
    joule_tariff::price_session(tariff, &usage).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use rust_decimal_macros::dec;

    fn tariff() -> Box<joule_tariff::Tariff> {
        Box::new(
            joule_tariff::Tariff::parse(
                r#"{ "id": "T", "currency": "EUR", "elements": [{ "price_components": [
                     { "type": "FLAT", "price": 0.50, "vat": 20, "step_size": 0 },
                     { "type": "ENERGY", "price": 0.25, "vat": 10, "step_size": 1 }] }] }"#,
            )
            .unwrap(),
        )
    }

    fn session() -> SessionFacts {
        SessionFacts {
            session_id: SessionId::derived("cp-1/7"),
            charger_id: ChargerId::derived("cp-1").to_string(),
            account_id: "acct".into(),
            token_uid: "TAG1".into(),
            started_at: Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap(),
            stopped_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
            energy_wh: dec!(20000),
        }
    }

    fn price_command(time_zone: &str) -> PricedSessionCommand {
        PricedSessionCommand::PriceSession {
            session: session(),
            charger_id: ChargerId::derived("cp-1"),
            tariff_id: TariffId::derived("t"),
            tariff: tariff(),
            time_zone: time_zone.into(),
            priced_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 5).unwrap(),
        }
    }

    fn priced_event() -> PricedSessionEvent {
        let events = TestFramework::<PricedSession>::with(())
            .given_no_previous_events()
            .when(price_command("Europe/Amsterdam"))
            .inspect_result()
            .unwrap();
        events.into_iter().next().unwrap()
    }

    #[test]
    fn pricing_a_session_records_its_breakdown() {
        // 0.50 start fee (20 %) + 20 kWh at 0.25 (10 %): 5.50 excl, 6.10 incl.
        let PricedSessionEvent::SessionPriced {
            session_id,
            tariff_id,
            account_id,
            energy_wh,
            breakdown,
            ..
        } = priced_event()
        else {
            panic!("expected SessionPriced");
        };
        assert_eq!(session_id, SessionId::derived("cp-1/7"));
        assert_eq!(tariff_id, TariffId::derived("t"));
        assert_eq!((account_id.as_str(), energy_wh), ("acct", dec!(20000)));
        assert_eq!(
            (breakdown.total_excl_vat, breakdown.total_incl_vat),
            (dec!(5.5), dec!(6.1))
        );
        assert_eq!(breakdown.time_zone, "Europe/Amsterdam");
        assert_eq!(breakdown.lines.len(), 2);
    }

    #[test]
    fn an_already_priced_session_emits_nothing() {
        TestFramework::<PricedSession>::with(())
            .given(vec![priced_event()])
            .when(price_command("Europe/Amsterdam"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_failed_session_stays_failed() {
        let failed = PricedSessionEvent::PricingFailed {
            session_id: SessionId::derived("cp-1/7"),
            charger_id: "c".into(),
            reason: "no tariff".into(),
            failed_at: Utc.with_ymd_and_hms(2024, 5, 1, 11, 0, 0).unwrap(),
        };
        TestFramework::<PricedSession>::with(())
            .given(vec![failed])
            .when(price_command("Europe/Amsterdam"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_unusable_time_zone_or_session_fails_pricing_with_the_reason() {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 5).unwrap();
        TestFramework::<PricedSession>::with(())
            .given_no_previous_events()
            .when(price_command("Mars/Olympus"))
            .then_expect_events(vec![PricedSessionEvent::PricingFailed {
                session_id: SessionId::derived("cp-1/7"),
                charger_id: ChargerId::derived("cp-1").to_string(),
                reason: format!(
                    "charger {} has no valid time zone: \"Mars/Olympus\"",
                    ChargerId::derived("cp-1")
                ),
                failed_at: at,
            }]);

        let PricedSessionCommand::PriceSession {
            mut session,
            charger_id,
            tariff_id,
            tariff,
            time_zone,
            priced_at,
        } = price_command("UTC")
        else {
            unreachable!()
        };
        session.energy_wh = dec!(-5);
        let events = TestFramework::<PricedSession>::with(())
            .given_no_previous_events()
            .when(PricedSessionCommand::PriceSession {
                session,
                charger_id,
                tariff_id,
                tariff,
                time_zone,
                priced_at,
            })
            .inspect_result()
            .unwrap();
        assert!(
            matches!(&events[..], [PricedSessionEvent::PricingFailed { reason, .. }] if reason.contains("must not be negative")),
            "{events:?}"
        );
    }

    #[test]
    fn failing_pricing_records_the_reason_once() {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 11, 0, 0).unwrap();
        let fail = PricedSessionCommand::FailPricing {
            session_id: SessionId::derived("cp-1/7"),
            charger_id: "c".into(),
            reason: "charger c is not registered".into(),
            failed_at: at,
        };
        let failed = PricedSessionEvent::PricingFailed {
            session_id: SessionId::derived("cp-1/7"),
            charger_id: "c".into(),
            reason: "charger c is not registered".into(),
            failed_at: at,
        };
        TestFramework::<PricedSession>::with(())
            .given_no_previous_events()
            .when(fail.clone())
            .then_expect_events(vec![failed.clone()]);
        TestFramework::<PricedSession>::with(())
            .given(vec![failed])
            .when(fail)
            .then_expect_events(vec![]);
    }
}
