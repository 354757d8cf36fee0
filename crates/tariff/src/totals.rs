//! The OCPI 2.2.1 CDR totals of a priced session (`mod_cdrs`, CDR object): `total_cost` and the
//! cost per kind, each excl. and incl. VAT.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::arith::per;
use crate::breakdown::{PriceLine, PricedSession};
use crate::model::Dimension;

/// OCPI `Price`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PriceTotal {
    pub excl_vat: Decimal,
    pub incl_vat: Decimal,
}

impl PriceTotal {
    /// bounded: the amounts of a priced session's lines are not negative and the engine summed
    /// them checked into its subtotal, so no sum of some of them reaches `Decimal`'s edge.
    fn add(&mut self, excl: Decimal, incl: Decimal) {
        self.excl_vat = self.excl_vat.saturating_add(excl);
        self.incl_vat = self.incl_vat.saturating_add(incl);
    }

    fn normalize(self) -> Self {
        Self {
            excl_vat: self.excl_vat.normalize(),
            incl_vat: self.incl_vat.normalize(),
        }
    }
}

/// The totals a CDR carries, computed by Joule at full precision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OcpiTotals {
    /// What is payable, after `min_price` / `max_price` (and Joule's extras, if any).
    pub total_cost: PriceTotal,
    /// FLAT components, except those of reservation elements.
    pub total_fixed_cost: PriceTotal,
    pub total_energy_cost: PriceTotal,
    pub total_time_cost: PriceTotal,
    /// PARKING_TIME components.
    pub total_parking_cost: PriceTotal,
    pub total_reservation_cost: PriceTotal,
    /// kWh.
    pub total_energy: Decimal,
    /// Hours, charging and not charging.
    pub total_time: Decimal,
    /// Hours not charging, as billed before `step_size`.
    pub total_parking_time: Decimal,
}

impl OcpiTotals {
    pub fn of(session: &PricedSession) -> OcpiTotals {
        let mut fixed = PriceTotal::default();
        let mut energy = PriceTotal::default();
        let mut time = PriceTotal::default();
        let mut parking = PriceTotal::default();
        let mut reservation = PriceTotal::default();
        let mut parking_time = Decimal::ZERO;
        for l in &session.lines {
            let PriceLine {
                amount_excl_vat: e,
                amount_incl_vat: i,
                ..
            } = *l;
            let target = if l.reservation {
                &mut reservation
            } else {
                match l.dimension {
                    // OCPI excludes "fixed price components of parking" from total_fixed_cost, but
                    // no restriction can tie an element to parking, so a FLAT is always the
                    // session's fixed cost (as ocpi-tariffs counts it too).
                    Dimension::Flat => &mut fixed,
                    Dimension::Energy => &mut energy,
                    Dimension::Time => &mut time,
                    Dimension::ParkingTime => {
                        // bounded: the engine summed these volumes checked (its dimension totals).
                        parking_time = parking_time.saturating_add(l.consumed);
                        &mut parking
                    }
                }
            };
            target.add(e, i);
        }
        let ms = session
            .end
            .signed_duration_since(session.start)
            .num_milliseconds();
        let hours = per(Decimal::from(ms), Decimal::from(3_600_000));
        OcpiTotals {
            total_cost: PriceTotal {
                excl_vat: session.total_excl_vat,
                incl_vat: session.total_incl_vat,
            }
            .normalize(),
            total_fixed_cost: fixed.normalize(),
            total_energy_cost: energy.normalize(),
            total_time_cost: time.normalize(),
            total_parking_cost: parking.normalize(),
            total_reservation_cost: reservation.normalize(),
            total_energy: session.energy.kwh(),
            total_time: hours.normalize(),
            total_parking_time: parking_time.normalize(),
        }
    }
}
