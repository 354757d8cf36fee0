//! The `PricedSession` aggregate, one per charging session (aggregate id = the session id): the
//! outcome of pricing it, either its price breakdown or why it could not be priced, and every later
//! change of that price.
//!
//! It settles once; a repeated command (a redelivered `SessionCompleted`) emits nothing. Re-rating
//! (after a tariff or meter correction) never edits the first price: it appends `SessionRerated`,
//! which carries the difference as lines (the previous lines reversed, the new ones added) and the
//! totals before and after. A re-rating run applies at most once per session.

use std::convert::Infallible;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use joule_domain::{ChargerId, Energy, SessionId, TariffId};
use joule_proto::v1;
use joule_tariff::{Customer, Discount, PricedSession as Breakdown, SessionUsage, Tz};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An energy register reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub register_wh: Decimal,
}

/// Where a session ran and how its energy was drawn, from `SessionCompleted`: kept on the priced
/// session so that `SessionPriced` names the charger's transaction and a re-rating prices the same
/// curve and idle time again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metering {
    pub charge_point_id: String,
    pub transaction_id: String,
    /// Register readings, oldest first, the start register at the start time included. Empty:
    /// constant power from start to stop.
    pub samples: Vec<Sample>,
    /// When the car stopped drawing energy; the rest of the session is idle (parking) time.
    pub charging_ended_at: Option<DateTime<Utc>>,
}

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
    pub metering: Metering,
}

/// Which tariff version priced a session, and why that tariff.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub tariff_id: TariffId,
    pub tariff_version: u32,
    /// `account_contract`, `fleet_contract`, `connector`, `charger`, `site` or `registry`.
    pub tariff_source: String,
    pub tariff: Box<joule_tariff::Tariff>,
    pub discounts: Vec<Discount>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PricedSessionCommand {
    /// Price the session with the charger's tariff, evaluated in the site's zone.
    PriceSession {
        session: SessionFacts,
        charger_id: ChargerId,
        connector_id: u32,
        pricing: Pricing,
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
    /// Price the session again: with a corrected tariff version, or a corrected meter reading.
    Rerate {
        rerating_id: String,
        pricing: Pricing,
        corrected_energy_wh: Option<Decimal>,
        reason: String,
        rerated_at: DateTime<Utc>,
    },
}

/// A price line as published (`joule.v1.PriceLine`), kept in events so that an adjustment can
/// reverse exactly what was published before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLine {
    pub dimension: String,
    pub description: String,
    pub volume: String,
    pub unit: String,
    pub unit_price: String,
    pub vat_percent: String,
    pub amount_excl_vat: String,
    pub amount_incl_vat: String,
}

impl WireLine {
    pub fn to_proto(&self) -> v1::PriceLine {
        v1::PriceLine {
            dimension: self.dimension.clone(),
            description: self.description.clone(),
            volume: self.volume.clone(),
            unit: self.unit.clone(),
            unit_price: self.unit_price.clone(),
            vat_percent: self.vat_percent.clone(),
            amount_excl_vat: self.amount_excl_vat.clone(),
            amount_incl_vat: self.amount_incl_vat.clone(),
        }
    }

    fn from_proto(l: v1::PriceLine) -> Self {
        WireLine {
            dimension: l.dimension,
            description: l.description,
            volume: l.volume,
            unit: l.unit,
            unit_price: l.unit_price,
            vat_percent: l.vat_percent,
            amount_excl_vat: l.amount_excl_vat,
            amount_incl_vat: l.amount_incl_vat,
        }
    }

    /// The same line with its volume and amounts negated: it cancels the original.
    pub fn reversed(&self) -> Self {
        let neg = |s: &str| {
            s.parse::<Decimal>()
                .map(|d| negated(d).normalize().to_string())
                .unwrap_or_else(|_| s.to_owned())
        };
        WireLine {
            description: format!("Reversal: {}", self.description),
            volume: neg(&self.volume),
            amount_excl_vat: neg(&self.amount_excl_vat),
            amount_incl_vat: neg(&self.amount_incl_vat),
            ..self.clone()
        }
    }
}

/// The published lines of a breakdown.
pub fn wire_lines(b: &Breakdown) -> Vec<WireLine> {
    crate::outbox::wire_lines(b)
        .into_iter()
        .map(WireLine::from_proto)
        .collect()
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
        #[serde(default)]
        tariff_version: u32,
        #[serde(default)]
        tariff_source: String,
        #[serde(default)]
        connector_id: u32,
        #[serde(default)]
        metering: Metering,
    },
    PricingFailed {
        session_id: SessionId,
        charger_id: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    SessionRerated(Box<Rerated>),
}

/// A change of a session's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rerated {
    /// Derived from the run and the session: `<rerating_id>/<session_id>`.
    pub adjustment_id: String,
    pub rerating_id: String,
    pub session_id: SessionId,
    pub account_id: String,
    pub charger_id: String,
    pub token_uid: String,
    pub currency: String,
    pub tariff_id: TariffId,
    pub tariff_version: u32,
    pub reason: String,
    /// The energy priced (a meter correction changes it).
    pub energy_wh: Decimal,
    pub previous_total_excl_vat: Decimal,
    pub previous_total_incl_vat: Decimal,
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    /// What was published before, reversed.
    pub reversed_lines: Vec<WireLine>,
    /// The new price's lines.
    pub new_lines: Vec<WireLine>,
    pub rerated_at: DateTime<Utc>,
}

/// `-d`: a sign flip, which `Decimal`'s symmetric range never overflows.
fn negated(mut d: Decimal) -> Decimal {
    d.set_sign_negative(!d.is_sign_negative());
    d
}

impl Rerated {
    pub fn delta(&self) -> (Decimal, Decimal) {
        // Totals of sessions priced within the request limits (ADR 024) are far inside Decimal's
        // range; saturating keeps a total an older version stored from panicking the relay.
        (
            self.total_excl_vat
                .saturating_sub(self.previous_total_excl_vat)
                .normalize(),
            self.total_incl_vat
                .saturating_sub(self.previous_total_incl_vat)
                .normalize(),
        )
    }
}

impl DomainEvent for PricedSessionEvent {
    fn event_type(&self) -> String {
        match self {
            PricedSessionEvent::SessionPriced { .. } => "SessionPriced".into(),
            PricedSessionEvent::PricingFailed { .. } => "PricingFailed".into(),
            PricedSessionEvent::SessionRerated(_) => "SessionRerated".into(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

/// What a priced session remembers to be priced again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Current {
    pub session_id: Option<SessionId>,
    pub account_id: String,
    pub charger_id: String,
    pub token_uid: String,
    pub currency: String,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub energy_wh: Decimal,
    pub time_zone: String,
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub lines: Vec<WireLine>,
    #[serde(default)]
    pub metering: Metering,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PricedSession {
    settled: bool,
    priced: Option<Current>,
    reratings: Vec<String>,
}

/// The facts a session is priced from again, and its current price.
pub struct RerateInput<'a> {
    pub session_id: SessionId,
    pub account_id: &'a str,
    pub charger_id: &'a str,
    pub token_uid: &'a str,
    pub currency: &'a str,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub energy_wh: Decimal,
    pub time_zone: &'a str,
    pub total_excl_vat: Decimal,
    pub total_incl_vat: Decimal,
    pub lines: &'a [WireLine],
}

/// The adjustment of re-pricing `input` with `pricing`, or `None` when the price does not change.
/// The session's readings and end of charging (`metering`) price the curve and the idle time again
/// as they were. Shared by the aggregate and the bulk re-rating run (which reads the readings from
/// `priced_sessions.metering`), so both record the very same event.
pub fn rerate(
    input: &RerateInput<'_>,
    metering: &Metering,
    pricing: &Pricing,
    corrected_energy_wh: Option<Decimal>,
    rerating_id: &str,
    reason: &str,
    rerated_at: DateTime<Utc>,
) -> Result<Option<Rerated>, String> {
    let energy_wh = corrected_energy_wh.unwrap_or(input.energy_wh);
    let facts = SessionFacts {
        session_id: input.session_id,
        charger_id: String::new(),
        account_id: input.account_id.to_owned(),
        token_uid: String::new(),
        started_at: input.started_at,
        stopped_at: input.stopped_at,
        energy_wh,
        metering: metering.clone(),
    };
    let breakdown = price(&facts, pricing, input.time_zone)?;
    if breakdown.total_excl_vat == input.total_excl_vat
        && breakdown.total_incl_vat == input.total_incl_vat
    {
        return Ok(None);
    }
    Ok(Some(Rerated {
        adjustment_id: format!("{rerating_id}/{}", input.session_id),
        rerating_id: rerating_id.to_owned(),
        session_id: input.session_id,
        account_id: input.account_id.to_owned(),
        charger_id: input.charger_id.to_owned(),
        token_uid: input.token_uid.to_owned(),
        currency: input.currency.to_owned(),
        tariff_id: pricing.tariff_id,
        tariff_version: pricing.tariff_version,
        reason: reason.to_owned(),
        energy_wh,
        previous_total_excl_vat: input.total_excl_vat,
        previous_total_incl_vat: input.total_incl_vat,
        total_excl_vat: breakdown.total_excl_vat,
        total_incl_vat: breakdown.total_incl_vat,
        reversed_lines: input.lines.iter().map(WireLine::reversed).collect(),
        new_lines: wire_lines(&breakdown),
        rerated_at,
    }))
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
        let event = match command {
            PricedSessionCommand::Rerate {
                rerating_id,
                pricing,
                corrected_energy_wh,
                reason,
                rerated_at,
            } => {
                // Only a priced session can be re-rated, and a run applies once.
                let Some(current) = &self.priced else {
                    return Ok(());
                };
                if self.reratings.contains(&rerating_id) {
                    return Ok(());
                }
                let (Some(session_id), Some(started_at), Some(stopped_at)) =
                    (current.session_id, current.started_at, current.stopped_at)
                else {
                    return Ok(());
                };
                let input = RerateInput {
                    session_id,
                    account_id: &current.account_id,
                    charger_id: &current.charger_id,
                    token_uid: &current.token_uid,
                    currency: &current.currency,
                    started_at,
                    stopped_at,
                    energy_wh: current.energy_wh,
                    time_zone: &current.time_zone,
                    total_excl_vat: current.total_excl_vat,
                    total_incl_vat: current.total_incl_vat,
                    lines: &current.lines,
                };
                match rerate(
                    &input,
                    &current.metering,
                    &pricing,
                    corrected_energy_wh,
                    &rerating_id,
                    &reason,
                    rerated_at,
                ) {
                    Ok(Some(r)) => PricedSessionEvent::SessionRerated(Box::new(r)),
                    // Unchanged, or not priceable with the correction: the price stands (the run
                    // reports it).
                    Ok(None) | Err(_) => return Ok(()),
                }
            }
            _ if self.settled => return Ok(()),
            PricedSessionCommand::PriceSession {
                session,
                charger_id,
                connector_id,
                pricing,
                time_zone,
                priced_at,
            } => match price(&session, &pricing, &time_zone) {
                Ok(breakdown) => PricedSessionEvent::SessionPriced {
                    session_id: session.session_id,
                    charger_id,
                    tariff_id: pricing.tariff_id,
                    account_id: session.account_id,
                    token_uid: session.token_uid,
                    energy_wh: session.energy_wh,
                    started_at: session.started_at,
                    stopped_at: session.stopped_at,
                    priced_at,
                    breakdown: Box::new(breakdown),
                    tariff_version: pricing.tariff_version,
                    tariff_source: pricing.tariff_source,
                    connector_id,
                    metering: session.metering,
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
            PricedSessionEvent::SessionPriced {
                session_id,
                charger_id,
                account_id,
                token_uid,
                energy_wh,
                started_at,
                stopped_at,
                breakdown,
                metering,
                ..
            } => {
                self.settled = true;
                self.priced = Some(Current {
                    session_id: Some(session_id),
                    account_id,
                    charger_id: charger_id.to_string(),
                    token_uid,
                    currency: breakdown.currency.code().to_owned(),
                    started_at: Some(started_at),
                    stopped_at: Some(stopped_at),
                    energy_wh,
                    time_zone: breakdown.time_zone.clone(),
                    total_excl_vat: breakdown.total_excl_vat,
                    total_incl_vat: breakdown.total_incl_vat,
                    lines: wire_lines(&breakdown),
                    metering,
                });
            }
            PricedSessionEvent::PricingFailed { .. } => self.settled = true,
            PricedSessionEvent::SessionRerated(r) => {
                self.reratings.push(r.rerating_id.clone());
                if let Some(current) = &mut self.priced {
                    current.energy_wh = r.energy_wh;
                    current.total_excl_vat = r.total_excl_vat;
                    current.total_incl_vat = r.total_incl_vat;
                    current.lines = r.new_lines;
                }
            }
        }
    }
}

/// Prices a session's facts: the tariff version, then the contract's discounts.
pub fn price(
    session: &SessionFacts,
    pricing: &Pricing,
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
        // The readings shape when the energy was drawn (time-of-day and power restrictions); the
        // engine keeps the billed energy exactly `energy_wh`.
        samples: session
            .metering
            .samples
            .iter()
            .map(|s| (s.at, Energy::from_wh(s.register_wh)))
            .collect(),
        charging_end: session.metering.charging_ended_at,
    };
    let mut breakdown =
        joule_tariff::price_session(&pricing.tariff, &usage).map_err(|e| e.to_string())?;
    if !pricing.discounts.is_empty() {
        let customer = Customer {
            account_id: Some(session.account_id.clone()).filter(|a| !a.is_empty()),
            ..Customer::default()
        };
        joule_tariff::apply_discounts(&mut breakdown, &pricing.discounts, &customer);
    }
    Ok(breakdown)
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
            metering: Metering::default(),
        }
    }

    fn pricing(tariff: Box<joule_tariff::Tariff>) -> Pricing {
        Pricing {
            tariff_id: TariffId::derived("t"),
            tariff_version: 1,
            tariff_source: "charger".into(),
            tariff,
            discounts: vec![],
        }
    }

    fn price_command(time_zone: &str) -> PricedSessionCommand {
        PricedSessionCommand::PriceSession {
            session: session(),
            charger_id: ChargerId::derived("cp-1"),
            connector_id: 1,
            pricing: pricing(tariff()),
            time_zone: time_zone.into(),
            priced_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 5).unwrap(),
        }
    }

    fn rerate_command(id: &str, price: &str, energy: Option<Decimal>) -> PricedSessionCommand {
        let t = joule_tariff::Tariff::parse(&format!(
            r#"{{ "id": "T", "currency": "EUR", "elements": [{{ "price_components": [
                 {{ "type": "FLAT", "price": 0.50, "vat": 20, "step_size": 0 }},
                 {{ "type": "ENERGY", "price": {price}, "vat": 10, "step_size": 1 }}] }}] }}"#
        ))
        .unwrap();
        let mut p = pricing(Box::new(t));
        p.tariff_version = 2;
        PricedSessionCommand::Rerate {
            rerating_id: id.into(),
            pricing: p,
            corrected_energy_wh: energy,
            reason: "price typo".into(),
            rerated_at: Utc.with_ymd_and_hms(2024, 5, 2, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn rerating_appends_the_difference_and_applies_once() {
        let events = TestFramework::<PricedSession>::with(())
            .given(vec![priced_event()])
            .when(rerate_command("r1", "0.20", None))
            .inspect_result()
            .unwrap();
        let [PricedSessionEvent::SessionRerated(r)] = &events[..] else {
            panic!("{events:?}");
        };
        // Was 0.50 + 20 * 0.25 = 5.50 (6.10); now 0.50 + 20 * 0.20 = 4.50 (5.00).
        assert_eq!(r.delta(), (dec!(-1), dec!(-1.1)));
        assert_eq!(r.tariff_version, 2);
        assert_eq!(r.reversed_lines.len(), 2);
        assert_eq!(r.reversed_lines[1].amount_excl_vat, "-5");
        assert_eq!(r.new_lines[1].amount_excl_vat, "4");
        let sum: Decimal = r
            .reversed_lines
            .iter()
            .chain(&r.new_lines)
            .map(|l| l.amount_excl_vat.parse::<Decimal>().unwrap())
            .sum();
        assert_eq!(sum, dec!(-1));
        TestFramework::<PricedSession>::with(())
            .given(vec![priced_event(), events[0].clone()])
            .when(rerate_command("r1", "0.10", None))
            .then_expect_events(vec![]);
        // The same price again: nothing to adjust.
        TestFramework::<PricedSession>::with(())
            .given(vec![priced_event()])
            .when(rerate_command("r2", "0.25", None))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_meter_correction_reprices_the_corrected_energy() {
        let events = TestFramework::<PricedSession>::with(())
            .given(vec![priced_event()])
            .when(rerate_command("m1", "0.25", Some(dec!(24000))))
            .inspect_result()
            .unwrap();
        let [PricedSessionEvent::SessionRerated(r)] = &events[..] else {
            panic!("{events:?}");
        };
        // 4 kWh more at 0.25: +1.00 (+1.10).
        assert_eq!(
            (r.energy_wh, r.delta()),
            (dec!(24000), (dec!(1), dec!(1.1)))
        );
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
    fn readings_and_the_end_of_charging_are_priced_and_kept_for_re_rating() {
        let idle = |energy_price: &str| {
            Box::new(
                joule_tariff::Tariff::parse(&format!(
                    r#"{{ "id": "I", "currency": "EUR",
                     "elements": [{{ "price_components": [{{ "type": "ENERGY", "price": {energy_price}, "vat": 20, "step_size": 1 }}] }}],
                     "joule": {{ "idle_fee": {{ "price_per_hour": 12, "vat": 20, "grace_period_seconds": 600, "step_size": 60 }} }} }}"#
                ))
                .unwrap(),
            )
        };
        let at = |h, m| Utc.with_ymd_and_hms(2024, 5, 1, h, m, 0).unwrap();
        let mut facts = session();
        facts.stopped_at = at(9, 40);
        facts.metering = Metering {
            charge_point_id: "CP-1".into(),
            transaction_id: "7".into(),
            samples: vec![
                Sample {
                    at: at(8, 0),
                    register_wh: dec!(1000),
                },
                Sample {
                    at: at(9, 0),
                    register_wh: dec!(21000),
                },
            ],
            charging_ended_at: Some(at(9, 0)),
        };
        let events = TestFramework::<PricedSession>::with(())
            .given_no_previous_events()
            .when(PricedSessionCommand::PriceSession {
                session: facts,
                charger_id: ChargerId::derived("cp-1"),
                connector_id: 1,
                pricing: pricing(idle("0.30")),
                time_zone: "UTC".into(),
                priced_at: at(9, 41),
            })
            .inspect_result()
            .unwrap();
        // 20 kWh at 0.30 = 6.00; 40 min idle - 10 min grace = 30 min at 12/h = 6.00.
        let [PricedSessionEvent::SessionPriced { breakdown, .. }] = &events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(breakdown.total_excl_vat, dec!(12));
        // A re-rating of the energy price keeps the idle fee: it prices the same readings.
        let mut p = pricing(idle("0.20"));
        p.tariff_version = 2;
        let rerated = TestFramework::<PricedSession>::with(())
            .given(events)
            .when(PricedSessionCommand::Rerate {
                rerating_id: "r".into(),
                pricing: p,
                corrected_energy_wh: None,
                reason: "energy price".into(),
                rerated_at: at(12, 0),
            })
            .inspect_result()
            .unwrap();
        let [PricedSessionEvent::SessionRerated(r)] = &rerated[..] else {
            panic!("{rerated:?}");
        };
        assert_eq!(r.total_excl_vat, dec!(10), "4.00 energy + 6.00 idle");
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
            connector_id,
            pricing,
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
                connector_id,
                pricing,
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
