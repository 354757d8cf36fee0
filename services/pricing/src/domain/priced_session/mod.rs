//! The `PricedSession` aggregate, one per charging session (aggregate id = the session id): the
//! outcome of pricing it, either its price breakdown or why it could not be priced, and every later
//! change of that price.
//!
//! It settles once; a repeated command (a redelivered `SessionCompleted`) emits nothing. Re-rating
//! (after a tariff or meter correction) never edits the first price: it appends `SessionRerated`,
//! which carries the difference as lines (the previous lines reversed, the new ones added) and the
//! totals before and after. A re-rating run applies at most once per session.

mod commands;
mod events;
mod lines;
mod pricing;
#[cfg(test)]
mod tests;

use std::convert::Infallible;

use chrono::{DateTime, Utc};
use joule_domain::{ChargerId, Money, SessionId};
use joule_store::Decider;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use commands::{PricedSessionCommand, Pricing, SessionFacts};
pub use events::{
    Metering, PricedSessionEvent, Rerated, SESSION_RERATED_VERSION, Sample, UPCASTERS,
};
pub use lines::{WireLine, wire_lines};
pub use pricing::{RerateInput, price, rerate};

/// What a priced session remembers to be priced again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Current {
    pub session_id: SessionId,
    pub account_id: String,
    pub charger_id: ChargerId,
    pub token_uid: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub energy_wh: Decimal,
    pub time_zone: String,
    pub total_excl_vat: Money,
    pub total_incl_vat: Money,
    pub lines: Vec<WireLine>,
    pub metering: Metering,
}

impl Current {
    fn rerate_input(&self) -> RerateInput<'_> {
        RerateInput {
            session_id: self.session_id,
            account_id: &self.account_id,
            charger_id: self.charger_id,
            token_uid: &self.token_uid,
            started_at: self.started_at,
            stopped_at: self.stopped_at,
            energy_wh: self.energy_wh,
            time_zone: &self.time_zone,
            total_excl_vat: self.total_excl_vat,
            total_incl_vat: self.total_incl_vat,
            lines: &self.lines,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PricedSession {
    settled: bool,
    priced: Option<Current>,
    reratings: Vec<String>,
}

impl Decider for PricedSession {
    const TYPE: &'static str = "PricedSession";
    type Command = PricedSessionCommand;
    type Event = PricedSessionEvent;
    // Every outcome, failures included, is an event: nothing is ever refused.
    type Error = Infallible;

    fn decide(&self, command: PricedSessionCommand) -> Result<Vec<PricedSessionEvent>, Infallible> {
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
                    return Ok(vec![]);
                };
                if self.reratings.contains(&rerating_id) {
                    return Ok(vec![]);
                }
                match rerate(
                    &current.rerate_input(),
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
                    Ok(None) | Err(_) => return Ok(vec![]),
                }
            }
            _ if self.settled => return Ok(vec![]),
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
                    charger_id: session.charger_id.to_string(),
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
        Ok(vec![event])
    }

    fn evolve(&mut self, event: PricedSessionEvent) {
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
                    session_id,
                    account_id,
                    charger_id,
                    token_uid,
                    started_at,
                    stopped_at,
                    energy_wh,
                    time_zone: breakdown.time_zone.clone(),
                    total_excl_vat: Money::new(breakdown.total_excl_vat, breakdown.currency),
                    total_incl_vat: Money::new(breakdown.total_incl_vat, breakdown.currency),
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
