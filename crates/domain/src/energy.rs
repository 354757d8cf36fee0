//! Energy with an explicit unit. Stored as watt-hours in a [`Decimal`]; never a float.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

const WH_PER_KWH: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// An amount of electrical energy.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Energy {
    wh: Decimal,
}

impl Energy {
    pub const ZERO: Energy = Energy { wh: Decimal::ZERO };

    pub fn from_wh(wh: Decimal) -> Self {
        Self { wh }
    }

    /// Saturates at the largest decimal (about 7.9 × 10^28 Wh): only a quote or a test asks
    /// for energy in kWh, and both are far inside [`crate::bounds`] before they get here.
    pub fn from_kwh(kwh: Decimal) -> Self {
        Self {
            wh: kwh.saturating_mul(WH_PER_KWH),
        }
    }

    pub fn wh(&self) -> Decimal {
        self.wh
    }

    pub fn kwh(&self) -> Decimal {
        // Dividing by 1000 only shrinks the value: it cannot overflow, at worst it rounds away
        // digits beyond the 28th.
        self.wh
            .checked_div(WH_PER_KWH)
            .unwrap_or(Decimal::ZERO)
            .normalize()
    }

    /// `self + rhs`, `None` beyond a decimal's range.
    pub fn checked_add(self, rhs: Energy) -> Option<Energy> {
        self.wh.checked_add(rhs.wh).map(Energy::from_wh)
    }

    /// `self - rhs`, `None` beyond a decimal's range (registers outside [`crate::bounds`]).
    pub fn checked_sub(self, rhs: Energy) -> Option<Energy> {
        self.wh.checked_sub(rhs.wh).map(Energy::from_wh)
    }

    /// Energy never negative: a meter that ran backwards delivered nothing billable.
    pub fn clamp_non_negative(self) -> Self {
        Self {
            wh: self.wh.max(Decimal::ZERO),
        }
    }
}

impl fmt::Display for Energy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kWh", self.kwh())
    }
}

/// When the car stopped drawing energy: the time of the first reading at `final_register`, when at
/// least one later reading confirms the register stayed there. `readings` are (time, register) in
/// time order; those after `until` (the stop, or the moment of an estimate) are ignored. `None` when
/// the energy rose until the last reading, so no idle time is ever billed without a reading that
/// shows it. sessions (`SessionCompleted.charging_ended_at`) and pricing (running estimates) share it,
/// so an estimate bills the idle time the final price will.
pub fn charging_ended_at(
    readings: impl IntoIterator<Item = (chrono::DateTime<chrono::Utc>, Energy)>,
    final_register: Energy,
    until: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let taken: Vec<_> = readings
        .into_iter()
        .filter(|(at, _)| *at <= until)
        .collect();
    let plateau = taken
        .iter()
        .rev()
        .take_while(|(_, register)| *register == final_register)
        .count();
    if plateau < 2 {
        return None;
    }
    let (first, _) = taken.get(taken.len().checked_sub(plateau)?)?;
    (*first < until).then_some(*first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn converts_between_wh_and_kwh_exactly() {
        assert_eq!(Energy::from_wh(dec!(12345)).kwh(), dec!(12.345));
        assert_eq!(Energy::from_kwh(dec!(0.001)).wh(), dec!(1.000));
        assert_eq!(
            Energy::from_wh(dec!(10))
                .checked_sub(Energy::from_wh(dec!(20)))
                .unwrap()
                .clamp_non_negative(),
            Energy::ZERO
        );
        let max = Energy::from_wh(Decimal::MAX);
        assert_eq!(max.checked_sub(Energy::from_wh(Decimal::MIN)), None);
        assert_eq!(max.checked_add(max), None);
        assert_eq!(Energy::from_kwh(Decimal::MAX).wh(), Decimal::MAX);
    }
}
